/**
 * Index arithmetic for the native elementwise and reduction kernels: broadcasting expressed
 * as strides (0 on a broadcast axis) over the output shape, with runs of axes that walk
 * memory the same way merged, so most products reach the addon as 1-D (same shapes) or
 * 2-D (a row or a column broadcast) loops.
 */
export interface StridedBinary {
  shape: Int32Array;
  aStrides: Int32Array;
  bStrides: Int32Array;
}

/** Strides of `inShape` read as `outShape` (right-aligned, numpy rules). */
export function broadcastStrides(inShape: readonly number[], outShape: readonly number[]): number[] {
  const strides = new Array<number>(outShape.length).fill(0);
  let stride = 1;
  for (let d = outShape.length - 1, i = inShape.length - 1; d >= 0 && i >= 0; d--, i--) {
    strides[d] = inShape[i] === 1 ? 0 : stride;
    stride *= inShape[i];
  }
  return strides;
}

export function stridedBinary(aShape: readonly number[], bShape: readonly number[], outShape: readonly number[]): StridedBinary {
  const as = broadcastStrides(aShape, outShape);
  const bs = broadcastStrides(bShape, outShape);
  const shape: number[] = [];
  const sa: number[] = [];
  const sb: number[] = [];
  for (let d = 0; d < outShape.length; d++) {
    if (outShape[d] === 1) continue;
    const last = shape.length - 1;
    // Merge with the previous axis when both inputs step through it as one longer axis.
    if (last >= 0 && sa[last] === as[d] * outShape[d] && sb[last] === bs[d] * outShape[d]) {
      shape[last] *= outShape[d];
      sa[last] = as[d];
      sb[last] = bs[d];
      continue;
    }
    shape.push(outShape[d]);
    sa.push(as[d]);
    sb.push(bs[d]);
  }
  if (shape.length === 0) return { shape: Int32Array.of(1), aStrides: Int32Array.of(0), bStrides: Int32Array.of(0) };
  return { shape: Int32Array.from(shape), aStrides: Int32Array.from(sa), bStrides: Int32Array.from(sb) };
}

/** `x` reduced over `axes` as [outer, reduce, inner]; null when the axes are not one contiguous run. */
export function reductionView(shape: readonly number[], axes: readonly number[]): { outer: number; reduce: number; inner: number } | null {
  // Size-1 axes do not move memory: drop them from the run before checking contiguity.
  const moving = [...new Set(axes)].filter((a) => shape[a] !== 1).sort((x, y) => x - y);
  if (moving.length === 0) return { outer: shape.reduce((p, d) => p * d, 1), reduce: 1, inner: 1 };
  const first = moving[0];
  const last = moving[moving.length - 1];
  for (let d = first; d <= last; d++) {
    if (shape[d] !== 1 && !moving.includes(d)) return null;
  }
  const product = (from: number, to: number): number => shape.slice(from, to).reduce((p, d) => p * d, 1);
  return { outer: product(0, first), reduce: product(first, last + 1), inner: product(last + 1, shape.length) };
}
