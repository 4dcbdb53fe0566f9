import { tf } from '@leantune/tensor';

/** Deterministic values in [-1, 1) from a small LCG, independent of any backend. */
export function seededValues(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let state = (seed * 2654435761) >>> 0;
  for (let i = 0; i < n; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i] = state / 2 ** 31 - 1;
  }
  return out;
}

export function randomTensor(shape: number[], seed: number): tf.Tensor {
  return tf.tensor(seededValues(tf.util.sizeFromShape(shape), seed), shape);
}

export interface Computed {
  shape: number[];
  dtype: string;
  values: number[];
}

/** Runs `fn` on `backend` and returns its output as plain data (all tensors freed). */
export async function computeOn(backend: string, fn: () => tf.Tensor): Promise<Computed> {
  await tf.setBackend(backend);
  const out = tf.tidy(fn);
  const result = { shape: out.shape, dtype: out.dtype, values: Array.from(out.dataSync()) };
  out.dispose();
  return result;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

/** Runs `fn` on wasm and checks no engine tensor and no wasm heap buffer outlives it. */
export async function expectNoWasmLeak(fn: () => void): Promise<void> {
  await tf.setBackend('wasm');
  const tensors = tf.memory().numTensors;
  const buffers = tf.backend().numDataIds();
  fn();
  expect(tf.memory().numTensors).toBe(tensors);
  expect(tf.backend().numDataIds()).toBe(buffers);
}
