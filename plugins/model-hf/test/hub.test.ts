import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pullFromHub } from '../src';
import { tempDir } from './helpers';

/** Whether huggingface.co resolves from here (asked in a child process, so tests can be declared by it). */
function hubResolves(): boolean {
  const probe = "require('node:dns').lookup('huggingface.co', (e) => process.exit(e ? 1 : 0))";
  return spawnSync(process.execPath, ['-e', probe], { timeout: 5000 }).status === 0;
}

/** What an offline request looks like: fetch rejects with a DNS failure as its cause. */
const offlineFetch = (async () => {
  throw new TypeError('fetch failed', { cause: Object.assign(new Error('getaddrinfo ENOTFOUND huggingface.co'), { code: 'ENOTFOUND' }) });
}) as typeof fetch;

test('offline, pullFromHub fails with the manual download steps and the target folder', async () => {
  const dir = tempDir('pull');
  const error = await pullFromHub('bert-base-uncased', dir, { fetch: offlineFetch }).then(
    () => undefined,
    (e: Error) => e,
  );
  expect(error?.message).toMatch(/^Could not download config\.json from the Hugging Face Hub \(fetch failed, ENOTFOUND\)/);
  expect(error?.message).toContain('https://huggingface.co/bert-base-uncased/tree/main');
  expect(error?.message).toContain(`put them in ${path.resolve(dir)}/`);
  expect(fs.readdirSync(dir)).toEqual([]);
});

// The same through the real network, where it is closed (as on CI): the request fails in
// DNS, fast. Where huggingface.co resolves, there is no offline failure to observe, and the
// report says so. The timeout keeps the test short on a machine where it would hang.
const online = hubResolves();
(online ? test.skip : test)(`offline through the real network, the same message, fast${online ? ' (skipped: huggingface.co resolves here, so the network is not closed)' : ''}`, async () => {
  const dir = tempDir('pull-net');
  const started = Date.now();
  const error = await pullFromHub('bert-base-uncased', dir).then(
    () => undefined,
    (e: Error) => e,
  );
  expect(error?.message).toMatch(/^Could not download config\.json from the Hugging Face Hub/);
  expect(error?.message).toContain(`put them in ${path.resolve(dir)}/`);
  expect(fs.readdirSync(dir)).toEqual([]);
  expect(Date.now() - started).toBeLessThan(8000);
}, 10000);

test('files come from the Hub API by name, and a 404 for a required file says which', async () => {
  const dir = tempDir('pull-fake');
  const served: Record<string, string> = { 'config.json': '{"model_type":"bert"}', 'tokenizer.json': '{}' };
  const requested: string[] = [];
  // Just enough of the Hub's resolve endpoint: a ranged probe (size + ETag), then the body;
  // a missing file is a 404 with X-Error-Code EntryNotFound.
  const fakeFetch = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = String(input instanceof Request ? input.url : input);
    const file = decodeURIComponent(url.split('/resolve/main/')[1] ?? '');
    const probe = Boolean((init?.headers as Record<string, string> | undefined)?.Range);
    if (probe) requested.push(file);
    if (!(file in served)) return new Response('not found', { status: 404, headers: { 'X-Error-Code': 'EntryNotFound' } });
    const body = served[file];
    if (probe) return new Response(body.slice(0, 1), { status: 206, headers: { 'Content-Range': `bytes 0-0/${body.length}`, ETag: '"e"' } });
    return new Response(body, { status: 200, headers: { 'Content-Length': String(body.length), ETag: '"e"' } });
  }) as typeof fetch;
  await expect(pullFromHub('acme/tiny', dir, { fetch: fakeFetch })).rejects.toThrow(/acme\/tiny has neither model\.safetensors nor model\.safetensors\.index\.json on the Hub; leantune reads safetensors only\. If it has pytorch_model\.bin .*download it and convert once: python -c "from transformers import AutoModel/);
  expect(requested).toEqual(['config.json', 'model.safetensors', 'model.safetensors.index.json']);
  requested.length = 0;
  expect(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')).toBe(served['config.json']);

  served['model.safetensors'] = 'weights';
  const result = await pullFromHub('acme/tiny', dir, { fetch: fakeFetch });
  expect(result.files.map((f) => path.basename(f))).toEqual(['config.json', 'model.safetensors', 'tokenizer.json']);
  expect(requested).toEqual(['config.json', 'model.safetensors', 'tokenizer.json', 'preprocessor_config.json', 'tokenizer_config.json']);
  expect(fs.readFileSync(path.join(dir, 'model.safetensors'), 'utf8')).toBe('weights');

  // Sharded: the index, then every shard it lists (one at a time, streamed to disk).
  const sharded = tempDir('pull-sharded');
  delete served['model.safetensors'];
  delete served['tokenizer.json'];
  served['model.safetensors.index.json'] = JSON.stringify({ metadata: { total_size: 12 }, weight_map: { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors', c: 'model-00001-of-00002.safetensors' } });
  served['model-00001-of-00002.safetensors'] = 'shard one';
  served['model-00002-of-00002.safetensors'] = 'shard two';
  requested.length = 0;
  const pulled = await pullFromHub('acme/tiny', sharded, { fetch: fakeFetch });
  expect(pulled.files.map((f) => path.basename(f))).toEqual(['config.json', 'model.safetensors.index.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
  expect(fs.readFileSync(path.join(sharded, 'model-00002-of-00002.safetensors'), 'utf8')).toBe('shard two');
  expect(fs.readdirSync(sharded).filter((f) => f.endsWith('.part'))).toEqual([]);

  // A hostile index cannot make the pull write outside the folder.
  served['model.safetensors.index.json'] = JSON.stringify({ weight_map: { a: '../../evil.safetensors' } });
  await expect(pullFromHub('acme/tiny', tempDir('pull-evil'), { fetch: fakeFetch })).rejects.toThrow('lists shard "../../evil.safetensors"; only plain .safetensors file names');
});

test('a malformed repo id is rejected before any request', async () => {
  await expect(pullFromHub('not a repo', tempDir('pull-bad'))).rejects.toThrow(/"not a repo" is not a Hub repository id/);
});
