/**
 * Float32 output buffers of native kernels, recycled by size. A training step allocates the
 * same few hundred sizes over and over (~1 GB per step of the reference decoder); fresh
 * `new Float32Array(n)` of that size is an mmap, page faults on first touch and a munmap
 * when GC frees it, plus GC pressure from external memory, which tripled the step time.
 *
 * Recycling is only safe for a buffer no one else can still see, so a buffer is tracked
 * from its allocation: `retain` counts the stored tensors whose values are it or a view of
 * it (a cpu Slice returns a subarray view), `release` drops one and recycles the buffer at
 * zero, and `escape` (its values were handed out, e.g. by dataSync or to another backend)
 * stops tracking it for good. Buffers that entered any other way are never recycled.
 */

interface Tracked {
  array: Float32Array;
  refs: number;
}

/** Below this many elements a fresh array is cheap (no mmap): not worth tracking. */
export const POOL_MIN_ELEMENTS = 16384;

export class BufferPool {
  /** Bytes held in the free lists. */
  bytes = 0;
  private readonly free = new Map<number, Float32Array[]>();
  private readonly tracked = new WeakMap<ArrayBufferLike, Tracked>();

  constructor(private capBytes: number) {}

  /** A free buffer of exactly `size` elements (contents left over), or null. */
  take(size: number): Float32Array | null {
    const list = this.free.get(size);
    const array = list?.pop();
    if (array == null) return null;
    this.bytes -= array.byteLength;
    this.tracked.set(array.buffer, { array, refs: 0 });
    return array;
  }

  /** Starts tracking a buffer just allocated for a kernel's output. */
  adopt(array: Float32Array): void {
    if (array.length >= POOL_MIN_ELEMENTS) this.tracked.set(array.buffer, { array, refs: 0 });
  }

  /** A stored tensor now holds `values` (or a view of a tracked buffer). */
  retain(values: unknown): void {
    const entry = this.entry(values);
    if (entry != null) entry.refs++;
  }

  /** A stored tensor holding `values` was deleted: the buffer is free when it was the last. */
  release(values: unknown): void {
    const entry = this.entry(values);
    if (entry == null || --entry.refs > 0) return;
    this.recycle(entry.array);
  }

  /** How many stored tensors hold this buffer or a view of it (0 when untracked). */
  references(values: unknown): number {
    return this.entry(values)?.refs ?? 0;
  }

  /** The values were handed out of the backend: never recycle them. */
  escape(values: unknown): void {
    const buffer = (values as ArrayBufferView | undefined)?.buffer;
    if (buffer != null) this.tracked.delete(buffer);
  }

  /** Puts a buffer that nothing refers to (a kernel's scratch, a released output) on the free list. */
  recycle(array: Float32Array): void {
    this.tracked.delete(array.buffer);
    if (array.length < POOL_MIN_ELEMENTS || this.bytes + array.byteLength > this.capBytes) return;
    const list = this.free.get(array.length);
    if (list == null) this.free.set(array.length, [array]);
    else list.push(array);
    this.bytes += array.byteLength;
  }

  /** Lets GC have every free buffer (before refusing an allocation, or on dispose). */
  clear(): void {
    this.free.clear();
    this.bytes = 0;
  }

  setCap(capBytes: number): void {
    this.capBytes = capBytes;
    if (this.bytes > capBytes) this.clear();
  }

  private entry(values: unknown): Tracked | undefined {
    const buffer = (values as ArrayBufferView | undefined)?.buffer;
    return buffer == null ? undefined : this.tracked.get(buffer);
  }
}
