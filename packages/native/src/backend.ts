import { OutOfMemoryError, tf, type AdamWStep, type QuantizedWeight, type RandomFill } from '@leantune/tensor';
import { adamwInPlace, randomFill } from './fused-kernels';
import { quantMatMul } from './matmul-kernels';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { NativeAddon } from './addon';
import { BufferPool } from './buffer-pool';
import { resolveMemoryLimit, type MemoryLimit } from './memory-limit';

/** The name tfjs knows this backend by. */
export const NATIVE_BACKEND_NAME = 'native';

export interface NativeBackendOptions {
  /** Bytes (or '6g') live tensors may take; default LEANTUNE_MEMORY_LIMIT, else 90% of the process's memory. */
  memoryLimit?: number | string;
}

type Values = tf.backend_util.BackendValues | undefined;

function byteLength(values: Values): number {
  return (values as ArrayBufferView | undefined)?.byteLength ?? 0;
}

/** Free buffers kept for reuse: a quarter of the limit, at most 2 GiB (they count against the limit; dropped before refusing). */
function poolCap(limitBytes: number): number {
  return Math.min(limitBytes / 4, 2 * 1024 ** 3);
}

/** RangeError "Array buffer allocation failed" (or "Invalid typed array length" past the engine's maximum). */
function isAllocationFailure(error: unknown): boolean {
  return error instanceof RangeError && /allocation failed|typed array length|Array buffer/i.test(error.message);
}

/**
 * tfjs's cpu backend with every tensor in its own TypedArray (so the process's memory, not a
 * 4 GiB wasm heap, is the limit) and the hot kernels computed by the addon (see kernels.ts).
 * Every buffer it stores is counted; an allocation that would pass the budget, or that the
 * engine refuses, becomes an OutOfMemoryError naming the sizes and the ways out.
 */
export class NativeBackend extends MathBackendCPU {
  /** Bytes of the buffers stored now (including intermediates no tf.Tensor holds). */
  liveBytes = 0;
  private limit: MemoryLimit;
  private readonly pool: BufferPool;

  constructor(public addon: NativeAddon, options: NativeBackendOptions = {}) {
    super();
    this.limit = resolveMemoryLimit(options.memoryLimit);
    this.pool = new BufferPool(poolCap(this.limit.bytes));
    // Backend choice is @leantune/tensor's (it records and logs it): no "install tfjs-node" banner.
    (this as unknown as { firstUse: boolean }).firstUse = false;
  }

  get memoryLimit(): MemoryLimit {
    return { ...this.limit };
  }

  setMemoryLimit(limit: number | string): void {
    this.limit = resolveMemoryLimit(limit);
    this.pool.setCap(poolCap(this.limit.bytes));
  }

  /** Bytes held by free buffers awaiting reuse. */
  get pooledBytes(): number {
    return this.pool.bytes;
  }

  /**
   * The one way native kernels get an output buffer (contents undefined: the kernel writes
   * every element): a recycled one of that size, else a new one within the budget. A
   * refusal or a failed allocation is an OutOfMemoryError. makeTensorInfo stores it.
   */
  allocate(kernel: string, shape: number[], size: number): Float32Array {
    const recycled = this.pool.take(size);
    if (recycled != null) return recycled;
    const bytes = 4 * size;
    if (this.liveBytes + this.pool.bytes + bytes > this.limit.bytes) {
      this.pool.clear();
      if (this.liveBytes + bytes > this.limit.bytes) throw this.outOfMemory(kernel, shape, 'float32', bytes, false);
    }
    let array: Float32Array;
    try {
      array = new Float32Array(size);
    } catch (error) {
      if (isAllocationFailure(error)) throw this.outOfMemory(kernel, shape, 'float32', bytes, true);
      throw error;
    }
    this.pool.adopt(array);
    return array;
  }

  /** A kernel's scratch buffer from allocate, no longer needed. */
  recycle(array: Float32Array): void {
    this.pool.recycle(array);
  }

  /**
   * A float32 tensor's values as a Float32Array. Usually its own storage; a copy when the cpu
   * Cast shared a bool tensor's Uint8Array under dtype float32 (it does so for casts without
   * loss, e.g. a dropout mask), which the addon cannot read as floats.
   */
  f32(info: tf.TensorInfo): Float32Array {
    const values = this.data.get(info.dataId).values;
    return values instanceof Float32Array ? values : Float32Array.from(values as ArrayLike<number>);
  }

  i32(info: tf.TensorInfo): Int32Array {
    return this.data.get(info.dataId).values as Int32Array;
  }

  /** Nesting depth of makeTensorInfo: a write inside it stores a kernel's own output. */
  private kernelWrites = 0;
  /**
   * Buffers someone outside the backend can see: the array a caller passed to tf.tensor(), or
   * values handed out by dataSync or moved from another backend. In-place kernels (AdamW)
   * never write into them; the caller's array must not change under it.
   */
  private readonly foreign = new WeakSet<ArrayBufferLike>();

  /** A kernel's output (cpu or native) becomes a tensor: its buffer is the backend's own. */
  override makeTensorInfo(shape: number[], dtype: tf.DataType, values?: tf.backend_util.BackendValues | string[]): tf.TensorInfo {
    this.kernelWrites++;
    try {
      return super.makeTensorInfo(shape, dtype, values);
    } finally {
      this.kernelWrites--;
    }
  }

  /** Whether `values` lives in a buffer someone outside the backend can see (see `foreign`). */
  isForeign(values: unknown): boolean {
    const buffer = (values as ArrayBufferView | undefined)?.buffer;
    return buffer != null && this.foreign.has(buffer);
  }

  private markForeign(values: unknown): void {
    const buffer = (values as ArrayBufferView | undefined)?.buffer;
    if (buffer != null) this.foreign.add(buffer);
  }

  /** Every buffer enters here: outputs of native and cpu kernels, and tf.tensor() data. */
  override write(values: tf.backend_util.BackendValues, shape: number[], dtype: tf.DataType): tf.DataId {
    const bytes = byteLength(values);
    if (this.liveBytes + bytes > this.limit.bytes) throw this.outOfMemory('tensor creation', shape, dtype, bytes, false);
    // Outside makeTensorInfo the values are a caller's array (tf.tensor): the tensor stores it as is.
    if (this.kernelWrites === 0) this.markForeign(values);
    const dataId = super.write(values, shape, dtype);
    this.liveBytes += bytes;
    this.pool.retain(values);
    return dataId;
  }

  /** Whether a stored tensor other than its owner views `values`' buffer (a cpu Slice): in-place updates must not. */
  viewedElsewhere(values: Float32Array): boolean {
    return this.pool.references(values) > 1;
  }

  /** AdamW in place (the backend capability @leantune/train's AdamW uses). */
  adamwInPlace(param: tf.Variable, grad: tf.Tensor, m: tf.Variable, v: tf.Variable, step: AdamWStep): boolean {
    return adamwInPlace(this, param, grad, m, v, step);
  }

  /** Seeded native fill (the backend capability @leantune/tensor's init and dropout use). */
  randomFill(shape: readonly number[], fill: RandomFill): tf.Tensor {
    return randomFill(this, shape, fill);
  }

  /** Capability: x·Wᵀ or x·W for a quantized W, dequantized inside the GEMM (see quantMatMul). */
  quantizedMatMul(x: tf.Tensor2D, weight: QuantizedWeight, transposeW: boolean): tf.Tensor2D | undefined {
    return quantMatMul(this, x, weight, transposeW);
  }

  /** Values leave the backend (dataSync, data, a move to another backend): their buffer is never recycled. */
  override readSync(dataId: tf.DataId): tf.backend_util.BackendValues {
    this.pool.escape(this.data.get(dataId).values);
    this.markForeign(this.data.get(dataId).values);
    return super.readSync(dataId);
  }

  /** Data moved here from another backend (engine.moveData). */
  override move(dataId: tf.DataId, values: tf.backend_util.BackendValues, shape: number[], dtype: tf.DataType, refCount: number): void {
    super.move(dataId, values, shape, dtype, refCount);
    this.markForeign(values);
    this.liveBytes += byteLength(values);
  }

  override disposeData(dataId: tf.DataId, force = false): boolean {
    if (!this.data.has(dataId)) return true;
    const values = this.data.get(dataId).values;
    const released = super.disposeData(dataId, force);
    if (released) {
      this.liveBytes -= byteLength(values);
      this.pool.release(values);
    }
    return released;
  }

  override memory(): { unreliable: boolean; reasons: string[]; nativeBytes: number; nativeLimitBytes: number; nativePooledBytes: number } {
    return { ...super.memory(), nativeBytes: this.liveBytes, nativeLimitBytes: this.limit.bytes, nativePooledBytes: this.pool.bytes };
  }

  override dispose(): void {
    super.dispose();
    this.liveBytes = 0;
    this.pool.clear();
  }

  /**
   * A cpu kernel (which allocates its own arrays) failed: an allocation failure becomes an
   * OutOfMemoryError naming the kernel; an over-budget write is re-labelled with the kernel.
   */
  explainFailure(error: unknown, kernel: string): unknown {
    if (error instanceof OutOfMemoryError && error.details.kernel === 'tensor creation') {
      return new OutOfMemoryError({ ...error.details, kernel });
    }
    if (isAllocationFailure(error)) return this.outOfMemory(kernel, undefined, undefined, 0, true);
    return error;
  }

  private outOfMemory(kernel: string, shape: number[] | undefined, dtype: string | undefined, bytes: number, allocationFailed: boolean): OutOfMemoryError {
    const { numTensors } = tf.memory();
    return new OutOfMemoryError({
      backend: NATIVE_BACKEND_NAME, kernel, shape, dtype, requestedBytes: bytes, liveBytes: this.liveBytes, liveTensors: numTensors,
      limitBytes: this.limit.bytes, limitSource: this.limit.source, allocationFailed,
    });
  }
}
