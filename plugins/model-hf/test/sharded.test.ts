/**
 * Sharded safetensors (model.safetensors.index.json): loaded shard by shard, bit-identical
 * to the same weights in one file; hostile or inconsistent indexes are refused, naming the shard.
 */
import fs from 'node:fs';
import path from 'node:path';
import { loadHfCheckpoint, writeTinyHfCheckpoint, type HfLoadedModel } from '../src';
import { record, recordingLogger, tempDir } from './helpers';

const TEXTS = ['hello world', 'Good films!'];

function outputs(m: HfLoadedModel): number[] {
  const batch = m.encode!(TEXTS.map((text, i) => record(`r${i}`, { text, label: 'pos' })));
  const y = m.arch === 'gpt2' ? m.loss!(batch, false) : m.predict!(batch);
  return Array.from(y.dataSync());
}

function parameters(m: HfLoadedModel): Record<string, number[]> {
  return Object.fromEntries([...m.module.stateDict()].map(([n, p]) => [n, Array.from(p.dataSync())]));
}

function sharded(arch: 'bert' | 'gpt2', label: string, maxShardBytes = 600): string {
  const dir = tempDir(label);
  writeTinyHfCheckpoint(arch, dir, { layers: 2, seed: 5, maxShardBytes });
  return dir;
}

describe.each(['bert', 'gpt2'] as const)('%s', (arch) => {
  test('the fixture writes transformers\' layout: shards, index with metadata.total_size and a weight_map covering every tensor, no model.safetensors', () => {
    const dir = sharded(arch, `${arch}-layout`);
    const files = fs.readdirSync(dir).filter((f) => f.includes('safetensors')).sort();
    expect(files).not.toContain('model.safetensors');
    const shards = files.filter((f) => f !== 'model.safetensors.index.json');
    expect(shards.length).toBeGreaterThan(2);
    shards.forEach((f, i) => expect(f).toBe(`model-${String(i + 1).padStart(5, '0')}-of-${String(shards.length).padStart(5, '0')}.safetensors`));
    const text = fs.readFileSync(path.join(dir, 'model.safetensors.index.json'), 'utf8');
    const index = JSON.parse(text);
    expect(Object.keys(index)).toEqual(['metadata', 'weight_map']);
    const names = Object.keys(index.weight_map);
    expect(names).toEqual([...names].sort());
    expect(new Set(Object.values(index.weight_map))).toEqual(new Set(shards));
    const single = tempDir(`${arch}-single`);
    const spec = writeTinyHfCheckpoint(arch, single, { layers: 2, seed: 5 });
    expect(names.sort()).toEqual(spec.tensors.map(([n]) => n).sort());
    expect(index.metadata.total_size).toBe(spec.tensors.reduce((n, [, shape]) => n + 4 * shape.reduce((a, b) => a * b, 1), 0));
    expect(text).toBe(`${JSON.stringify(index, null, 2)}\n`);
  });

  test('a sharded checkpoint gives bit-identical parameters and outputs to the unsharded one, reading one shard at a time', async () => {
    const single = tempDir(`${arch}-one`);
    writeTinyHfCheckpoint(arch, single, { layers: 2, seed: 5 });
    const dir = sharded(arch, `${arch}-sharded`);
    const a = await loadHfCheckpoint(single, { log: recordingLogger() });
    // Count shard files open at once while loading.
    const open = new Set<number>();
    let most = 0;
    const realOpen = fs.openSync;
    const realClose = fs.closeSync;
    const openSpy = jest.spyOn(fs, 'openSync').mockImplementation(((file: fs.PathLike, ...rest: unknown[]) => {
      const fd = (realOpen as (...a: unknown[]) => number)(file, ...rest);
      if (String(file).endsWith('.safetensors')) {
        open.add(fd);
        most = Math.max(most, open.size);
      }
      return fd;
    }) as typeof fs.openSync);
    const closeSpy = jest.spyOn(fs, 'closeSync').mockImplementation((fd: number) => {
      open.delete(fd);
      realClose(fd);
    });
    let b: HfLoadedModel;
    try {
      b = await loadHfCheckpoint(dir, { log: recordingLogger() });
    } finally {
      openSpy.mockRestore();
      closeSpy.mockRestore();
    }
    expect(most).toBe(1);
    expect(open.size).toBe(0);
    expect(b.freshParameters).toEqual(a.freshParameters);
    expect(parameters(b)).toEqual(parameters(a));
    expect(outputs(b)).toEqual(outputs(a));
  });
});

function editIndex(dir: string, edit: (map: Record<string, string>) => void): void {
  const file = path.join(dir, 'model.safetensors.index.json');
  const index = JSON.parse(fs.readFileSync(file, 'utf8'));
  edit(index.weight_map);
  fs.writeFileSync(file, JSON.stringify(index));
}

const KEY = 'bert.encoder.layer.0.attention.self.query.weight';

test('an index entry with .. is refused, naming the shard', async () => {
  const dir = sharded('bert', 'dotdot');
  const outside = path.join(path.dirname(dir), `${path.basename(dir)}-outside.safetensors`);
  fs.copyFileSync(path.join(dir, fs.readdirSync(dir).find((f) => /^model-00001/.test(f))!), outside);
  editIndex(dir, (m) => (m[KEY] = `../${path.basename(outside)}`));
  await expect(loadHfCheckpoint(dir, { log: recordingLogger() })).rejects.toThrow(`shard "../${path.basename(outside)}" (for tensor "${KEY}") leaves the folder`);
});

test('an absolute index entry is refused, naming the shard', async () => {
  const dir = sharded('bert', 'absolute');
  editIndex(dir, (m) => (m[KEY] = '/etc/passwd'));
  await expect(loadHfCheckpoint(dir, { log: recordingLogger() })).rejects.toThrow('shard "/etc/passwd" (for tensor "' + KEY + '") is an absolute path');
});

test('a shard that is a symlink out of the folder is refused, naming it', async () => {
  const dir = sharded('bert', 'symlink');
  const other = tempDir('symlink-target');
  const shard = fs.readdirSync(dir).find((f) => /^model-00001/.test(f))!;
  fs.renameSync(path.join(dir, shard), path.join(other, shard));
  fs.symlinkSync(path.join(other, shard), path.join(dir, shard));
  await expect(loadHfCheckpoint(dir, { log: recordingLogger() })).rejects.toThrow(new RegExp(`shard "${shard}" \\(for tensor "[^"]+"\\) leads out of the folder`));
});

test('a symlink to a shard inside the folder is fine', async () => {
  const dir = sharded('bert', 'symlink-in');
  const shard = fs.readdirSync(dir).find((f) => /^model-00001/.test(f))!;
  fs.mkdirSync(path.join(dir, 'blobs'));
  fs.renameSync(path.join(dir, shard), path.join(dir, 'blobs', shard));
  fs.symlinkSync(path.join(dir, 'blobs', shard), path.join(dir, shard));
  await expect(loadHfCheckpoint(dir, { log: recordingLogger() })).resolves.toBeDefined();
});

test('a Hugging Face cache snapshot (shards symlinked to ../../blobs) loads; a symlink to another repo\'s blobs does not', async () => {
  const cache = tempDir('hf-cache');
  const repo = path.join(cache, 'models--acme--tiny');
  const snapshot = path.join(repo, 'snapshots', 'abc123');
  writeTinyHfCheckpoint('bert', snapshot, { layers: 2, seed: 5, maxShardBytes: 600 });
  fs.mkdirSync(path.join(repo, 'blobs'));
  for (const f of fs.readdirSync(snapshot).filter((n) => n.endsWith('.safetensors'))) {
    fs.renameSync(path.join(snapshot, f), path.join(repo, 'blobs', `hash-${f}`));
    fs.symlinkSync(path.join('..', '..', 'blobs', `hash-${f}`), path.join(snapshot, f));
  }
  const single = tempDir('hf-cache-single');
  writeTinyHfCheckpoint('bert', single, { layers: 2, seed: 5 });
  const m = await loadHfCheckpoint(snapshot, { log: recordingLogger() });
  expect(outputs(m)).toEqual(outputs(await loadHfCheckpoint(single, { log: recordingLogger() })));

  const other = path.join(cache, 'models--evil--x', 'blobs');
  fs.mkdirSync(other, { recursive: true });
  const shard = fs.readdirSync(snapshot).find((f) => /^model-00001/.test(f))!;
  fs.copyFileSync(path.join(snapshot, shard), path.join(other, 'blob'));
  fs.rmSync(path.join(snapshot, shard));
  fs.symlinkSync(path.join(other, 'blob'), path.join(snapshot, shard));
  await expect(loadHfCheckpoint(snapshot, { log: recordingLogger() })).rejects.toThrow(`shard "${shard}"`);
});

test('a tensor listed in a shard that does not hold it is refused, naming tensor and shard', async () => {
  const dir = sharded('bert', 'misplaced');
  const index = JSON.parse(fs.readFileSync(path.join(dir, 'model.safetensors.index.json'), 'utf8'));
  const shards = [...new Set(Object.values(index.weight_map) as string[])].sort();
  const wrong = shards.find((s) => s !== index.weight_map[KEY])!;
  editIndex(dir, (m) => (m[KEY] = wrong));
  await expect(loadHfCheckpoint(dir, { log: recordingLogger() })).rejects.toThrow(`tensor "${KEY}" is listed in shard "${wrong}", but that shard does not hold it`);
});

test('a missing shard file is named', async () => {
  const dir = sharded('bert', 'noshard');
  const shard = fs.readdirSync(dir).find((f) => /^model-00002/.test(f))!;
  fs.rmSync(path.join(dir, shard));
  await expect(loadHfCheckpoint(dir, { log: recordingLogger() })).rejects.toThrow(`shard "${shard}"`);
  await expect(loadHfCheckpoint(dir, { log: recordingLogger() })).rejects.toThrow('is missing from');
});

test('a tensor the model needs but the index does not list names the index file', async () => {
  const dir = sharded('bert', 'unlisted');
  editIndex(dir, (m) => delete m[KEY]);
  await expect(loadHfCheckpoint(dir, { log: recordingLogger() })).rejects.toThrow(`${path.join(dir, 'model.safetensors.index.json')}: missing tensor "${KEY}"`);
});

test('exportMerged writes shards and an index past maxShardBytes, and the folder loads again with the same outputs', async () => {
  const { exportHubFolder } = await import('../src/points');
  const src = tempDir('export-src');
  writeTinyHfCheckpoint('bert', src, { layers: 2, seed: 5 });
  const m = await loadHfCheckpoint(src, { log: recordingLogger() });
  const out = tempDir('export-out');
  const files = exportHubFolder(m.module, src, out, m.labels, 800);
  expect(files).toContain('model.safetensors.index.json');
  expect(files).not.toContain('model.safetensors');
  const again = await loadHfCheckpoint(out, { log: recordingLogger() });
  expect(outputs(again)).toEqual(outputs(m));
});
