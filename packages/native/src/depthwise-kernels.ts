import { tf } from '@leantune/tensor';
import type { NativeBackend } from './backend';
import type { KernelMaker } from './kernels';

/**
 * Depthwise convolution (channel multiplier 1, NHWC, no dilation; any strides and padding)
 * and both its gradients as JS loops whose innermost loop runs along the channels, which are
 * contiguous in x, dy and the filter. The cpu kernels index every product through nested
 * offset arithmetic per channel; MobileNetV2's depthwise forward and input gradient took
 * ~1.4 s of a 2.4 s step in them. Products accumulate into the float32 output (at most kh·kw
 * terms an element); the filter gradient, a sum over b·oh·ow terms, in float64. Multipliers
 * above 1, dilations, NCHW and other dtypes go to the cpu kernel.
 */

interface DepthwiseAttrs {
  strides: number | [number, number];
  pad: tf.Conv2DAttrs['pad'];
  dataFormat?: string;
  dilations?: number | [number, number];
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

function handled(attrs: DepthwiseAttrs, filterShape: readonly number[], dtypes: tf.DataType[]): boolean {
  const d = attrs.dilations ?? 1;
  const noDilation = Array.isArray(d) ? d.every((v) => v === 1) : d === 1;
  return noDilation && filterShape.length === 4 && filterShape[3] === 1 && (attrs.dataFormat ?? 'NHWC') === 'NHWC'
    && dtypes.every((t) => t === 'float32');
}

function convInfo(xShape: number[], filterShape: number[], attrs: DepthwiseAttrs): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(xShape as [number, number, number, number], filterShape as [number, number, number, number],
    attrs.strides, 1, attrs.pad, attrs.dimRoundingMode, true);
}

/**
 * Runs every in-bounds (output pixel, tap) pair, the channels innermost: 'forward' adds
 * x·w into y, 'input' dy·w into dx, 'filter' x·dy into the filter sums. One function with the
 * mode branch outside the channel loop (a callback per pair would be three closures at one
 * call site, which V8 does not inline: ~1.6× slower in the MobileNetV2 step).
 */
function taps(info: tf.backend_util.Conv2DInfo, mode: 'forward' | 'input' | 'filter',
  x: Float32Array, y: Float32Array, f: Float32Array | Float64Array): void {
  const { batchSize, inHeight, inWidth, outHeight, outWidth, filterHeight, filterWidth, strideHeight, strideWidth, inChannels: c } = info;
  const { top, left } = info.padInfo;
  for (let b = 0; b < batchSize; b++) {
    for (let oy = 0; oy < outHeight; oy++) {
      for (let ox = 0; ox < outWidth; ox++) {
        const yo = ((b * outHeight + oy) * outWidth + ox) * c;
        for (let ky = 0; ky < filterHeight; ky++) {
          const iy = oy * strideHeight - top + ky;
          if (iy < 0 || iy >= inHeight) continue;
          for (let kx = 0; kx < filterWidth; kx++) {
            const ix = ox * strideWidth - left + kx;
            if (ix < 0 || ix >= inWidth) continue;
            const xo = ((b * inHeight + iy) * inWidth + ix) * c;
            const fo = (ky * filterWidth + kx) * c;
            if (mode === 'forward') for (let ch = 0; ch < c; ch++) y[yo + ch] += x[xo + ch] * f[fo + ch];
            else if (mode === 'input') for (let ch = 0; ch < c; ch++) x[xo + ch] += y[yo + ch] * f[fo + ch];
            else for (let ch = 0; ch < c; ch++) f[fo + ch] += x[xo + ch] * y[yo + ch];
          }
        }
      }
    }
  }
}

const forward: KernelMaker = (fallback) => (args) => {
  const { x, filter } = args.inputs as { x: tf.TensorInfo; filter: tf.TensorInfo };
  const attrs = args.attrs as unknown as DepthwiseAttrs;
  if (x.shape.length !== 4 || x.shape[3] !== filter.shape[2] || !handled(attrs, filter.shape, [x.dtype, filter.dtype])) return fallback(args);
  const info = convInfo(x.shape, filter.shape, attrs);
  const backend = args.backend as NativeBackend;
  const xs = backend.f32(x);
  const ws = backend.f32(filter);
  const out = backend.allocate(tf.DepthwiseConv2dNative, info.outShape, tf.util.sizeFromShape(info.outShape));
  out.fill(0);
  taps(info, 'forward', xs, out, ws);
  return backend.makeTensorInfo(info.outShape, 'float32', out);
};

const backpropInput: KernelMaker = (fallback) => (args) => {
  const { dy, filter } = args.inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
  const attrs = args.attrs as unknown as DepthwiseAttrs & { inputShape: number[] };
  const inputShape = [...attrs.inputShape];
  if (dy.shape.length !== 4 || inputShape.length !== 4 || inputShape[3] !== filter.shape[2] || !handled(attrs, filter.shape, [dy.dtype, filter.dtype])) {
    return fallback(args);
  }
  const info = convInfo(inputShape, filter.shape, attrs);
  if (!tf.util.arraysEqual(info.outShape, dy.shape)) return fallback(args);
  const backend = args.backend as NativeBackend;
  const dys = backend.f32(dy);
  const ws = backend.f32(filter);
  const dx = backend.allocate(tf.DepthwiseConv2dNativeBackpropInput, inputShape, tf.util.sizeFromShape(inputShape));
  dx.fill(0);
  taps(info, 'input', dx, dys, ws);
  return backend.makeTensorInfo(inputShape, 'float32', dx);
};

const backpropFilter: KernelMaker = (fallback) => (args) => {
  const { x, dy } = args.inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const attrs = args.attrs as unknown as DepthwiseAttrs & { filterShape: number[] };
  const filterShape = [...attrs.filterShape];
  if (x.shape.length !== 4 || dy.shape.length !== 4 || x.shape[3] !== filterShape[2] || !handled(attrs, filterShape, [x.dtype, dy.dtype])) return fallback(args);
  const info = convInfo(x.shape, filterShape, attrs);
  if (!tf.util.arraysEqual(info.outShape, dy.shape)) return fallback(args);
  const backend = args.backend as NativeBackend;
  const xs = backend.f32(x);
  const dys = backend.f32(dy);
  const sums = new Float64Array(tf.util.sizeFromShape(filterShape));
  taps(info, 'filter', xs, dys, sums);
  const dw = backend.allocate(tf.DepthwiseConv2dNativeBackpropFilter, filterShape, sums.length);
  dw.set(sums);
  return backend.makeTensorInfo(filterShape, 'float32', dw);
};

export const DEPTHWISE_KERNELS: ReadonlyArray<[string, KernelMaker]> = [
  [tf.DepthwiseConv2dNative, forward],
  [tf.DepthwiseConv2dNativeBackpropInput, backpropInput],
  [tf.DepthwiseConv2dNativeBackpropFilter, backpropFilter],
];
