import * as fs from 'node:fs';
import * as path from 'node:path';
import type { KerasModelTopology } from './topology-types';

/** One entry of a tfjs weights manifest (tfjs-core io.WeightsManifestEntry). */
export interface WeightSpec {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32' | string;
  quantization?: { min?: number; scale?: number; dtype: 'uint8' | 'uint16' | 'float16' | string };
}

export interface WeightsManifestGroup {
  paths: string[];
  weights: WeightSpec[];
}

/** A tfjs layers model as nsfwjs ships it: the model.json content plus the shard bytes. */
export interface LayersModelAssets {
  /** Where the files came from, for error messages. */
  source: string;
  modelTopology: KerasModelTopology;
  weightsManifest: WeightsManifestGroup[];
  /** Shard bytes keyed by manifest path (e.g. "group1-shard1of1"). */
  shards: Map<string, Uint8Array>;
}

/**
 * The folder of nsfwjs's bundled MobileNetV2 (dist/models/mobilenet_v2). nsfwjs's
 * `exports` map hides dist/models, so it is found next to the package's main entry
 * (dist/cjs/index.js), which is resolvable without running it.
 */
export function nsfwjsMobileNetV2Dir(): string {
  let main: string;
  try {
    main = require.resolve('nsfwjs');
  } catch (err) {
    throw new Error(
      `mobilenet-v2: cannot find the npm package "nsfwjs" (4.3.0), which holds the pretrained weights; install it next to @leantune/plugin-mobilenet-v2 (${(err as Error).message})`,
    );
  }
  return path.resolve(path.dirname(main), '..', 'models', 'mobilenet_v2');
}

/**
 * Reads nsfwjs's bundled model. Both files are browserify UMD bundles (not JSON):
 * `model.min.js` exports the model.json object ({ modelTopology, weightsManifest }) and
 * `<manifest path>.min.js` (e.g. group1-shard1of1.min.js) exports the shard's bytes as
 * one base64 string. Loading them with `require` is what nsfwjs itself does.
 */
export function readNsfwjsMobileNetV2(dir = nsfwjsMobileNetV2Dir()): LayersModelAssets {
  const modelFile = path.join(dir, 'model.min.js');
  if (!fs.existsSync(modelFile)) {
    throw new Error(`mobilenet-v2: ${modelFile} not found; expected nsfwjs@4.3.0's dist/models/mobilenet_v2 folder`);
  }
  const modelJson = requireBundle(modelFile) as Partial<{ modelTopology: KerasModelTopology; weightsManifest: WeightsManifestGroup[] }>;
  if (!modelJson || typeof modelJson !== 'object' || !modelJson.modelTopology || !Array.isArray(modelJson.weightsManifest)) {
    throw new Error(`mobilenet-v2: ${modelFile} does not export a tfjs model.json object with modelTopology and weightsManifest`);
  }
  const shards = new Map<string, Uint8Array>();
  for (const group of modelJson.weightsManifest) {
    for (const shardPath of group.paths) {
      const file = path.join(dir, `${shardPath}.min.js`);
      if (!fs.existsSync(file)) throw new Error(`mobilenet-v2: weight shard ${file} (manifest path "${shardPath}") not found`);
      const base64 = requireBundle(file);
      if (typeof base64 !== 'string' || !/^[A-Za-z0-9+/]+=*$/.test(base64.slice(-64))) {
        throw new Error(`mobilenet-v2: ${file} does not export a base64 string of weight bytes`);
      }
      shards.set(shardPath, new Uint8Array(Buffer.from(base64, 'base64')));
    }
  }
  return { source: dir, modelTopology: modelJson.modelTopology, weightsManifest: modelJson.weightsManifest, shards };
}

function requireBundle(file: string): unknown {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mod: unknown = require(file);
  // An ESM-interop wrapper ({ default }) is unwrapped, as nsfwjs's own loader does.
  if (mod && typeof mod === 'object' && 'default' in mod && Object.keys(mod).length === 1) return (mod as { default: unknown }).default;
  return mod;
}
