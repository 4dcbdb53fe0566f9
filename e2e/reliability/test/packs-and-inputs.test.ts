import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, openSync, readFileSync, symlinkSync, writeFileSync, ftruncateSync, createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { packDataset } from '@leantune/plugin-data-compress';
import { hostileCase, repo, runCli, runScript, scratch, type ChildRun } from '../harness';

// Issue 19, parts 1 and 2: a data pack's manifest is untrusted (paths stay in the pack folder,
// only regular files of their declared size are read, decompression stops at the declared
// size), and no single input (a huge JSONL line, a huge text, a huge safetensors header)
// takes unbounded memory or time. Each case runs the CLI or the library in its own process;
// every one must end with a clear message within 500 MB and 10 s. A case that would run away
// on broken code is killed at 20 s, so it fails instead of eating the machine.
const SUITE = 'packs-and-inputs';
const KILL_MS = 20_000;
const fixtures = join(repo, 'e2e', 'tests', 'test', 'fixtures');
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A small valid pack (gzip, 2 shards) in a fresh folder; returns the folder. */
async function smallPack(): Promise<string> {
  const root = scratch('pack');
  const dir = join(root, 'pack');
  const records = Array.from({ length: 6 }, (_, i) => ({ id: `r${i}`, text: `text ${i}`, label: i % 2 ? 'a' : 'b', meta: { source: 'unit', row: i } }));
  await packDataset({ name: 'unit', labels: ['a', 'b'], records, reports: [] }, dir, { compression: 'gzip', recordsPerShard: 3 });
  return dir;
}

/** Rewrites shard #0 of the pack's manifest with `entry` over what it has. */
function editShard(dir: string, entry: Record<string, unknown>): void {
  const file = join(dir, 'manifest.json');
  const m = JSON.parse(readFileSync(file, 'utf8'));
  m.shards[0] = { ...m.shards[0], ...entry };
  writeFileSync(file, JSON.stringify(m, null, 2));
}

/** The entry a shard file `bytes` would have if the manifest vouched for it. */
const vouchFor = (bytes: Buffer) => ({ sha256: sha256(bytes), bytes: bytes.length });

const unpack = (dir: string) => () => runCli(['data', 'unpack', dir], { cwd: join(dir, '..'), timeoutMs: KILL_MS });

/** Held = exit code not 0, not killed, and stderr says `pattern` (which names the shard and why). */
const refused = (pattern: RegExp) => (r: ChildRun) => {
  if (r.signal) return `killed (${r.signal}) instead of refusing`;
  if (r.code === 0) return 'exit 0: the hostile input was accepted';
  if (!pattern.test(r.stderr)) return `stderr does not match ${pattern}`;
  return undefined;
};

describe('data packs: the manifest is untrusted', () => {
  it('a shard path with ../ is refused without opening the file', async () => {
    const dir = await smallPack();
    const outside = join(dir, '..', 'secret.txt');
    writeFileSync(outside, 'not for the pack\n');
    editShard(dir, { file: '../secret.txt', ...vouchFor(readFileSync(outside)) });
    await hostileCase(SUITE, 'pack shard path ../', unpack(dir), refused(/shard #0 \.\.\/secret\.txt.*outside the pack folder/));
  });

  it('an absolute shard path is refused', async () => {
    const dir = await smallPack();
    editShard(dir, { file: '/etc/passwd', ...vouchFor(readFileSync('/etc/passwd')) });
    await hostileCase(SUITE, 'pack shard path absolute', unpack(dir), refused(/shard #0 \/etc\/passwd.*absolute path/));
  });

  it('a shard path that leads to /dev/zero is refused (no endless read)', async () => {
    const dir = await smallPack();
    // path.join would turn "/dev/zero" into <pack>/dev/zero; enough ../ reach the real one.
    const file = `${'../'.repeat(dir.split('/').length)}dev/zero`;
    editShard(dir, { file, bytes: 1000 });
    await hostileCase(SUITE, 'pack shard path to /dev/zero', unpack(dir), refused(/shard #0 (\.\.\/)+dev\/zero.*outside the pack folder/));
  });

  it('a shard that is a symlink to /dev/zero inside the folder is refused: not a regular file', async () => {
    const dir = await smallPack();
    symlinkSync('/dev/zero', join(dir, 'shards', 'zero.ltshard.gz'));
    editShard(dir, { file: 'shards/zero.ltshard.gz', bytes: 1000 });
    await hostileCase(SUITE, 'pack shard symlink to /dev/zero', unpack(dir), refused(/shard #0 shards\/zero\.ltshard\.gz.*(outside the pack folder|not a regular file)/));
  });

  it('a shard that is a named pipe inside the folder is refused without opening it (no wait for a writer)', async () => {
    const dir = await smallPack();
    execFileSync('mkfifo', [join(dir, 'shards', 'pipe.ltshard.gz')]);
    editShard(dir, { file: 'shards/pipe.ltshard.gz', bytes: 1000 });
    await hostileCase(SUITE, 'pack shard named pipe', unpack(dir), refused(/shard #0 shards\/pipe\.ltshard\.gz is not a regular file/));
  });

  it('a shard that is a symlink out of the pack folder is refused', async () => {
    const dir = await smallPack();
    const outside = join(dir, '..', 'elsewhere.gz');
    const bytes = gzipSync(Buffer.from('{"records":[]}\n'));
    writeFileSync(outside, bytes);
    symlinkSync(outside, join(dir, 'shards', 'link.ltshard.gz'));
    editShard(dir, { file: 'shards/link.ltshard.gz', ...vouchFor(bytes) });
    await hostileCase(SUITE, 'pack shard symlink out of the folder', unpack(dir), refused(/shard #0 shards\/link\.ltshard\.gz.*outside the pack folder/));
  });

  it('a gzip bomb whose sha256 matches stops at the declared size', async () => {
    const dir = await smallPack();
    // 100 gzip members of 64 MiB of zeros each: 6.7 GB decompressed from about 6 MB.
    const member = gzipSync(Buffer.alloc(64 << 20), { level: 9 });
    const bomb = Buffer.concat(Array.from({ length: 100 }, () => member));
    writeFileSync(join(dir, 'shards', 'bomb.ltshard.gz'), bomb);
    editShard(dir, { file: 'shards/bomb.ltshard.gz', ...vouchFor(bomb) });
    await hostileCase(SUITE, 'pack gzip bomb (hash matches)', unpack(dir), refused(/shard #0 shards\/bomb\.ltshard\.gz.*decompresses to more than the \d+ bytes the manifest declares/));
  });

  it('a shard larger than declared is refused before it is read', async () => {
    const dir = await smallPack();
    // A sparse 3 GB file: costs no disk, but reading it whole would cost 3 GB.
    const file = join(dir, 'shards', 'huge.ltshard.gz');
    const fd = openSync(file, 'w');
    ftruncateSync(fd, 3 * 1024 ** 3);
    closeSync(fd);
    editShard(dir, { file: 'shards/huge.ltshard.gz', bytes: 1000 });
    await hostileCase(SUITE, 'pack shard larger than declared', unpack(dir), refused(/shard #0 shards\/huge\.ltshard\.gz is 3221225472 bytes, the manifest declares 1000/));
  });

  it('a manifest without declared shard sizes says to re-pack', async () => {
    const dir = await smallPack();
    editShard(dir, { rawBytes: undefined });
    await hostileCase(SUITE, 'pack manifest without rawBytes', unpack(dir), refused(/shard #0 .*declares no "rawBytes".*re-pack/));
  });
});

/** A project folder with a train config over `data` (a JSONL file) and the tiny model. */
function trainProject(prefix: string, data: Record<string, unknown>): { dir: string; config: string } {
  const dir = scratch(prefix);
  const config = join(dir, 'leantune.json');
  writeFileSync(
    config,
    JSON.stringify({
      name: prefix,
      plugins: [{ name: join(fixtures, 'tiny-model.js'), allowOutside: true }, 'datasets', 'lora'],
      model: 'tiny-text',
      methods: { lora: { r: 2, lora_alpha: 4 } },
      data: { name: 'jsonl', path: 'data.jsonl', ...data },
      train: { epochs: 1, batchSize: 4, learningRate: 0.05 },
      runtime: { backend: 'cpu', seed: 7 },
      output: { dir: 'runs' },
    }),
  );
  return { dir, config };
}

/** data.jsonl in `dir`: 8 short records, then one whose text is `chars` long ('a b c …'), on line 9. */
async function jsonlWithHugeLine(dir: string, chars: number): Promise<void> {
  const out = createWriteStream(join(dir, 'data.jsonl'));
  for (let i = 0; i < 8; i++) out.write(JSON.stringify({ text: `short text ${i}`, label: i % 2 ? 'pos' : 'neg' }) + '\n');
  out.write('{"label":"pos","text":"');
  const block = 'lorem ipsum dolor sit amet '.repeat(40_000);
  for (let left = chars; left > 0; left -= block.length) {
    if (!out.write(block.slice(0, Math.min(left, block.length)))) await new Promise((r) => out.once('drain', r));
  }
  out.write('"}\n');
  await new Promise((r) => out.end(r));
}

describe('bounded memory on any input', () => {
  it('a JSONL line of 200 MB fails clearly, naming the file, the line and the option', async () => {
    const { dir, config } = trainProject('line200', {});
    await jsonlWithHugeLine(dir, 200 * 1024 * 1024);
    await hostileCase(SUITE, 'JSONL line of 200 MB (train)', () => runCli(['train', '-c', config, '--quiet'], { cwd: dir, timeoutMs: KILL_MS }), refused(/data\.jsonl line 9 is longer than 16777216 bytes.*maxRecordBytes/s));
  });

  it('a JSONL line of 20 MB is over the default 16 MiB record cap: fails clearly', async () => {
    const { dir, config } = trainProject('line20', {});
    await jsonlWithHugeLine(dir, 20 * 1024 * 1024);
    await hostileCase(SUITE, 'JSONL line of 20 MB (train, default cap)', () => runCli(['train', '-c', config, '--quiet'], { cwd: dir, timeoutMs: KILL_MS }), refused(/data\.jsonl line 9 is longer than 16777216 bytes.*maxRecordBytes/s));
  });

  it('a JSONL line of 20 MB with data.maxRecordBytes raised trains', async () => {
    const { dir, config } = trainProject('line20ok', { maxRecordBytes: 32 * 1024 * 1024 });
    await jsonlWithHugeLine(dir, 20 * 1024 * 1024);
    await hostileCase(
      SUITE,
      'JSONL line of 20 MB (train, maxRecordBytes 32 MiB)',
      () => runCli(['train', '-c', config, '--quiet'], { cwd: dir, timeoutMs: KILL_MS }),
      (r) => (r.code === 0 ? undefined : `exit ${r.code} ${r.signal ?? ''}: ${r.stderr.slice(-300)}`),
      { seconds: 20 },
    );
  });

  it('a 20 MB text through the use-lite tokenizer is cut to the model length before tokenising, counted once', async () => {
    const src = `
      const { loadUseLiteTokenizer, tokenizeBatch } = require('@leantune/plugin-use-lite');
      const { TruncationTally } = require('@leantune/core');
      const warnings = [];
      const log = { warn: (m) => warnings.push(m), info() {}, debug() {}, error() {} };
      const tally = new TruncationTally(log);
      const tok = loadUseLiteTokenizer();
      const text = 'lorem ipsum dolor sit amet '.repeat(Math.ceil(20e6 / 27));
      for (let batch = 0; batch < 3; batch++) {
        const records = [{ id: 'big', text, meta: { source: 'x', row: 1 } }, { id: 's' + batch, text: 'short ' + batch, meta: { source: 'x', row: 2 } }];
        const rows = tokenizeBatch(tok, records, 128, log, tally);
        if (rows[0].length !== 128) throw new Error('row 0 has ' + rows[0].length + ' ids');
      }
      const r = tally.report();
      console.log(JSON.stringify({ warnings: warnings.length, report: r, warning: warnings[0] }));
    `;
    const r = await hostileCase(SUITE, 'text of 20 MB (use-lite tokenizer)', () => runScript(src, { timeoutMs: KILL_MS }), (r) => {
      if (r.code !== 0) return `exit ${r.code} ${r.signal ?? ''}: ${r.stderr.slice(-300)}`;
      const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
      if (out.warnings !== 1) return `${out.warnings} warnings, expected 1`;
      if (out.report?.texts !== 1 || out.report?.of !== 4 || out.report?.cutBeforeTokenising !== 1) return `report ${JSON.stringify(out.report)}, expected 1 of 4 texts, cut before tokenising`;
      return undefined;
    });
    expect(r.stdout).toMatch(/longer than 4096 characters, cut to that before tokenising/);
  });

  it('a safetensors header of 95 MB is refused before it is parsed', async () => {
    const dir = scratch('st');
    const file = join(dir, 'hostile.safetensors');
    // One valid-looking entry per tensor, a million of them: 95 MB of JSON.
    const parts: string[] = [];
    let size = 2;
    for (let i = 0; size < 95e6; i++) {
      const p = `"t${i}":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}`;
      parts.push(p);
      size += p.length + 1;
    }
    const header = Buffer.from(`{${parts.join(',')}}`);
    const prefix = Buffer.alloc(8);
    prefix.writeBigUInt64LE(BigInt(header.length));
    writeFileSync(file, Buffer.concat([prefix, header]));
    const src = `
      const { readSafetensorsHeader } = require('@leantune/tensor');
      try { const h = readSafetensorsHeader(${JSON.stringify(file)}); console.log('parsed', h.tensors.size); }
      catch (e) { console.error(e.message); process.exit(1); }
    `;
    await hostileCase(SUITE, 'safetensors header of 95 MB', () => runScript(src, { timeoutMs: KILL_MS }), refused(/hostile\.safetensors: header length \d+ exceeds the \d+-byte cap/));
  });
});
