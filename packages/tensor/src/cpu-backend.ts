import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { checkSegmentSumArgs, segmentSumRows } from './backend/segment-sum';

/**
 * The cpu backend prints "looks like you are running TensorFlow.js in Node.js … install our
 * node backend" on its first tensor. Backend choice is ours (initBackend records and
 * prints it), so the advice is noise in every log; mark the backend as already used.
 */
export function silenceCpuBanner(): void {
  const cpu = tf.findBackend('cpu') as { firstUse?: boolean } | null;
  if (cpu && 'firstUse' in cpu) cpu.firstUse = false;
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
