import { tf } from '@leantune/tensor';
import { ACTIVATION_CODES } from './addon';
import type { NativeBackend } from './backend';
import type { KernelMaker } from './kernels';

/**
 * 1×1 stride-1 convolutions (NHWC, no dilation, so no padding either way) by the native GEMM:
 * x [b, h, w, cin] with a filter [1, 1, cin, cout] is the product [b·h·w, cin]·[cin, cout];
 * its input gradient dy·Fᵀ and its filter gradient xᵀ·dy likewise, operands read in place.
 * The cpu backend's convolutions are per-element loops: MobileNetV2's LoRA step spent 29 of
 * its 32 kernel seconds in them. Every other NHWC float32 convolution (k > 1, strides,
 * padding; dilations in the forward, the only place tfjs has them) and both its gradients run
 * as im2col + GEMM below; NCHW and other dtypes go to the cpu kernel.
 */

type Pad = tf.Conv2DAttrs['pad'];

function allOnes(v: number | number[] | undefined): boolean {
  if (v == null) return true;
  return Array.isArray(v) ? v.every((x) => x === 1) : v === 1;
}

/** A pad that adds nothing around a 1×1 stride-1 window. */
function zeroPad(pad: Pad): boolean {
  if (pad === 'same' || pad === 'valid' || pad === 0) return true;
  return Array.isArray(pad) && pad.every((pair) => pair.every((x) => x === 0));
}

function pointwise(attrs: { strides: number | number[]; pad: Pad; dataFormat?: string; dilations?: number | number[] }): boolean {
  return allOnes(attrs.strides) && allOnes(attrs.dilations) && zeroPad(attrs.pad) && (attrs.dataFormat ?? 'NHWC') === 'NHWC';
}

function gemm(backend: NativeBackend, kernelName: string, a: tf.TensorInfo, b: tf.TensorInfo, outShape: number[],
  m: number, n: number, k: number, transposeA: boolean, transposeB: boolean): tf.TensorInfo {
  const out = backend.allocate(kernelName, outShape, m * n);
  if (out.length > 0) {
    if (k === 0) out.fill(0);
    else backend.addon.matmul(backend.f32(a), backend.f32(b), out, m, n, k, transposeA, transposeB, 1, null, null, null, ACTIVATION_CODES.linear, 0);
  }
  return backend.makeTensorInfo(outShape, 'float32', out);
}

/** im2col above this many values (1 GiB) would be a large transient: the cpu kernel instead. */
const MAX_COLUMNS = 1 << 28;

type ConvInfo = tf.backend_util.Conv2DInfo;

function nhwcInfo(xShape: readonly number[], filterShape: readonly number[], strides: number | [number, number], dilations: number | [number, number],
  pad: Pad, dimRoundingMode: 'floor' | 'round' | 'ceil' | undefined): ConvInfo {
  return tf.backend_util.computeConv2DInfo(xShape as [number, number, number, number], filterShape as [number, number, number, number],
    strides, dilations, pad, dimRoundingMode, false, 'channelsLast');
}

/** The patch matrix's [rows, columns]: [b·oh·ow, kh·kw·cin]. */
function patchDims(info: ConvInfo): [number, number] {
  return [info.batchSize * info.outHeight * info.outWidth, info.filterHeight * info.filterWidth * info.inChannels];
}

/**
 * Walks every (output pixel, tap) pair in patch-matrix order: 'gather' copies x's pixel (zeros
 * where the window leaves the image) into the patch row, 'scatter' adds the patch row into x
 * (the input gradient's col2im; out-of-image taps are dropped). The channels, contiguous in
 * both, are the innermost loop.
 */
function patches(info: ConvInfo, mode: 'gather' | 'scatter', x: Float32Array, cols: Float32Array): void {
  const { batchSize, inHeight, inWidth, inChannels: cin, outHeight, outWidth, filterHeight: kh, filterWidth: kw } = info;
  const { top, left } = info.padInfo;
  let o = 0;
  for (let b = 0; b < batchSize; b++) {
    for (let oy = 0; oy < outHeight; oy++) {
      for (let ox = 0; ox < outWidth; ox++) {
        for (let ky = 0; ky < kh; ky++) {
          const iy = oy * info.strideHeight - top + ky * info.dilationHeight;
          for (let kx = 0; kx < kw; kx++) {
            const ix = ox * info.strideWidth - left + kx * info.dilationWidth;
            if (iy < 0 || iy >= inHeight || ix < 0 || ix >= inWidth) {
              if (mode === 'gather') cols.fill(0, o, o + cin);
            } else {
              const xo = ((b * inHeight + iy) * inWidth + ix) * cin;
              if (mode === 'gather') for (let ch = 0; ch < cin; ch++) cols[o + ch] = x[xo + ch];
              else for (let ch = 0; ch < cin; ch++) x[xo + ch] += cols[o + ch];
            }
            o += cin;
          }
        }
      }
    }
  }
}

/** x's patch matrix [b·oh·ow, kh·kw·cin] in a scratch buffer (the caller recycles it). */
function im2col(backend: NativeBackend, kernelName: string, x: tf.TensorInfo, info: ConvInfo): Float32Array {
  const [m, k] = patchDims(info);
  const cols = backend.allocate(kernelName, [m, k], m * k);
  patches(info, 'gather', backend.f32(x), cols);
  return cols;
}

/**
 * Any other NHWC float32 convolution, forward and both gradients, through the patch matrix
 * P = im2col(x) [b·oh·ow, kh·kw·cin], the filter's layout [kh, kw, cin, cout] being already the
 * matrix W [kh·kw·cin, cout]: y = P·W; dW = Pᵀ·dy; dx = col2im(dy·Wᵀ). One GEMM each, the patch
 * buffer recycled right after it. MobileNetV2's step: Conv2D (the 3×3 stride-2 stem and the 1×1
 * ones) 161 → 43 ms; full fine-tuning's stem filter gradient (the cpu kernel's per-element
 * loop) 5.3 s → below 0.1 s, most of that step.
 */
function im2colConv(backend: NativeBackend, x: tf.TensorInfo, filter: tf.TensorInfo, attrs: tf.Conv2DAttrs): tf.TensorInfo | null {
  const info = nhwcInfo(x.shape, filter.shape, attrs.strides, attrs.dilations, attrs.pad, attrs.dimRoundingMode);
  const [m, k] = patchDims(info);
  if (m * k > MAX_COLUMNS) return null;
  const cols = im2col(backend, tf.Conv2D, x, info);
  const out = backend.allocate(tf.Conv2D, info.outShape, m * info.outChannels);
  if (out.length > 0) {
    if (k === 0) out.fill(0);
    else backend.addon.matmul(cols, backend.f32(filter), out, m, info.outChannels, k, false, false, 1, null, null, null, ACTIVATION_CODES.linear, 0);
  }
  backend.recycle(cols);
  return backend.makeTensorInfo(info.outShape, 'float32', out);
}

/** dW = Pᵀ·dy [kh·kw·cin, cout]; null (the cpu kernel) when the patch matrix would be too large. */
function im2colFilterGrad(backend: NativeBackend, x: tf.TensorInfo, dy: tf.TensorInfo, attrs: tf.Conv2DBackpropFilterAttrs): tf.TensorInfo | null {
  const info = nhwcInfo(x.shape, attrs.filterShape, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode);
  if (!sameShape(dy.shape, info.outShape)) return null;
  const [m, k] = patchDims(info);
  if (m * k > MAX_COLUMNS) return null;
  const cout = info.outChannels;
  const out = backend.allocate(tf.Conv2DBackpropFilter, [...attrs.filterShape], k * cout);
  if (out.length > 0) {
    if (m === 0) out.fill(0);
    else {
      const cols = im2col(backend, tf.Conv2DBackpropFilter, x, info);
      backend.addon.matmul(cols, backend.f32(dy), out, k, cout, m, true, false, 1, null, null, null, ACTIVATION_CODES.linear, 0);
      backend.recycle(cols);
    }
  }
  return backend.makeTensorInfo([...attrs.filterShape], 'float32', out);
}

/** dx = col2im(dy·Wᵀ); null (the cpu kernel) when the patch matrix would be too large. */
function im2colInputGrad(backend: NativeBackend, dy: tf.TensorInfo, filter: tf.TensorInfo, attrs: tf.Conv2DBackpropInputAttrs): tf.TensorInfo | null {
  const inputShape = [...attrs.inputShape];
  const info = nhwcInfo(inputShape, filter.shape, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode);
  if (!sameShape(dy.shape, info.outShape)) return null;
  const [m, k] = patchDims(info);
  if (m * k > MAX_COLUMNS) return null;
  const dx = backend.allocate(tf.Conv2DBackpropInput, inputShape, tf.util.sizeFromShape(inputShape));
  dx.fill(0);
  if (m > 0 && k > 0) {
    const dcols = backend.allocate(tf.Conv2DBackpropInput, [m, k], m * k);
    backend.addon.matmul(backend.f32(dy), backend.f32(filter), dcols, m, k, info.outChannels, false, true, 1, null, null, null, ACTIVATION_CODES.linear, 0);
    patches(info, 'scatter', dx, dcols);
    backend.recycle(dcols);
  }
  return backend.makeTensorInfo(inputShape, 'float32', dx);
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

const conv2d: KernelMaker = (fallback) => (args) => {
  const { x, filter } = args.inputs as { x: tf.TensorInfo; filter: tf.TensorInfo };
  const attrs = args.attrs as unknown as tf.Conv2DAttrs;
  const [kh, kw, cin, cout] = filter.shape;
  if (x.dtype !== 'float32' || filter.dtype !== 'float32' || x.shape.length !== 4 || filter.shape.length !== 4 || x.shape[3] !== cin
    || (attrs.dataFormat ?? 'NHWC') !== 'NHWC') return fallback(args);
  const backend = args.backend as NativeBackend;
  if (kh === 1 && kw === 1 && pointwise(attrs)) {
    const [b, h, w] = x.shape;
    return gemm(backend, tf.Conv2D, x, filter, [b, h, w, cout], b * h * w, cout, cin, false, false);
  }
  return im2colConv(backend, x, filter, attrs) ?? fallback(args);
};

const conv2dBackpropInput: KernelMaker = (fallback) => (args) => {
  const { dy, filter } = args.inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
  const attrs = args.attrs as unknown as tf.Conv2DBackpropInputAttrs;
  const [kh, kw, cin, cout] = filter.shape;
  const inputShape = [...attrs.inputShape];
  if (dy.dtype !== 'float32' || filter.dtype !== 'float32' || dy.shape.length !== 4 || filter.shape.length !== 4
    || dy.shape[3] !== cout || inputShape.length !== 4 || inputShape[3] !== cin || (attrs.dataFormat ?? 'NHWC') !== 'NHWC') return fallback(args);
  const backend = args.backend as NativeBackend;
  const [b, h, w] = dy.shape;
  if (kh === 1 && kw === 1 && pointwise(attrs) && inputShape[0] === b && inputShape[1] === h && inputShape[2] === w) {
    return gemm(backend, tf.Conv2DBackpropInput, dy, filter, inputShape, b * h * w, cin, cout, false, true);
  }
  return im2colInputGrad(backend, dy, filter, attrs) ?? fallback(args);
};

const conv2dBackpropFilter: KernelMaker = (fallback) => (args) => {
  const { x, dy } = args.inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const attrs = args.attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  const [kh, kw, cin, cout] = attrs.filterShape;
  if (x.dtype !== 'float32' || dy.dtype !== 'float32' || x.shape.length !== 4 || dy.shape.length !== 4 || attrs.filterShape.length !== 4
    || x.shape[3] !== cin || dy.shape[3] !== cout || (attrs.dataFormat ?? 'NHWC') !== 'NHWC') return fallback(args);
  const backend = args.backend as NativeBackend;
  const [b, h, w] = x.shape;
  if (kh === 1 && kw === 1 && pointwise(attrs) && dy.shape[0] === b && dy.shape[1] === h && dy.shape[2] === w) {
    return gemm(backend, tf.Conv2DBackpropFilter, x, dy, [1, 1, cin, cout], cin, cout, b * h * w, true, false);
  }
  return im2colFilterGrad(backend, x, dy, attrs) ?? fallback(args);
};

export const CONV_KERNELS: ReadonlyArray<[string, KernelMaker]> = [
  [tf.Conv2D, conv2d],
  [tf.Conv2DBackpropInput, conv2dBackpropInput],
  [tf.Conv2DBackpropFilter, conv2dBackpropFilter],
];
