/**
 * An independent reader of TensorBoard event files for the tests: its own bitwise CRC-32C
 * (not the plugin's table), its own TFRecord parser and a generic protobuf wire-format
 * decoder, so a bug in the writer cannot cancel out in the reader.
 */
import { readFileSync } from 'node:fs';

function crc32cBitwise(bytes: Uint8Array): number {
  let crc = ~0 >>> 0;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = (crc >>> 1) ^ (0x82f63b78 & -(crc & 1));
  }
  return ~crc >>> 0;
}

export function masked(bytes: Uint8Array): number {
  const c = crc32cBitwise(bytes);
  return (((c >>> 15) | (c << 17)) + 0xa282ead8) >>> 0;
}

/** The records of a TFRecord file; throws on a bad length or data CRC. */
export function readRecords(file: string): Buffer[] {
  const buf = readFileSync(file);
  const records: Buffer[] = [];
  let at = 0;
  while (at < buf.length) {
    const length = Number(buf.readBigUInt64LE(at));
    if (buf.readUInt32LE(at + 8) !== masked(buf.subarray(at, at + 8))) throw new Error(`bad length CRC at byte ${at}`);
    const data = buf.subarray(at + 12, at + 12 + length);
    if (buf.readUInt32LE(at + 12 + length) !== masked(data)) throw new Error(`bad data CRC at byte ${at}`);
    records.push(data);
    at += 12 + length + 4;
  }
  return records;
}

type Field = { field: number; wire: number; value: bigint | Buffer };

/** Protobuf wire format: every field with its raw value (varint as bigint, others as bytes). */
export function fields(buf: Buffer): Field[] {
  const out: Field[] = [];
  let at = 0;
  const varint = () => {
    let v = 0n;
    for (let shift = 0n; ; shift += 7n) {
      const b = buf[at++];
      v |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
  };
  while (at < buf.length) {
    const key = Number(varint());
    const wire = key & 7;
    const field = key >>> 3;
    if (wire === 0) out.push({ field, wire, value: varint() });
    else if (wire === 1 || wire === 5) {
      const n = wire === 1 ? 8 : 4;
      out.push({ field, wire, value: buf.subarray(at, at + n) });
      at += n;
    } else if (wire === 2) {
      const n = Number(varint());
      out.push({ field, wire, value: buf.subarray(at, at + n) });
      at += n;
    } else throw new Error(`unexpected wire type ${wire}`);
  }
  return out;
}

export interface ReadEvent {
  wallTime: number;
  step: number;
  fileVersion?: string;
  scalars: Record<string, number>;
}

export function decodeEvent(buf: Buffer): ReadEvent {
  const event: ReadEvent = { wallTime: NaN, step: 0, scalars: {} };
  for (const f of fields(buf)) {
    if (f.field === 1) event.wallTime = (f.value as Buffer).readDoubleLE(0);
    else if (f.field === 2) event.step = Number(f.value as bigint);
    else if (f.field === 3) event.fileVersion = (f.value as Buffer).toString('utf8');
    else if (f.field === 5) {
      for (const v of fields(f.value as Buffer).filter((x) => x.field === 1)) {
        const value = fields(v.value as Buffer);
        const tag = (value.find((x) => x.field === 1)!.value as Buffer).toString('utf8');
        event.scalars[tag] = (value.find((x) => x.field === 2)!.value as Buffer).readFloatLE(0);
      }
    } else throw new Error(`unexpected Event field ${f.field}`);
  }
  return event;
}

export const readEvents = (file: string): ReadEvent[] => readRecords(file).map(decodeEvent);
