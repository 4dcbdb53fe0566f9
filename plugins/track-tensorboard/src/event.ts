/**
 * Hand-encoded protobuf for the few messages an event file needs (tensorflow/core/util/event.proto,
 * tensorflow/core/framework/summary.proto):
 * Event { double wall_time = 1; int64 step = 2; oneof what { string file_version = 3; Summary summary = 5; } }
 * Summary { repeated Value value = 1; }  Value { string tag = 1; float simple_value = 2; }
 */
import { maskedCrc32c } from './crc32c';

/** The first record of every event file. */
export const FILE_VERSION = 'brain.Event:2';

export interface TBEvent {
  /** Seconds since the epoch. */
  wallTime: number;
  step: number;
  fileVersion?: string;
  scalars?: Readonly<Record<string, number>>;
}

class ProtoWriter {
  private readonly parts: Uint8Array[] = [];

  varint(value: number | bigint): this {
    let v = BigInt.asUintN(64, BigInt(value));
    const bytes: number[] = [];
    do {
      let byte = Number(v & 0x7fn);
      v >>= 7n;
      if (v) byte |= 0x80;
      bytes.push(byte);
    } while (v);
    this.parts.push(Uint8Array.from(bytes));
    return this;
  }

  /** Field key: field number and wire type (0 varint, 1 64-bit, 2 length-delimited, 5 32-bit). */
  key(field: number, wireType: 0 | 1 | 2 | 5): this {
    return this.varint((field << 3) | wireType);
  }

  double(field: number, value: number): this {
    const b = Buffer.alloc(8);
    b.writeDoubleLE(value);
    this.key(field, 1).parts.push(b);
    return this;
  }

  float(field: number, value: number): this {
    const b = Buffer.alloc(4);
    b.writeFloatLE(value);
    this.key(field, 5).parts.push(b);
    return this;
  }

  bytes(field: number, value: Uint8Array | string): this {
    const b = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    this.key(field, 2).varint(b.length).parts.push(b);
    return this;
  }

  finish(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** One Event message, serialized. */
export function encodeEvent(event: TBEvent): Buffer {
  const w = new ProtoWriter().double(1, event.wallTime).key(2, 0).varint(Math.trunc(event.step));
  if (event.fileVersion !== undefined) w.bytes(3, event.fileVersion);
  if (event.scalars) {
    const summary = new ProtoWriter();
    for (const [tag, value] of Object.entries(event.scalars)) summary.bytes(1, new ProtoWriter().bytes(1, tag).float(2, value).finish());
    w.bytes(5, summary.finish());
  }
  return w.finish();
}

/** TFRecord framing: uint64 length, masked CRC-32C of the length, the data, masked CRC-32C of the data (all little-endian). */
export function tfRecord(data: Uint8Array): Buffer {
  const header = Buffer.alloc(12);
  header.writeBigUInt64LE(BigInt(data.length), 0);
  header.writeUInt32LE(maskedCrc32c(header.subarray(0, 8)), 8);
  const footer = Buffer.alloc(4);
  footer.writeUInt32LE(maskedCrc32c(data), 0);
  return Buffer.concat([header, data, footer]);
}
