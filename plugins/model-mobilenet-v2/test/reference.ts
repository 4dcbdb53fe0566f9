// Test-only reference: nsfwjs's MobileNetV2 loaded by @tensorflow/tfjs-layers itself, from
// the same bundled files, read here independently of src/ (as nsfwjs's JSONHandler does).
import * as path from 'node:path';
import * as tfl from '@tensorflow/tfjs-layers';
import { tf } from '@leantune/tensor';

export const MODEL_DIR = path.resolve(path.dirname(require.resolve('nsfwjs')), '..', 'models', 'mobilenet_v2');

interface ModelJson {
  modelTopology: object;
  weightsManifest: Array<{ paths: string[]; weights: tf.io.WeightsManifestEntry[] }>;
}

export function referenceArtifacts(): { json: ModelJson; weightSpecs: tf.io.WeightsManifestEntry[]; weightData: ArrayBuffer } {
  const json = require(path.join(MODEL_DIR, 'model.min.js')) as ModelJson;
  const bytes = json.weightsManifest.flatMap((g) => g.paths.map((p) => Buffer.from(require(path.join(MODEL_DIR, `${p}.min.js`)) as string, 'base64')));
  const all = Buffer.concat(bytes);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.length) as ArrayBuffer;
  return { json, weightSpecs: json.weightsManifest.flatMap((g) => g.weights), weightData };
}

export async function loadReferenceModel(): Promise<tfl.LayersModel> {
  await tf.setBackend('cpu');
  const { json, weightSpecs, weightData } = referenceArtifacts();
  return tfl.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs, weightData }));
}

export function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

/** Reference softmax outputs and the named layers' outputs, from one tfjs-layers pass. */
export function referenceOutputs(model: tfl.LayersModel, x: tf.Tensor4D, layers: string[]): { probs: tf.Tensor; maps: tf.Tensor[] } {
  const probe = tfl.model({ inputs: model.inputs, outputs: [model.outputs[0], ...layers.map((l) => model.getLayer(l).output as tfl.SymbolicTensor)] });
  const out = probe.predict(x);
  const [probs, ...maps] = Array.isArray(out) ? out : [out];
  return { probs, maps };
}
