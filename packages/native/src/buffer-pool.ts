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

/**
 * Free buffers of a size nobody asked for in this many requests are let go. A training step
 * asks for the same sizes every time, so they stay; sizes of a one-off shape (the short last
 * batch of an epoch, an evaluation) would otherwise sit in the pool for the rest of the run.
 */
export const POOL_IDLE_REQUESTS = 20000;

export class BufferPool {
  /** Bytes held in the free lists. */
  bytes = 0;
  private readonly free = new Map<number, Float32Array[]>();
  private readonly tracked = new WeakMap<ArrayBufferLike, Tracked>();
  /** Request count, and the request at which each size was last asked for. */
  private requests = 0;
  private readonly lastAsked = new Map<number, number>();

  constructor(private capBytes: number, private readonly idleRequests = POOL_IDLE_REQUESTS) {}

  /** A free buffer of exactly `size` elements (contents left over), or null. */
  take(size: number): Float32Array | null {
    this.requests++;
    this.lastAsked.set(size, this.requests);
    if (this.requests % 1024 === 0) this.dropIdle();
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

  /** Lets GC have the free buffers of sizes not asked for in the last `idleRequests` requests. */
  private dropIdle(): void {
    for (const [size, list] of this.free) {
      if (this.requests - (this.lastAsked.get(size) ?? 0) <= this.idleRequests) continue;
      for (const array of list) this.bytes -= array.byteLength;
      this.free.delete(size);
      this.lastAsked.delete(size);
    }
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
