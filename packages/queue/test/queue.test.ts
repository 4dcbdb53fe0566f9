import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compatibleVersion, materializeResultFiles, missingPlugins, packResultFiles, redactUrl, redisConnection, runOnQueue, runWorker, type QueuedRun } from '../src';
import { redisRequired, redisServerBin, startRedisServer } from './redis-server';

const fakeTrain = join(__dirname, '..', '..', 'report', 'test', 'fixtures', 'fake-train.js');
const tmp = (name: string) => mkdtempSync(join(tmpdir(), `lt-queue-${name}-`));

/** A project folder with a local plugin file at `version`. */
function projectWith(version: string | undefined): string {
  const dir = tmp('project');
  if (version) writeFileSync(join(dir, 'shift.js'), `module.exports = { meta: { name: 'acme-shift', version: '${version}', core: '^0.1.0' }, apply() {} };\n`);
  return dir;
}

describe('the Redis address', () => {
  it('passes the password, rediss:// and TLS files through, and keeps the password out of messages', () => {
    const dir = tmp('tls');
    writeFileSync(join(dir, 'ca.pem'), 'CA');
    expect(redisConnection('redis://:s3cret@queue-host:6380/2', {})).toMatchObject({ url: 'redis://:s3cret@queue-host:6380/2', maxRetriesPerRequest: null, enableOfflineQueue: true });
    expect(redisConnection('redis://queue-host:6379', {}).tls).toBeUndefined();
    expect(redisConnection('redis://queue-host:6379', { LEANTUNE_REDIS_PASSWORD: 'from-env' }).password).toBe('from-env');
    const tls = redisConnection('rediss://queue-host:6380', { LEANTUNE_REDIS_TLS_CA: join(dir, 'ca.pem'), LEANTUNE_REDIS_TLS_SERVERNAME: 'redis.internal' }).tls!;
    expect({ ca: String(tls.ca), servername: tls.servername }).toEqual({ ca: 'CA', servername: 'redis.internal' });
    expect(redisConnection('rediss://queue-host:6380', {}).tls).toEqual({});
    expect(redisConnection('redis://h:1', {}).retryStrategy(3)).toBe(600);
    expect(redisConnection('redis://h:1', {}).retryStrategy(50)).toBe(2000);
    expect(() => redisConnection('http://queue-host', {})).toThrow(/redis:\/\/ or rediss:\/\//);
    expect(() => redisConnection('rediss://h:1', { LEANTUNE_REDIS_TLS_CA: '/no/such/ca.pem' })).toThrow(/LEANTUNE_REDIS_TLS_CA=\/no\/such\/ca.pem/);
    expect(redactUrl('redis://user:s3cret@queue-host:6380/2')).toBe('redis://user:***@queue-host:6380/2');
  });
});

describe('plugins a job needs', () => {
  it('compatible: the same major (the same minor below 1.0), at least as new', () => {
    expect(compatibleVersion('1.2.0', '1.3.1')).toBe(true);
    expect(compatibleVersion('1.2.0', '1.1.9')).toBe(false);
    expect(compatibleVersion('1.2.0', '2.0.0')).toBe(false);
    expect(compatibleVersion('0.1.0', '0.1.4')).toBe(true);
    expect(compatibleVersion('0.1.0', '0.2.0')).toBe(false);
  });

  it('names what this machine lacks: a plugin not installed, or at an incompatible version', async () => {
    const config = { plugins: ['./shift.js'] };
    const need = [{ name: 'acme-shift', version: '1.2.0' }];
    expect(await missingPlugins(config, need, projectWith('1.4.0'))).toEqual([]);
    expect(await missingPlugins(config, need, projectWith('2.0.0'))).toEqual(['plugin acme-shift is 2.0.0 here, the job needs a version compatible with 1.2.0']);
    const none = await missingPlugins(config, need, projectWith(undefined));
    expect(none[0]).toMatch(/^plugin "\.\/shift\.js" is not installed here/);
  });
});

describe('result files', () => {
  function runFolder(bytes: number): string {
    const dir = join(tmp('run'), '20260101-000000-x-try1');
    mkdirSync(join(dir, 'adapters', 'lora'), { recursive: true });
    writeFileSync(join(dir, 'adapters', 'lora', 'adapter_model.safetensors'), Buffer.alloc(bytes, 7));
    writeFileSync(join(dir, 'adapters', 'lora', 'adapter_config.json'), '{"r":4}');
    writeFileSync(join(dir, 'metrics.jsonl'), 'not a result file\n');
    return dir;
  }

  it('travel inline up to the limit and come out the same on the coordinator', () => {
    const packed = packResultFiles(runFolder(100), { inlineLimit: 1000, queue: 'q', host: 'h' });
    expect(packed.files.map((f) => [f.path, f.bytes, f.base64 !== undefined])).toEqual([
      ['adapters/lora/adapter_config.json', 7, true],
      ['adapters/lora/adapter_model.safetensors', 100, true],
    ]);
    const { dir, missing } = materializeResultFiles(JSON.parse(JSON.stringify(packed)), tmp('coord'));
    expect(missing).toEqual([]);
    expect(readFileSync(join(dir, 'adapters', 'lora', 'adapter_model.safetensors'))).toEqual(Buffer.alloc(100, 7));
  });

  it('over the limit go to the --artifacts folder, or stay on the worker (named) without one', () => {
    const artifacts = tmp('artifacts');
    const packed = packResultFiles(runFolder(5000), { inlineLimit: 1000, artifactsDir: artifacts, queue: 'q', host: 'h' });
    expect(packed.files.every((f) => f.base64 === undefined && f.stored?.startsWith(join(artifacts, 'q', '20260101-000000-x-try1')))).toBe(true);
    const { dir, missing } = materializeResultFiles(packed, tmp('coord'));
    expect(missing).toEqual([]);
    expect(readFileSync(join(dir, 'adapters', 'lora', 'adapter_model.safetensors')).length).toBe(5000);
    const left = packResultFiles(runFolder(5000), { inlineLimit: 1000, queue: 'q', host: 'h' });
    expect(left.leftOn).toMatch(/^h:\//);
    expect(materializeResultFiles(left, tmp('coord')).missing).toHaveLength(2);
    expect(() => materializeResultFiles({ folder: 'x', files: [{ path: '../../etc/passwd', bytes: 1, sha256: '', base64: 'AA==' }] }, tmp('coord'))).toThrow(/outside its run folder/);
  });
});

(redisServerBin || redisRequired ? describe : describe.skip)('a worker without the plugins', () => {
  it('leaves the job, logging why, and a worker that has them runs it', async () => {
    const redis = await startRedisServer();
    const stop = new AbortController();
    const lines: string[] = [];
    const refusals: string[] = [];
    const worker = (dir: string, tag: string) =>
      runWorker({
        url: redis.url,
        dir,
        refuseDelayMs: 300,
        log: (l) => lines.push(`${tag}: ${l}`),
        signal: stop.signal,
        trainCommand: () => ({ command: process.execPath, args: [fakeTrain, join(dir, 'runs'), 'shift', '1'] }),
      });
    try {
      const without = worker(projectWith('2.0.0'), 'old');
      const run: QueuedRun = {
        runId: 1,
        data: { v: 1, experiment: 'p', runId: 1, arm: 'shift', method: 'shift', seed: 1, config: { plugins: ['./shift.js'] }, override: {}, name: 'shift', plugins: [{ name: 'acme-shift', version: '1.2.0' }] },
      };
      const completed: number[] = [];
      const coordinator = runOnQueue({
        url: redis.url,
        queue: 'plugins',
        runs: [run],
        log: () => undefined,
        events: { started: () => undefined, step: () => undefined, refused: (_id, p) => refusals.push(p.reason), completed: (id) => void completed.push(id), failed: () => undefined },
      });
      // Only the worker without the plugin exists until it has left the job (however long the
      // machine takes); then the worker that can run it joins, and the job waits for it.
      for (let waited = 0; refusals.length === 0; waited += 100) {
        if (waited > 30_000) throw new Error(`the worker without the plugin never left the job; its log: ${lines.join(' | ')}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const withIt = worker(projectWith('1.2.3'), 'new');
      await coordinator;
      expect(completed).toEqual([1]);
      stop.abort();
      await Promise.all([without, withIt]);
      expect(lines.filter((l) => l.includes('completed'))).toEqual([expect.stringMatching(/^new: .* run 1 \(shift seed 1\) completed/)]);
      expect(lines.some((l) => /^old: worker .* leaves plugins run 1 \(shift seed 1\): plugin acme-shift is 2\.0\.0 here, the job needs a version compatible with 1\.2\.0$/.test(l))).toBe(true);
      expect(refusals[0]).toMatch(/leaves plugins run 1 .*acme-shift is 2\.0\.0 here/);
    } finally {
      stop.abort();
      await redis.stop();
    }
  }, 60_000);
});
