import { closeSync, mkdirSync, openSync, writeFileSync, ftruncateSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { idxBytes, npyBytes } from '../../../packages/data/test/helpers';
import { hostileCase, runCli, runScript, scratch, type ChildRun } from '../harness';

// Issue 19, bounded memory for the binary readers: IDX files (plain or gzip), .npy files and
// image-folder images. Each case runs the CLI (`leantune data pack`, which loads the config's
// dataset and nothing else) or the library in its own process, and must end with a clear
// message within 500 MB and 10 s. Big files are sparse (ftruncate), so they cost no disk.
// A case that would run away on broken code is killed at 20 s, so it fails instead.
const SUITE = 'binary-inputs';
const KILL_MS = 20_000;
const MB = 1024 * 1024;

/** An IDX header (uint8 elements) for `dims`. */
const idxHeader = (dims: number[]) => idxBytes(0x08, dims, new Uint8Array(0));

/** A .npy header (version 1) for `shape` of `descr`, with no data. */
const npyHeader = (descr: string, shape: number[]) => npyBytes(descr, shape, new Uint8Array(0));

/** Writes `head` at the start of `file`, then makes the file `size` bytes long (a sparse tail of zeros). */
function sparseFile(file: string, head: Buffer, size: number): void {
  const fd = openSync(file, 'w');
  try {
    writeSync(fd, head, 0, head.length, 0);
    ftruncateSync(fd, size);
  } finally {
    closeSync(fd);
  }
}

/** A PNG's first 33 bytes (signature, IHDR for width × height RGBA); no image data follows. */
function pngHead(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(25);
  ihdr.writeUInt32BE(13, 0);
  ihdr.write('IHDR', 4, 'latin1');
  ihdr.writeUInt32BE(width, 8);
  ihdr.writeUInt32BE(height, 12);
  ihdr[16] = 8; // bit depth
  ihdr[17] = 6; // RGBA
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), ihdr]);
}

/** A project folder whose config's data section is `data`; `leantune data pack` loads it. */
function project(prefix: string, data: Record<string, unknown>): string {
  const dir = scratch(prefix);
  writeFileSync(join(dir, 'leantune.json'), JSON.stringify({ name: prefix, plugins: ['datasets', 'data-compress'], model: 'none', data }));
  return dir;
}

const pack = (dir: string) => () => runCli(['data', 'pack', '-c', 'leantune.json', '-o', 'pack'], { cwd: dir, timeoutMs: KILL_MS });

/** Held = exit code not 0, not killed, and stderr says `pattern` (which names the file and why). */
const refused = (pattern: RegExp) => (r: ChildRun) => {
  if (r.signal) return `killed (${r.signal}) instead of refusing`;
  if (r.code === 0) return 'exit 0: the hostile input was accepted';
  if (!pattern.test(r.stderr)) return `stderr does not match ${pattern}`;
  return undefined;
};

/** A two-image labels file (plain IDX) next to the images. */
const labels = (dir: string, n: number) => writeFileSync(join(dir, 'labels.idx'), Buffer.concat([idxHeader([n]), Buffer.alloc(n)]));

describe('IDX files', () => {
  it('a gzip bomb (header declares 10×28×28, decompresses to 1.5 GB) stops at the declared size', async () => {
    const dir = project('idxbomb', { name: 'idx', images: 'images.idx.gz', labels: 'labels.idx' });
    labels(dir, 10);
    // Gzip members concatenate: the header's member, then 96 members of 16 MiB of zeros each (16 KB compressed).
    const zeros = gzipSync(Buffer.alloc(16 * MB), { level: 9 });
    writeFileSync(join(dir, 'images.idx.gz'), Buffer.concat([gzipSync(idxHeader([10, 28, 28])), ...Array.from({ length: 96 }, () => zeros)]));
    await hostileCase(SUITE, 'IDX gzip bomb (1.5 GB)', pack(dir), refused(/images\.idx\.gz declares dims \[10, 28, 28\] of uint8 = 7856 bytes, but decompresses to more: .*gzip bomb/));
  });

  it('a header declaring 1.5 GB (a plain file that size) is refused from the header, over the 1 GiB cap', async () => {
    const dir = project('idxhuge', { name: 'idx', images: 'images.idx', labels: 'labels.idx' });
    labels(dir, 1_900_000);
    sparseFile(join(dir, 'images.idx'), idxHeader([1_900_000, 28, 28]), 16 + 1_900_000 * 28 * 28);
    await hostileCase(SUITE, 'IDX header declaring 1.5 GB', pack(dir), refused(/images\.idx declares dims \[1900000, 28, 28\] of uint8 = 1489600016 bytes, over the cap of 1073741824 bytes.*"maxFileBytes"/s));
  });
});

describe('image folders', () => {
  /** root/a/ok.npy (a 2×2 image) and root/b/<name> = `make(file)`. */
  function folder(prefix: string, name: string, make: (file: string) => void, data: Record<string, unknown> = {}): string {
    const dir = project(prefix, { name: 'image-folder', path: 'images', ...data });
    for (const c of ['a', 'b']) mkdirSync(join(dir, 'images', c), { recursive: true });
    writeFileSync(join(dir, 'images', 'a', 'ok.npy'), Buffer.concat([npyHeader('|u1', [2, 2]), Buffer.from([0, 50, 100, 150])]));
    make(join(dir, 'images', 'b', name));
    return dir;
  }

  it('a .npy of 600 MB is refused by its size before it is read', async () => {
    const dir = folder('npybig', 'big.npy', (file) => {
      const head = npyHeader('|u1', [24_000, 25_000]);
      sparseFile(file, head, head.length + 24_000 * 25_000);
    });
    await hostileCase(SUITE, '.npy of 600 MB', pack(dir), refused(/b\/big\.npy is 600000128 bytes, over the cap of 16777216 bytes.*"maxRecordBytes"/s));
  });

  it('a .npy whose header says 2×2 but which holds 600 MB is dropped as corrupt after reading its header only (cap raised to 1 GiB)', async () => {
    const dir = folder(
      'npylie',
      'lie.npy',
      (file) => sparseFile(file, npyHeader('|u1', [2, 2]), 600 * MB),
      { maxRecordBytes: 1024 * MB },
    );
    await hostileCase(SUITE, '.npy header lies (2×2, 600 MB)', pack(dir), (r) => {
      if (r.signal || r.code !== 0) return `exit ${r.code} ${r.signal ?? ''}: the good image should still be packed`;
      // The console warning counts the drop by reason and row; data-reports.json keeps the message.
      if (!/dropped 1 of 2 rows of images: 1 corrupt-image \(row 1\)/.test(r.stderr)) return 'no warning of the corrupt image';
      if (!/"records":\{"records":1,/.test(r.stdout)) return `the pack should hold the good image only: ${r.stdout.slice(0, 300)}`;
      return undefined;
    });
  });

  /**
   * readImageFolder with a .png decoder that does what a PNG decoder does: allocates and fills
   * width × height × 4 bytes from the header (there is no PNG library in the tree).
   */
  const withPngDecoder = (root: string) => `
    const { collect, readImageFolder } = require('@leantune/data');
    const decode = (bytes) => {
      const width = bytes.readUInt32BE(16), height = bytes.readUInt32BE(20);
      return { data: new Uint8Array(width * height * 4).fill(128), shape: [height, width, 4] };
    };
    collect(readImageFolder(${JSON.stringify(root)}, { decoders: { '.png': decode } }))
      .then((c) => console.log(JSON.stringify({ records: c.records.length, skipped: c.skipped })))
      .catch((err) => { console.error(err.message); process.exit(1); });
  `;

  it('a 600 MB image file is refused by its size before it is read', async () => {
    const dir = folder('pngbig', 'big.png', (file) => sparseFile(file, pngHead(100, 100), 600 * MB));
    const root = join(dir, 'images');
    await hostileCase(SUITE, 'image file of 600 MB', () => runScript(withPngDecoder(root), { timeoutMs: KILL_MS }), refused(/b\/big\.png is 629145600 bytes, over the cap of 16777216 bytes.*"maxRecordBytes"/s));
  });

  it('a PNG whose header declares 15000×15000 is refused before the decoder runs', async () => {
    const dir = folder('pnghuge', 'huge.png', (file) => writeFileSync(file, Buffer.concat([pngHead(15_000, 15_000), Buffer.alloc(100)])));
    const root = join(dir, 'images');
    await hostileCase(SUITE, 'PNG header declaring 15000×15000', () => runScript(withPngDecoder(root), { timeoutMs: KILL_MS }), refused(/b\/huge\.png declares 15000×15000 = 225000000 pixels in its PNG header, over the cap of 40000000.*"maxImagePixels"/s));
  });
});
