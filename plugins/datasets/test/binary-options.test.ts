import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createToolkit, type Dataset } from '@leantune/core';
import datasetsPlugin from '@leantune/plugin-datasets';
import { idxBytes, npyBytes } from '../../../packages/data/test/helpers';

// The data section's caps for binary inputs (issue 19) reach the readers: maxFileBytes (IDX),
// maxRecordBytes (image folders). (maxImagePixels is a readImageFolder option for callers that
// pass decoders; this loader passes none, so PNG/JPEG files are never decoded here.)
const quiet = { info: () => {}, warn: () => {} };
const dir = mkdtempSync(join(tmpdir(), 'leantune-datasets-caps-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

beforeAll(() => {
  writeFileSync(join(dir, 'img'), idxBytes(0x08, [2, 1, 2], Uint8Array.from([1, 2, 3, 4])));
  writeFileSync(join(dir, 'lab'), idxBytes(0x08, [2], Uint8Array.from([4, 2])));
  mkdirSync(join(dir, 'pics', 'a'), { recursive: true });
  writeFileSync(join(dir, 'pics', 'a', 'x.npy'), npyBytes('|u1', [10, 10], new Uint8Array(100)));
});

async function load(data: Record<string, unknown>): Promise<Dataset> {
  const tk = await createToolkit({ plugins: [[datasetsPlugin, { baseDir: dir }]], log: quiet });
  return tk.createRun({ model: 'unused', data, runtime: { seed: 5 } }).loadData();
}

describe('caps on binary inputs from the data section', () => {
  it('maxFileBytes caps an IDX file', async () => {
    expect((await load({ name: 'idx', images: 'img', labels: 'lab' })).records).toHaveLength(2);
    await expect(load({ name: 'idx', images: 'img', labels: 'lab', maxFileBytes: 15 })).rejects.toThrow(/img declares dims \[2, 1, 2\] of uint8 = 20 bytes, over the cap of 15 bytes.*"maxFileBytes"/);
  });

  it('maxRecordBytes caps an image file', async () => {
    expect((await load({ name: 'image-folder', path: 'pics', maxRecordBytes: 228 })).records).toHaveLength(1);
    await expect(load({ name: 'image-folder', path: 'pics', maxRecordBytes: 227 })).rejects.toThrow(/x\.npy is 228 bytes, over the cap of 227 bytes.*"maxRecordBytes"/);
  });
});
