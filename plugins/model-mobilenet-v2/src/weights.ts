import { float16ToFloat32 } from '@leantune/tensor';
import type { LayersModelAssets, WeightSpec } from './nsfwjs-assets';

/** A decoded weight: float32 values in the file's (Keras/tfjs) layout. */
export interface DecodedWeight {
  shape: number[];
  values: Float32Array;
}

const QUANTIZED_BYTES: Record<string, number> = { uint8: 1, uint16: 2, float16: 2 };

function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * Decodes every weight of a tfjs weights manifest into float32, byte for byte as
 * tfjs-core's io.decodeWeights does: the shards of a group are concatenated in `paths`
 * order and the group's weights are read one after another. A uint8/uint16-quantized
 * value q becomes `q * scale + min` (computed in double, stored as float32), float16
 * values are widened, unquantized float32 values are copied.
 */
export function decodeWeights(assets: LayersModelAssets): Map<string, DecodedWeight> {
  const out = new Map<string, DecodedWeight>();
  assets.weightsManifest.forEach((group, g) => {
    const bytes = concatShards(group.paths.map((p) => assets.shards.get(p) ?? missingShard(assets.source, p)));
    let offset = 0;
    for (const spec of group.weights) {
      const { values, byteLength } = decodeWeight(spec, bytes, offset, assets.source);
      if (out.has(spec.name)) throw new Error(`mobilenet-v2: weight "${spec.name}" appears twice in the manifest of ${assets.source}`);
      out.set(spec.name, { shape: [...spec.shape], values });
      offset += byteLength;
    }
    if (offset !== bytes.length) {
      throw new Error(
        `mobilenet-v2: weights group ${g} of ${assets.source} has ${bytes.length} bytes but its manifest describes ${offset}; the shards do not match model.json`,
      );
    }
  });
  return out;
}

function missingShard(source: string, shardPath: string): never {
  throw new Error(`mobilenet-v2: shard "${shardPath}" named in the weights manifest of ${source} was not loaded`);
}

function concatShards(shards: Uint8Array[]): Uint8Array {
  if (shards.length === 1) return shards[0];
  const all = new Uint8Array(shards.reduce((n, s) => n + s.length, 0));
  let at = 0;
  for (const s of shards) {
    all.set(s, at);
    at += s.length;
  }
  return all;
}

function decodeWeight(spec: WeightSpec, bytes: Uint8Array, offset: number, source: string): { values: Float32Array; byteLength: number } {
  const size = sizeOf(spec.shape);
  const where = `weight "${spec.name}" of ${source}`;
  if (spec.dtype !== 'float32') throw new Error(`mobilenet-v2: ${where} has dtype ${spec.dtype}; only float32 weights are supported`);
  const q = spec.quantization;
  const width = q ? QUANTIZED_BYTES[q.dtype] : 4;
  if (width === undefined) {
    throw new Error(`mobilenet-v2: ${where} has unknown quantization dtype "${q?.dtype}"; supported: uint8, uint16, float16`);
  }
  const byteLength = size * width;
  if (offset + byteLength > bytes.length) {
    throw new Error(`mobilenet-v2: ${where} needs bytes ${offset}..${offset + byteLength} but the shards hold only ${bytes.length}`);
  }
  // Copy the slice: typed-array views need aligned offsets for 2- and 4-byte types.
  const raw = bytes.slice(offset, offset + byteLength).buffer;
  const values = new Float32Array(size);
  if (!q) values.set(new Float32Array(raw));
  else if (q.dtype === 'float16') {
    const halves = new Uint16Array(raw);
    for (let i = 0; i < size; i++) values[i] = float16ToFloat32(halves[i]);
  } else {
    if (typeof q.min !== 'number' || typeof q.scale !== 'number') {
      throw new Error(`mobilenet-v2: ${where} is ${q.dtype}-quantized but its quantization has no numeric min and scale`);
    }
    const quantized = q.dtype === 'uint8' ? new Uint8Array(raw) : new Uint16Array(raw);
    for (let i = 0; i < size; i++) values[i] = quantized[i] * q.scale + q.min;
  }
  return { values, byteLength };
}
