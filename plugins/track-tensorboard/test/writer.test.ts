import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventFileWriter, crc32c, maskedCrc32c } from '../src';
import { masked, readEvents, readRecords } from './read-events';

describe('event file encoding', () => {
  it('CRC-32C gives the standard check value and TFRecord masking matches an independent implementation', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    for (const text of ['', 'a', 'brain.Event:2', 'x'.repeat(1000)]) expect(maskedCrc32c(Buffer.from(text))).toBe(masked(Buffer.from(text)));
  });

  it('writes file_version first, then scalar events that read back with their tags, steps and float32 values', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tb-'));
    let now = 1_700_000_000_000;
    const writer = new EventFileWriter(() => (now += 250));
    writer.scalars(1, { 'train/loss': 0.6931, 'train/lr': 0.05 });
    const file = writer.open(join(dir, 'logs'));
    writer.scalars(2, { 'train/loss': 0.5, 'eval/f1/ham': 0.875, skipped: NaN });
    writer.scalars(3, { only: Infinity });
    writer.scalars(2 ** 40, { big: 1 });
    writer.close();
    writer.scalars(5, { 'after/close': 3 });
    writer.close();
    expect(file).toMatch(new RegExp(`events\\.out\\.tfevents\\.\\d{10}\\.${hostname().replace(/\./g, '\\.')}$`));
    const events = readEvents(file);
    expect(events[0]).toMatchObject({ step: 0, fileVersion: 'brain.Event:2', scalars: {} });
    expect(events.slice(1).map((e) => [e.step, e.scalars])).toEqual([
      [1, { 'train/loss': Math.fround(0.6931), 'train/lr': Math.fround(0.05) }],
      [2, { 'train/loss': 0.5, 'eval/f1/ham': 0.875 }],
      [2 ** 40, { big: 1 }],
      [5, { 'after/close': 3 }],
    ]);
    expect(events.map((e) => e.wallTime)).toEqual([...events.map((e) => e.wallTime)].sort((a, b) => a - b));
    expect(events[1].wallTime).toBeCloseTo(1_700_000_000.5, 3);
  });

  it('a corrupted byte fails the reader CRC check, and a second writer in the same folder gets its own file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tb-'));
    const a = new EventFileWriter(() => 1_700_000_000_000);
    const b = new EventFileWriter(() => 1_700_000_000_000);
    const fa = a.open(dir);
    const fb = b.open(dir);
    a.scalars(1, { x: 1 });
    a.close();
    b.close();
    expect(fa).not.toBe(fb);
    expect(readdirSync(dir)).toHaveLength(2);
    expect(readRecords(fa)).toHaveLength(2);
    const bytes = readFileSync(fa);
    bytes[bytes.length - 6] ^= 0xff;
    writeFileSync(fa, bytes);
    expect(() => readRecords(fa)).toThrow(/bad data CRC/);
  });
});
