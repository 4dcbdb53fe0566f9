import * as tf from '@tensorflow/tfjs-core';
import { backendHasKernel, FUSED_KERNELS } from '../../ops/fused';

// Ports of tfjs-core's gradient configs (Apache-2.0, tfjs-core/src/gradients/*), written
// against the public API. See ./index.ts for why they are needed.

type Grad = tf.GradConfig;
type Attrs = tf.NamedAttrMap;
const { getUndoAxesPermutation } = tf.backend_util;
const { parseAxisParam } = tf.util;

/** dy of a reduction, reshaped with the reduced axes kept as 1 so it broadcasts over x. */
function expandReduced(dy: tf.Tensor, x: tf.Tensor, axes: number[]): tf.Tensor {
  const shape = x.shape.slice();
  for (const axis of axes) shape[axis] = 1;
  return tf.reshape(dy, shape);
}

/** Max/Min: the gradient flows to every position equal to the extreme value. */
function extreme(kernelName: string, axisAttr: string): Grad {
  return {
    kernelName,
    inputsToSave: ['x'],
    outputsToSave: [true],
    gradFunc: (dy, saved, attrs) => {
      const [x, y] = saved;
      const axes = parseAxisParam(attrs[axisAttr] as number | number[], x.shape);
      const g = expandReduced(dy as tf.Tensor, x, axes);
      return { x: () => tf.mul(g, tf.cast(tf.equal(x, expandReduced(y, x, axes)), g.dtype)) };
    },
  };
}

/** Sums a gradient over the batch axes its input was broadcast along, back to `shape`. */
function unbroadcastBatch(grad: tf.Tensor, shape: number[]): tf.Tensor {
  let g = grad;
  if (g.rank > shape.length) g = tf.sum(g, Array.from({ length: g.rank - shape.length }, (_, i) => i));
  const axes = shape.slice(0, -2).flatMap((n, i) => (n === 1 && g.shape[i] !== 1 ? [i] : []));
  return axes.length ? tf.sum(g, axes, true) : g;
}

function matMulGrad(dy: tf.Tensor, a: tf.Tensor, b: tf.Tensor, attrs: Attrs): Record<string, () => tf.Tensor> {
  const { transposeA, transposeB } = attrs as { transposeA: boolean; transposeB: boolean };
  const grads: [() => tf.Tensor, () => tf.Tensor] =
    !transposeA && !transposeB
      ? [() => tf.matMul(dy, b, false, true), () => tf.matMul(a, dy, true, false)]
      : !transposeA && transposeB
        ? [() => tf.matMul(dy, b, false, false), () => tf.matMul(dy, a, true, false)]
        : transposeA && !transposeB
          ? [() => tf.matMul(b, dy, false, true), () => tf.matMul(a, dy, false, false)]
          : [() => tf.matMul(b, dy, true, true), () => tf.matMul(dy, a, true, true)];
  // A broadcast operand (x[B,T,K]·W[K,N]) gets the sum of its per-batch gradients.
  return { a: () => unbroadcastBatch(grads[0](), a.shape), b: () => unbroadcastBatch(grads[1](), b.shape) };
}

function gatherGrad(dy: tf.Tensor, x: tf.Tensor, indices: tf.Tensor, axis: number): tf.Tensor {
  const outer = x.shape.slice(0, axis);
  const inner = x.shape.slice(axis + 1);
  const values = tf.reshape(dy, [...outer, indices.size, ...inner]);
  const outerAxes = outer.map((_, i) => i);
  const innerAxes = inner.map((_, i) => outer.length + 1 + i);
  const perm = [outer.length, ...outerAxes, ...innerAxes];
  const summed = tf.unsortedSegmentSum(tf.transpose(values, perm), tf.reshape(indices, [indices.size]) as tf.Tensor1D, x.shape[axis]);
  return tf.transpose(summed, getUndoAxesPermutation(perm));
}

const run = (kernel: string, inputs: tf.NamedTensorMap, attrs: Attrs): tf.Tensor =>
  tf.engine().runKernel(kernel, inputs, attrs) as tf.Tensor;

function checkNoDilation(op: string, dilations: unknown): void {
  const d = (dilations ?? 1) as number | number[];
  if (!(Array.isArray(d) ? d : [d]).every((v) => v === 1)) {
    throw new Error(`Gradient of ${op}: dilations > 1 are not supported, got ${String(d)}`);
  }
}

export const structuralGradients: Grad[] = [
  {
    kernelName: tf.Sum,
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => {
      const [x] = saved;
      const g = expandReduced(dy as tf.Tensor, x, parseAxisParam(attrs.axis as number[], x.shape));
      return { x: () => tf.mul(g, tf.ones(x.shape, 'float32')) };
    },
  },
  {
    kernelName: tf.Mean,
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => {
      const [x] = saved;
      const axes = parseAxisParam(attrs.axis as number[], x.shape);
      const count = axes.reduce((n, a) => n * x.shape[a], 1);
      return { x: () => tf.div(tf.mul(expandReduced(dy as tf.Tensor, x, axes), tf.ones(x.shape, 'float32')), count) };
    },
  },
  extreme(tf.Max, 'reductionIndices'),
  extreme(tf.Min, 'axis'),
  { kernelName: tf.Reshape, inputsToSave: ['x'], gradFunc: (dy, [x]) => ({ x: () => tf.reshape(dy as tf.Tensor, x.shape) }) },
  {
    kernelName: tf.ExpandDims,
    inputsToSave: ['input'],
    gradFunc: (dy, [input]) => ({ input: () => tf.reshape(dy as tf.Tensor, input.shape) }),
  },
  {
    kernelName: tf.Transpose,
    gradFunc: (dy, _saved, attrs) => ({ x: () => tf.transpose(dy as tf.Tensor, getUndoAxesPermutation(attrs.perm as number[])) }),
  },
  {
    kernelName: tf.BroadcastTo,
    gradFunc: (dy, _saved, attrs) => {
      const inputShape = attrs.inputShape as number[];
      const outShape = attrs.shape as number[];
      const lead = outShape.length - inputShape.length;
      const axes = outShape.map((_, i) => i).filter((i) => i < lead || (inputShape[i - lead] === 1 && outShape[i] !== 1));
      return { x: () => tf.reshape(tf.sum(dy as tf.Tensor, axes), inputShape) };
    },
  },
  {
    kernelName: tf.BatchMatMul,
    inputsToSave: ['a', 'b'],
    gradFunc: (dy, [a, b], attrs) => matMulGrad(dy as tf.Tensor, a, b, attrs),
  },
  {
    kernelName: tf.Softmax,
    outputsToSave: [true],
    gradFunc: (dy, [y], attrs) => {
      const dim = attrs.dim as number;
      if ((dim === -1 || dim === y.rank - 1) && y.dtype === 'float32' && backendHasKernel(FUSED_KERNELS.softmaxGrad)) {
        return { logits: () => tf.engine().runKernel(FUSED_KERNELS.softmaxGrad, { y, dy: dy as tf.Tensor }) as tf.Tensor };
      }
      const dyY = tf.mul(dy as tf.Tensor, y);
      return { logits: () => tf.sub(dyY, tf.mul(tf.sum(dyY, [attrs.dim as number], true), y)) };
    },
  },
  {
    kernelName: tf.LogSoftmax,
    outputsToSave: [true],
    gradFunc: (dy, [value], attrs) => ({
      logits: () => tf.sub(dy as tf.Tensor, tf.mul(tf.sum(dy as tf.Tensor, attrs.axis as number, true), tf.exp(value))),
    }),
  },
  {
    kernelName: tf.GatherV2,
    inputsToSave: ['x', 'indices'],
    gradFunc: (dy, [x, indices], attrs) => {
      if (((attrs.batchDims as number) ?? 0) !== 0) throw new Error('Gradient of gather: batchDims != 0 is not supported');
      const axis = parseAxisParam(attrs.axis as number, x.shape)[0];
      return { x: () => gatherGrad(dy as tf.Tensor, x, indices, axis), indices: () => indices };
    },
  },
  {
    kernelName: tf.Concat,
    saveAllInputs: true,
    gradFunc: (dy, saved, attrs) => {
      const axis = parseAxisParam(attrs.axis as number, saved[0].shape)[0];
      const parts = tf.split(dy as tf.Tensor, saved.map((t) => t.shape[axis]), axis);
      return Object.fromEntries(parts.map((t, i) => [i, () => t]));
    },
  },
  { kernelName: tf.SplitV, gradFunc: (dy, _saved, attrs) => ({ x: () => tf.concat(dy as tf.Tensor[], attrs.axis as number) }) },
  {
    kernelName: tf.Pack,
    saveAllInputs: true,
    gradFunc: (dy, _saved, attrs) => Object.fromEntries(tf.unstack(dy as tf.Tensor, attrs.axis as number).map((t, i) => [i, () => t])),
  },
  { kernelName: tf.Unpack, gradFunc: (dy, _saved, attrs) => ({ value: () => tf.stack(dy as tf.Tensor[], attrs.axis as number) }) },
  {
    kernelName: tf.Slice,
    inputsToSave: ['x'],
    gradFunc: (dy, [x], attrs) => {
      const [begin, size] = tf.slice_util.parseSliceParams(x, attrs.begin as number[], attrs.size as number[]);
      const paddings = x.shape.map((dim, i): [number, number] => [begin[i], dim - begin[i] - size[i]]);
      return { x: () => tf.pad(dy as tf.Tensor, paddings) };
    },
  },
  {
    kernelName: tf.PadV2,
    inputsToSave: ['x'],
    gradFunc: (dy, [x], attrs) => ({ x: () => tf.slice(dy as tf.Tensor, (attrs.paddings as [number, number][]).map((p) => p[0]), x.shape) }),
  },
  {
    kernelName: tf.Tile,
    inputsToSave: ['x'],
    gradFunc: (dy, [x], attrs) => {
      // Fold each repetition onto its own axis, then sum those axes away.
      const reps = attrs.reps as number[];
      const folded = x.shape.flatMap((d, i) => [reps[i], d]);
      const axes = x.shape.map((_, i) => 2 * i);
      return { x: () => tf.reshape(tf.sum(tf.reshape(dy as tf.Tensor, folded), axes), x.shape) };
    },
  },
  {
    kernelName: tf.Conv2D,
    inputsToSave: ['x', 'filter'],
    gradFunc: (dy, [x, filter], attrs) => {
      checkNoDilation('conv2d', attrs.dilations);
      const { strides, pad, dataFormat, dimRoundingMode } = attrs;
      const common = { strides, pad, dataFormat, dimRoundingMode } as Attrs;
      return {
        x: () => run(tf.Conv2DBackpropInput, { dy: dy as tf.Tensor, filter }, { ...common, inputShape: x.shape }),
        filter: () => run(tf.Conv2DBackpropFilter, { x, dy: dy as tf.Tensor }, { ...common, filterShape: filter.shape }),
      };
    },
  },
  {
    kernelName: tf.DepthwiseConv2dNative,
    inputsToSave: ['x', 'filter'],
    gradFunc: (dy, [x, filter], attrs) => {
      checkNoDilation('depthwiseConv2d', attrs.dilations);
      const { strides, pad, dimRoundingMode } = attrs;
      const common = { strides, pad, dimRoundingMode, dilations: [1, 1] } as Attrs;
      return {
        x: () => run(tf.DepthwiseConv2dNativeBackpropInput, { dy: dy as tf.Tensor, filter }, { ...common, inputShape: x.shape }),
        filter: () => run(tf.DepthwiseConv2dNativeBackpropFilter, { x, dy: dy as tf.Tensor }, { ...common, filterShape: filter.shape }),
      };
    },
  },
  // Caveat of tfjs's cpu AvgPoolGrad kernel: with 'same' padding it divides by the full
  // window even where the forward averaged fewer (edge) values; exact for 'valid'.
  {
    kernelName: tf.AvgPool,
    inputsToSave: ['x'],
    gradFunc: (dy, [x], attrs) => {
      const { filterSize, strides, pad } = attrs;
      return { x: () => run(tf.AvgPoolGrad, { dy: dy as tf.Tensor, input: x }, { filterSize, strides, pad } as Attrs) };
    },
  },
];
