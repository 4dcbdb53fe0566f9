// The shipped frozen graph, run by @tensorflow/tfjs-converter (a test-only dependency) on the
// cpu backend: the independent reference the re-implementation is compared with.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tf } from '@leantune/tensor';
import { loadGraphModel, type GraphModel } from '@tensorflow/tfjs-converter';
import { locateUseLiteFiles } from '@leantune/plugin-use-lite';

export async function loadReferenceGraph(): Promise<GraphModel> {
  await tf.setBackend('cpu');
  const { modelJson } = locateUseLiteFiles();
  const json = JSON.parse(readFileSync(modelJson, 'utf8'));
  const group = json.weightsManifest[0];
  const bytes = Buffer.concat(group.paths.map((p: string) => readFileSync(join(modelJson, '..', p))));
  const weightData = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  return loadGraphModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: group.weights, weightData }));
}

/** The package's own input format: a sparse [row, position] → id list (EmbeddingsModel.embed). */
export async function referenceEmbeddings(graph: GraphModel, rows: number[][]): Promise<number[][]> {
  const indices: number[] = [];
  const values: number[] = [];
  rows.forEach((row, i) => row.forEach((id, j) => (indices.push(i, j), values.push(id))));
  const inputs = { indices: tf.tensor2d(indices, [values.length, 2], 'int32'), values: tf.tensor1d(values, 'int32') };
  const out = (await graph.executeAsync(inputs)) as tf.Tensor;
  inputs.indices.dispose();
  inputs.values.dispose();
  const result = out.arraySync() as number[][];
  out.dispose();
  return result;
}

export function cosine(a: readonly number[], b: readonly number[]): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return dot / Math.sqrt(na * nb);
}

/**
 * Row indices grouped by token count, shortest first: at most `size` rows a group, and a new
 * group whenever a row is over 4 tokens longer than its group's first, so padding (which
 * costs as much as tokens on the cpu backend) stays small on both sides.
 */
export function lengthBuckets(rows: readonly number[][], size: number): number[][] {
  const order = rows.map((_, i) => i).sort((a, b) => rows[a].length - rows[b].length);
  const buckets: number[][] = [];
  for (const i of order) {
    const last = buckets[buckets.length - 1];
    if (last && last.length < size && rows[i].length <= rows[last[0]].length + 4) last.push(i);
    else buckets.push([i]);
  }
  return buckets;
}
