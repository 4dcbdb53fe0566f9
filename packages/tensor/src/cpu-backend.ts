import * as tf from '@tensorflow/tfjs-core';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { checkSegmentSumArgs, segmentSumRows } from './backend/segment-sum';

/**
 * The cpu backend prints "looks like you are running TensorFlow.js in Node.js … install our
 * node backend" on its first tensor. Backend choice is ours (initBackend records and
 * prints it), so the advice is noise in every log. Marking one instance as used is not
 * enough: the engine builds a fresh instance from the factory whenever it picks a backend
 * on its own (the first tensor before any setBackend), and every backend derived from
 * MathBackendCPU (e.g. `native`) inherits the banner. So `firstUse` is made an accessor on
 * the class itself, always false, that ignores the constructor's `firstUse = true`.
 */
export function silenceCpuBanner(): void {
  Object.defineProperty(MathBackendCPU.prototype, 'firstUse', { configurable: true, get: () => false, set: () => undefined });
  // Instances built before this ran carry their own flag.
  for (const backend of Object.values(tf.engine().registry)) {
    if (backend instanceof MathBackendCPU && Object.prototype.hasOwnProperty.call(backend, 'firstUse')) delete (backend as unknown as { firstUse?: boolean }).firstUse;
  }
}

silenceCpuBanner();

interface CpuBackend {
  data: { get(id: tf.DataId): { values: ArrayLike<number> } };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array): tf.TensorInfo;
}

/** The one-pass UnsortedSegmentSum (embedding gradients) in place of the cpu kernel's O(n·segments) one. */
export function registerCpuSegmentSum(): void {
  tf.unregisterKernel(tf.UnsortedSegmentSum, 'cpu');
  tf.registerKernel({
    kernelName: tf.UnsortedSegmentSum,
    backendName: 'cpu',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const cpu = backend as unknown as CpuBackend;
      const { x, segmentIds } = inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
      const numSegments = (attrs as unknown as { numSegments: number }).numSegments;
      checkSegmentSumArgs('cpu', x, segmentIds, numSegments);
      const sums = segmentSumRows(cpu.data.get(x.dataId).values, cpu.data.get(segmentIds.dataId).values, x.shape, numSegments);
      return cpu.makeTensorInfo([numSegments, ...x.shape.slice(1)], 'float32', sums);
    },
  });
}

registerCpuSegmentSum();
