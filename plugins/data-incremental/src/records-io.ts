import { promises as fs } from 'node:fs';
import type { DataRecord } from '@leantune/core';
import { ReservoirBuffer } from './reservoir';

export const BUFFER_FORMAT = 'leantune-replay-buffer';

const TYPED: Record<string, new (b: ArrayBuffer) => ArrayLike<number>> = { Float32Array, Float64Array, Uint8Array, Int32Array };

/** Typed arrays (image pixels, features) as { $typed, b64 }, so a JSON line keeps them exact. */
function encode(_key: string, value: unknown): unknown {
  if (ArrayBuffer.isView(value) && !(value instanceof DataView) && TYPED[value.constructor.name]) {
    return { $typed: value.constructor.name, b64: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64') };
  }
  return value;
}

function decode(_key: string, value: unknown): unknown {
  if (value && typeof value === 'object' && '$typed' in value && 'b64' in value) {
    const { $typed, b64 } = value as { $typed: string; b64: string };
    const bytes = Buffer.from(b64, 'base64');
    const copy = new Uint8Array(bytes.length);
    copy.set(bytes);
    return new TYPED[$typed](copy.buffer);
  }
  return value;
}

/** Writes the buffer (header line, then one record per line) through a temp file and a rename. */
export async function saveReplayBuffer(buffer: ReservoirBuffer<DataRecord>, file: string): Promise<void> {
  const lines = [JSON.stringify({ format: BUFFER_FORMAT, capacity: buffer.capacity, seed: buffer.seed, seen: buffer.seen }), ...buffer.items().map((r) => JSON.stringify(r, encode))];
  const tmp = `${file}.tmp-${process.pid}`;
  await fs.writeFile(tmp, `${lines.join('\n')}\n`);
  await fs.rename(tmp, file);
}

/** Reads a buffer written by saveReplayBuffer; the reservoir continues where it stopped. */
export async function loadReplayBuffer(file: string): Promise<ReservoirBuffer<DataRecord>> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    throw new Error(`Replay buffer ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); write one with saveReplayBuffer`, { cause: err });
  }
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const parse = (line: string, n: number) => {
    try {
      return JSON.parse(line, decode) as unknown;
    } catch (err) {
      throw new Error(`Replay buffer ${file}, line ${n}: not valid JSON (${(err as Error).message})`, { cause: err });
    }
  };
  const header = parse(lines[0] ?? '{}', 1) as { format?: string; capacity: number; seed: number; seen: number };
  if (header.format !== BUFFER_FORMAT) throw new Error(`${file} is not a replay buffer (first line format ${JSON.stringify(header.format)}, expected "${BUFFER_FORMAT}")`);
  const records = lines.slice(1).map((l, i) => parse(l, i + 2) as DataRecord);
  return new ReservoirBuffer<DataRecord>(header.capacity, header.seed, header.seen, records);
}
