import type * as tf from '@tensorflow/tfjs-core';
import { checkSegmentSumArgs, segmentSumRows } from '../segment-sum';
import type { BackendWasm } from './kernel-utils';

/** UnsortedSegmentSum for wasm (which has none in tfjs 4.22), over the backend's heap. */
export function unsortedSegmentSum(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const backend = args.backend as BackendWasm;
  const { x, segmentIds } = args.inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
  const numSegments = (args.attrs as { numSegments: number }).numSegments;
  checkSegmentSumArgs('wasm', x, segmentIds, numSegments);
  const sums = segmentSumRows(backend.typedArrayFromHeap(x), backend.typedArrayFromHeap(segmentIds), x.shape, numSegments);
  return backend.makeOutput([numSegments, ...x.shape.slice(1)], 'float32', undefined, sums);
}
