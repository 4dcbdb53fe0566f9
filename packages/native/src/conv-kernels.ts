import { tf } from '@leantune/tensor';
import { ACTIVATION_CODES } from './addon';
import type { NativeBackend } from './backend';
import type { KernelMaker } from './kernels';

/**
 * 1×1 stride-1 convolutions (NHWC, no dilation, so no padding either way) by the native GEMM:
 * x [b, h, w, cin] with a filter [1, 1, cin, cout] is the product [b·h·w, cin]·[cin, cout];
 * its input gradient dy·Fᵀ and its filter gradient xᵀ·dy likewise, operands read in place.
 * The cpu backend's convolutions are per-element loops: MobileNetV2's LoRA step spent 29 of
 * its 32 kernel seconds in them. Other forward convolutions (NHWC, float32) run as im2col +
 * GEMM below; the gradients of those (k > 1, strides, dilations, padding), NCHW and other
 * dtypes go to the cpu kernel.
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

/**
 * Any other NHWC float32 forward convolution as im2col + GEMM: the patches of x as rows
 * [b·oh·ow, kh·kw·cin] (zeros where the window leaves the image), times the filter, whose
 * layout [kh, kw, cin, cout] is already that matrix's [kh·kw·cin, cout]. The patch buffer is
 * recycled right after the product. MobileNetV2's step: Conv2D (the 3×3 stride-2 stem and
 * the 1×1 ones) 161 → 43 ms.
 */
function im2colConv(backend: NativeBackend, x: tf.TensorInfo, filter: tf.TensorInfo, attrs: tf.Conv2DAttrs): tf.TensorInfo | null {
  const info = tf.backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filter.shape as [number, number, number, number],
    attrs.strides, attrs.dilations, attrs.pad, attrs.dimRoundingMode, false, 'channelsLast');
  const { batchSize, inHeight, inWidth, inChannels: cin, outHeight, outWidth, outChannels: cout, filterHeight: kh, filterWidth: kw } = info;
  const m = batchSize * outHeight * outWidth;
  const k = kh * kw * cin;
  if (m * k > MAX_COLUMNS) return null;
  const cols = backend.allocate(tf.Conv2D, [m, k], m * k);
  const xs = backend.f32(x);
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
              cols.fill(0, o, o + cin);
            } else {
              const xo = ((b * inHeight + iy) * inWidth + ix) * cin;
              for (let ch = 0; ch < cin; ch++) cols[o + ch] = xs[xo + ch];
            }
            o += cin;
          }
        }
      }
    }
  }
  const out = backend.allocate(tf.Conv2D, info.outShape, m * cout);
  if (out.length > 0) {
    if (k === 0) out.fill(0);
    else backend.addon.matmul(cols, backend.f32(filter), out, m, cout, k, false, false, 1, null, null, null, ACTIVATION_CODES.linear, 0);
  }
  backend.recycle(cols);
  return backend.makeTensorInfo(info.outShape, 'float32', out);
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
  if (dy.dtype !== 'float32' || filter.dtype !== 'float32' || dy.shape.length !== 4 || kh !== 1 || kw !== 1
    || dy.shape[3] !== cout || inputShape.length !== 4 || inputShape[3] !== cin || !pointwise(attrs)) return fallback(args);
  const [b, h, w] = dy.shape;
  if (inputShape[0] !== b || inputShape[1] !== h || inputShape[2] !== w) return fallback(args);
  return gemm(args.backend as NativeBackend, tf.Conv2DBackpropInput, dy, filter, inputShape, b * h * w, cin, cout, false, true);
};

const conv2dBackpropFilter: KernelMaker = (fallback) => (args) => {
  const { x, dy } = args.inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const attrs = args.attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  const [kh, kw, cin, cout] = attrs.filterShape;
  if (x.dtype !== 'float32' || dy.dtype !== 'float32' || x.shape.length !== 4 || dy.shape.length !== 4 || kh !== 1 || kw !== 1
    || x.shape[3] !== cin || dy.shape[3] !== cout || !pointwise(attrs)) return fallback(args);
  const [b, h, w] = x.shape;
  if (dy.shape[0] !== b || dy.shape[1] !== h || dy.shape[2] !== w) return fallback(args);
  return gemm(args.backend as NativeBackend, tf.Conv2DBackpropFilter, x, dy, [1, 1, cin, cout], cin, cout, b * h * w, true, false);
};

export const CONV_KERNELS: ReadonlyArray<[string, KernelMaker]> = [
  [tf.Conv2D, conv2d],
  [tf.Conv2DBackpropInput, conv2dBackpropInput],
  [tf.Conv2DBackpropFilter, conv2dBackpropFilter],
];
