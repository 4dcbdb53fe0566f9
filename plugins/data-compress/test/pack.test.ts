import { createHash } from 'node:crypto';
import { existsSync, promises as fs, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { DataRecord, Dataset } from '@leantune/core';
import { tempDir } from '@leantune/testing';
import plugin, { fromHalfBits, packDataset, PackIntegrityError, readManifest, toHalfBits, unpackDataset, verifyPack } from '@leantune/plugin-data-compress';

function dataset(): Dataset {
  const records: DataRecord[] = [];
  for (let i = 0; i < 7; i++) {
    records.push({
      id: `r${i}`,
      text: i % 3 === 0 ? `email ${i} ünïcode` : undefined,
      label: i % 2 ? 'spam' : 'ham',
      image: { data: Float32Array.from([i / 10, 0.25, 1 - i / 7, 0.5]), shape: [2, 2, 1] },
      meta: { source: 'unit', row: i, note: i === 2 ? 'x' : undefined },
    } as DataRecord);
  }
  records.push({ id: 'u8', label: 'ham', image: { data: Uint8Array.from([0, 1, 254, 255]), shape: [2, 2, 1] }, meta: { source: 'unit', row: 7 } });
  for (const r of records) if (r.text === undefined) delete r.text;
  for (const r of records) if (r.meta.note === undefined) delete r.meta.note;
  const onlyInTrain: DataRecord = { id: 'replay-1', text: 'old', label: 'ham', meta: { source: 'buffer', row: 0 } };
  return {
    name: 'unit',
    labels: ['ham', 'spam'],
    records,
    splits: { train: [...records.slice(0, 5), onlyInTrain], validation: records.slice(5) },
    reports: [{ stage: 'load', plugin: 'test', in: 9, out: 8, changed: 0, dropped: 1, dropReasons: { 'bad-row': 1 } }],
  };
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('packDataset / unpackDataset', () => {
  it.each(['gzip', 'brotli', 'none'] as const)('%s round trip restores records, splits, labels and reports exactly', async (compression) => {
    const ds = dataset();
    const before = JSON.stringify(ds, (_k, v) => (ArrayBuffer.isView(v) ? Array.from(v as Float32Array) : v));
    const dir = tempDir('pack');
    const { manifest } = await packDataset(ds, dir, { compression, recordsPerShard: 3 });
    expect(JSON.stringify(ds, (_k, v) => (ArrayBuffer.isView(v) ? Array.from(v as Float32Array) : v))).toBe(before); // input untouched
    expect(manifest.shards.map((s) => s.records)).toEqual([3, 3, 3]); // 8 records + 1 split-only
    expect(manifest.counts).toEqual({ records: 8, lines: 9, labels: { ham: 5, spam: 3 }, splits: { train: 6, validation: 3 } });
    expect(manifest.schema.image).toEqual({ shape: [2, 2, 1], dtype: 'Float32Array|Uint8Array' });
    expect(manifest.schema.fields.text).toEqual({ type: 'string', present: 4 });
    for (const s of manifest.shards) {
      const bytes = await fs.readFile(join(dir, s.file));
      expect(sha(bytes)).toBe(s.sha256);
      expect(s.file).toBe(`shards/${s.sha256}${{ gzip: '.ltshard.gz', brotli: '.ltshard.br', none: '.ltshard' }[compression]}`);
    }
    const back = await unpackDataset(dir);
    expect(back.records).toEqual(ds.records);
    expect(back.records[7].image).toEqual({ data: Uint8Array.from([0, 1, 254, 255]), shape: [2, 2, 1] });
    expect(back.splits!.train.map((r) => r.id)).toEqual(['r0', 'r1', 'r2', 'r3', 'r4', 'replay-1']);
    expect(back.splits!.validation.map((r) => r.id)).toEqual(['r5', 'r6', 'u8']);
    expect(back.labels).toEqual(['ham', 'spam']);
    expect(back.reports[0]).toEqual(ds.reports[0]);
    expect(back.reports[1]).toMatchObject({ stage: 'unpack', in: 9, out: 9, dropped: 0 });
    expect(readdirSync(join(dir, 'shards')).filter((f) => f.includes('.tmp-'))).toEqual([]);
    const card = await fs.readFile(join(dir, 'README.md'), 'utf8');
    expect(card).toContain('| spam | 3 |');
    expect(card).toContain('| load | test | 9 | 8 | 1 | bad-row 1 |');
  });

  it('is content addressed: the same data gives the same shard names', async () => {
    const a = await packDataset(dataset(), tempDir('pack'), { compression: 'gzip', recordsPerShard: 4 });
    const b = await packDataset(dataset(), tempDir('pack'), { compression: 'gzip', recordsPerShard: 4 });
    expect(b.manifest.shards).toEqual(a.manifest.shards);
  });

  it('fp16 and uint8 quantise float arrays only, and record the error', async () => {
    const dir = tempDir('pack');
    const { manifest } = await packDataset(dataset(), dir, { quantize: 'fp16' });
    const back = await unpackDataset(dir);
    const img = back.records[1].image as { data: Float32Array };
    expect(Array.from(img.data)).toEqual([0.1, 0.25, 1 - 1 / 7, 0.5].map((v) => fromHalfBits(toHalfBits(v))));
    expect((back.records[7].image as { data: Uint8Array }).data).toEqual(Uint8Array.from([0, 1, 254, 255]));
    expect(manifest.quantization.arrays).toBe(8);
    expect(manifest.quantization.maxAbsError).toBeGreaterThan(0);
    expect(manifest.quantization.maxAbsError).toBeLessThan(2 ** -11);
    const u8 = await packDataset(dataset(), tempDir('pack'), { quantize: 'uint8' });
    expect(u8.manifest.quantization.maxAbsError).toBeLessThanOrEqual(1 / 510 + 1e-7);
  });
});

describe('integrity and bad input', () => {
  async function packed(): Promise<{ dir: string; files: string[] }> {
    const dir = tempDir('pack');
    const { manifest } = await packDataset(dataset(), dir, { recordsPerShard: 3 });
    return { dir, files: manifest.shards.map((s) => s.file) };
  }

  it('a flipped byte names the corrupt shard', async () => {
    const { dir, files } = await packed();
    const bytes = await fs.readFile(join(dir, files[1]));
    bytes[bytes.length >> 1] ^= 0xff;
    await fs.writeFile(join(dir, files[1]), bytes);
    const err = await unpackDataset(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PackIntegrityError);
    expect((err as PackIntegrityError).shard).toBe(files[1]);
    expect((err as Error).message).toMatch(new RegExp(`shard #1 ${files[1]} is corrupt: sha256`));
  });

  it('a truncated or missing shard is named; verifyPack lists every problem', async () => {
    const { dir, files } = await packed();
    const bytes = await fs.readFile(join(dir, files[0]));
    await fs.writeFile(join(dir, files[0]), bytes.subarray(0, 10));
    await fs.rm(join(dir, files[2]));
    await expect(unpackDataset(dir)).rejects.toThrow(`shard #0 ${files[0]} is truncated: 10 of ${bytes.length} bytes`);
    const report = await verifyPack(dir);
    expect(report.ok).toBe(false);
    expect(report.records).toBe(3);
    expect(report.problems).toHaveLength(2);
    expect(report.problems[1]).toContain(`shard #2 ${files[2]} is missing (ENOENT)`);
  });

  it('the manifest is untrusted: paths out of the folder, declared sizes and a decompression bomb', async () => {
    const { dir, files } = await packed();
    const manifestFile = join(dir, 'manifest.json');
    const original = await fs.readFile(manifestFile, 'utf8');
    const withShard0 = async (entry: Record<string, unknown>) => {
      const m = JSON.parse(original);
      m.shards[0] = { ...m.shards[0], ...entry };
      await fs.writeFile(manifestFile, JSON.stringify(m));
    };
    await withShard0({ file: '../x' });
    await expect(unpackDataset(dir)).rejects.toThrow(/shard #0 \.\.\/x is outside the pack folder/);
    await withShard0({ file: '/etc/hostname' });
    await expect(unpackDataset(dir)).rejects.toThrow(/shard #0 \/etc\/hostname is an absolute path/);
    await withShard0({ rawBytes: undefined });
    await expect(verifyPack(dir)).rejects.toThrow(/declares no "rawBytes" .*re-pack it with "leantune data pack"/);
    // A gzip member of 1 MiB of zeros, vouched for by hash and size, declared as 100 bytes raw.
    const bomb = gzipSync(Buffer.alloc(1 << 20));
    await fs.writeFile(join(dir, 'shards', 'bomb.gz'), bomb);
    await withShard0({ file: 'shards/bomb.gz', sha256: sha(bomb), bytes: bomb.length, rawBytes: 100 });
    await expect(unpackDataset(dir)).rejects.toThrow('shard #0 shards/bomb.gz decompresses to more than the 100 bytes the manifest declares');
    // A shard that decompresses to fewer bytes than declared is refused too.
    const bytes0 = await fs.readFile(join(dir, files[0]));
    await withShard0({ rawBytes: gunzipSync(bytes0).length + 1 });
    await expect(unpackDataset(dir)).rejects.toThrow(/shard #0 .* decompresses to \d+ bytes, the manifest declares \d+/);
    await fs.writeFile(manifestFile, original);
    expect((await unpackDataset(dir)).records).toHaveLength(8);
  });

  it('a damaged manifest or a non-pack folder fails clearly', async () => {
    const { dir } = await packed();
    await fs.writeFile(join(dir, 'manifest.json'), '{"format": "leantune-pack", ');
    await expect(unpackDataset(dir)).rejects.toThrow(/manifest.json is not valid JSON/);
    await expect(readManifest(tempDir('empty'))).rejects.toThrow(/manifest.json cannot be read \(ENOENT\); is .* a pack folder/);
  });

  it('rejects bad options and refuses to overwrite unless asked; overwrite drops stale shards', async () => {
    const ds = dataset();
    const dir = tempDir('pack');
    await expect(packDataset(ds, dir, { compression: 'zip' as never })).rejects.toThrow('compression must be one of "gzip", "brotli", "none" (got "zip")');
    await expect(packDataset(ds, dir, { quantize: 'int4' as never })).rejects.toThrow('quantize must be one of "none", "fp16", "uint8"');
    await expect(packDataset(ds, dir, { level: 12 })).rejects.toThrow('level for gzip must be an integer in [0, 9] (got 12)');
    await expect(packDataset(ds, dir, { recordsPerShard: 0 })).rejects.toThrow('recordsPerShard must be a positive integer (got 0)');
    await expect(packDataset({ ...ds, records: [ds.records[0], ds.records[0]] }, dir)).rejects.toThrow('record id "r0" appears twice');
    await packDataset(ds, dir, { recordsPerShard: 3 });
    await expect(packDataset(ds, dir)).rejects.toThrow(/manifest.json already exists; choose an empty folder or pass overwrite: true/);
    const { manifest } = await packDataset(ds, dir, { overwrite: true, recordsPerShard: 100 });
    expect(readdirSync(join(dir, 'shards'))).toEqual([manifest.shards[0].file.slice('shards/'.length)]);
    expect(existsSync(join(dir, 'README.md'))).toBe(true);
  });

  it('the plugin registers a "pack" dataset loader that resolves paths from the config folder', async () => {
    const { dir } = await packed();
    const loaders: Array<{ test(s: { name: string }): boolean; load(s: object, c: object): Promise<Dataset> }> = [];
    // apply also registers the plugin's commands (`leantune data pack`, `data unpack`).
    const commands: string[] = [];
    plugin.apply({ datasets: { register: (l: never) => loaders.push(l) }, commands: { register: (c: { name: string }) => commands.push(c.name) } } as never);
    expect(commands).toEqual(['data pack', 'data unpack']);
    expect(loaders[0].test({ name: 'pack' })).toBe(true);
    const ds = await loaders[0].load({ name: 'pack', path: '.' }, { configDir: dir });
    expect(ds.records).toHaveLength(8);
    await expect(loaders[0].load({ name: 'pack' }, { configDir: dir })).rejects.toThrow('needs a "path" option');
  });
});
