import { DTYPE_BYTES, isSafetensorsDtype, SafetensorsDtype } from './dtypes';

/**
 * A larger header is treated as hostile, not read or parsed. The reference implementation
 * allows 100 MB, but parsing that much JSON takes seconds and over a GB; real headers are far
 * smaller (about 120 bytes per tensor: a 70B model's shard is under 100 KB, a single file of
 * 100,000 tensors about 12 MB). A hostile header at this cap parses in about 5 s and 350 MB.
 */
export const MAX_HEADER_BYTES = 16 * 1024 * 1024;
export const METADATA_KEY = '__metadata__';

export interface SafetensorsTensorInfo {
  dtype: SafetensorsDtype;
  shape: number[];
  /** Byte offsets relative to the start of the data buffer (after the header). */
  begin: number;
  end: number;
}

export interface ParsedHeader {
  tensors: Map<string, SafetensorsTensorInfo>;
  metadata: Record<string, string>;
}

export interface SafetensorsHeader extends ParsedHeader {
  /** Absolute file offset of the data buffer: 8 + header length. */
  dataStart: number;
  fileSize: number;
}

/**
 * Reads the u64 header length from the first 8 bytes and checks it against the cap and the
 * total size before anything is allocated from it (the length is untrusted input).
 */
export function headerLengthFrom(prefix: Uint8Array, totalSize: number, source: string): number {
  if (totalSize < 8 || prefix.length < 8) {
    throw new Error(
      `${source}: file is ${totalSize} bytes, shorter than the 8-byte header length; it is truncated or not a safetensors file`,
    );
  }
  const view = new DataView(prefix.buffer, prefix.byteOffset, 8);
  const length = view.getBigUint64(0, true);
  if (length > BigInt(MAX_HEADER_BYTES)) {
    throw new Error(
      `${source}: header length ${length} exceeds the ${MAX_HEADER_BYTES}-byte cap (real checkpoints' headers are a few MB at most); ` +
        'the file is corrupt, hostile or not a safetensors file, and its header is not read',
    );
  }
  if (length + 8n > BigInt(totalSize)) {
    throw new Error(
      `${source}: header length ${length} is larger than the file (${totalSize} bytes); the file is truncated`,
    );
  }
  return Number(length);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isNonNegativeInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function parseTensorEntry(name: string, raw: unknown, bufferLength: number, source: string): SafetensorsTensorInfo {
  const where = `${source}: tensor "${name}"`;
  if (!isPlainObject(raw)) throw new Error(`${where}: header entry must be an object with dtype, shape, data_offsets`);
  const { dtype, shape, data_offsets: offsets } = raw;
  if (!isSafetensorsDtype(dtype)) {
    throw new Error(`${where}: unknown dtype ${JSON.stringify(dtype)}; expected one of ${Object.keys(DTYPE_BYTES).join(', ')}`);
  }
  if (!Array.isArray(shape) || !shape.every(isNonNegativeInteger)) {
    throw new Error(`${where}: shape ${JSON.stringify(shape)} must be a list of non-negative integers`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegativeInteger)) {
    throw new Error(`${where}: data_offsets ${JSON.stringify(offsets)} must be [begin, end] non-negative integers`);
  }
  const [begin, end] = offsets as number[];
  if (end < begin) throw new Error(`${where}: data_offsets [${begin}, ${end}] end before they begin`);
  const elements = (shape as number[]).reduce((a, b) => a * b, 1);
  const expected = elements * DTYPE_BYTES[dtype];
  if (!Number.isSafeInteger(expected)) throw new Error(`${where}: shape [${shape.join(', ')}] is too large`);
  if (end - begin !== expected) {
    throw new Error(
      `${where}: data_offsets [${begin}, ${end}] hold ${end - begin} bytes, but shape [${shape.join(', ')}] ` +
        `of ${dtype} needs ${expected}; the header is corrupt`,
    );
  }
  if (end > bufferLength) {
    throw new Error(
      `${where}: data_offsets [${begin}, ${end}] run past the data buffer (${bufferLength} bytes); the file is truncated`,
    );
  }
  return { dtype, shape: shape as number[], begin, end };
}

function parseMetadata(raw: unknown, source: string): Record<string, string> {
  if (raw === undefined || raw === null) return {};
  if (!isPlainObject(raw)) throw new Error(`${source}: ${METADATA_KEY} must be an object of string values`);
  const metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (typeof value !== 'string') {
      throw new Error(`${source}: ${METADATA_KEY} value "${key}" is ${JSON.stringify(value)}, but metadata values must be strings`);
    }
    metadata[key] = value;
  }
  return metadata;
}

/** The reference implementation requires tensors to tile the buffer exactly: no overlap, no gap. */
function checkCoverage(tensors: Map<string, SafetensorsTensorInfo>, bufferLength: number, source: string): void {
  const sorted = [...tensors].sort(([, a], [, b]) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let previous = '';
  for (const [name, info] of sorted) {
    if (info.begin < covered) {
      throw new Error(`${source}: tensor "${name}" overlaps tensor "${previous}" (begins at ${info.begin}, before ${covered})`);
    }
    if (info.begin > covered) {
      throw new Error(`${source}: gap of ${info.begin - covered} unused bytes before tensor "${name}" (at ${covered})`);
    }
    covered = info.end;
    previous = name;
  }
  if (covered !== bufferLength) {
    throw new Error(
      `${source}: tensors cover ${covered} of the ${bufferLength} data bytes; the file has trailing garbage or a corrupt header`,
    );
  }
}

/** Parses and validates the JSON header against a data buffer of `bufferLength` bytes. */
export function parseHeaderBytes(headerBytes: Uint8Array, bufferLength: number, source: string): ParsedHeader {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    throw new Error(`${source}: header is not valid UTF-8; not a safetensors file`);
  }
  // As the reference implementation: the header must start with '{' (padding only at the end).
  if (!text.startsWith('{')) throw new Error(`${source}: header does not start with '{'; not a safetensors file`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`${source}: header is not valid JSON (${(err as Error).message})`);
  }
  if (!isPlainObject(json)) throw new Error(`${source}: header must be a JSON object`);
  const tensors = new Map<string, SafetensorsTensorInfo>();
  for (const [name, raw] of Object.entries(json)) {
    if (name === METADATA_KEY) continue;
    tensors.set(name, parseTensorEntry(name, raw, bufferLength, source));
  }
  checkCoverage(tensors, bufferLength, source);
  return { tensors, metadata: parseMetadata(json[METADATA_KEY], source) };
}

/**
 * Serializes a header, 8-byte length prefix included. Keys appear in the given order (the
 * data order, as the reference writer does); trailing spaces pad the header to a multiple of
 * 8 bytes so the data buffer starts aligned.
 */
export function buildHeader(
  entries: ReadonlyArray<[string, SafetensorsTensorInfo]>,
  metadata: Record<string, string> | undefined,
): Uint8Array {
  const parts: string[] = [];
  if (metadata && Object.keys(metadata).length > 0) parts.push(`${JSON.stringify(METADATA_KEY)}:${JSON.stringify(metadata)}`);
  for (const [name, info] of entries) {
    const value = { dtype: info.dtype, shape: info.shape, data_offsets: [info.begin, info.end] };
    // Built by hand, not through one object: JS objects move integer-like keys ("0") first.
    parts.push(`${JSON.stringify(name)}:${JSON.stringify(value)}`);
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const padded = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + padded).fill(0x20, 8 + json.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  return out;
}
