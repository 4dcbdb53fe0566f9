import { BufferPool, cgroupMemoryMax, loadAddon, NativeBackend, parseMemorySize, POOL_MIN_ELEMENTS, resolveMemoryLimit } from '@leantune/native';
import { OutOfMemoryError, tf } from '@leantune/tensor';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { useNativeBackend } from './counting-addon';
import { seededValues } from './reference';

// Tensors of the native backend are ordinary TypedArrays under a budget: an output that
// would pass it (or that the engine cannot allocate) is an OutOfMemoryError, never a stall.
const native = (): NativeBackend => tf.backend() as NativeBackend;
const MB = 1024 ** 2;

beforeAll(() => useNativeBackend(loadAddon()));
afterEach(() => native().setMemoryLimit(os.totalmem()));

describe('the memory limit', () => {
  it('reads bytes or sizes with a suffix, from the option, LEANTUNE_MEMORY_LIMIT, the cgroup or the machine', () => {
    expect(parseMemorySize('6g', 'x')).toBe(6 * 1024 ** 3);
    expect(parseMemorySize('512M', 'x')).toBe(512 * MB);
    expect(parseMemorySize('1.5 GiB', 'x')).toBe(1.5 * 1024 ** 3);
    expect(parseMemorySize('123456', 'x')).toBe(123456);
    expect(() => parseMemorySize('lots', 'LEANTUNE_MEMORY_LIMIT')).toThrow("LEANTUNE_MEMORY_LIMIT: 'lots' is not a memory size");
    expect(resolveMemoryLimit('2g', { LEANTUNE_MEMORY_LIMIT: '6g' })).toEqual({ bytes: 2 * 1024 ** 3, source: 'memoryLimit option 2g' });
    expect(resolveMemoryLimit(undefined, { LEANTUNE_MEMORY_LIMIT: '6g' })).toEqual({ bytes: 6 * 1024 ** 3, source: 'LEANTUNE_MEMORY_LIMIT=6g' });
    expect(resolveMemoryLimit(undefined, {}, 2 * 1024 ** 3).bytes).toBe(Math.floor(0.9 * 2 * 1024 ** 3));
    expect(resolveMemoryLimit(undefined, {}, null)).toMatchObject({ bytes: Math.floor(0.9 * os.totalmem()), source: expect.stringMatching(/^90% of the machine's memory/) });
  });

  it('takes memory.max from cgroup v2 unless it says max', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cgroup-'));
    const file = path.join(dir, 'memory.max');
    fs.writeFileSync(file, '2147483648\n');
    expect(cgroupMemoryMax(file)).toBe(2147483648);
    fs.writeFileSync(file, 'max\n');
    expect(cgroupMemoryMax(file)).toBeNull();
    expect(cgroupMemoryMax(path.join(dir, 'absent'))).toBeNull();
    fs.rmSync(dir, { recursive: true });
  });
});

describe('allocation under the budget', () => {
  it('counts live bytes as tf.memory() does, and frees them on dispose', () => {
    const before = native().liveBytes;
    const x = tf.tensor(seededValues(64 * 1024, 1), [256, 256]);
    const y = tf.tidy(() => tf.matMul(tf.tanh(x), x));
    expect(native().liveBytes - before).toBe(2 * 256 * 256 * 4);
    expect(tf.memory()).toMatchObject({ numBytes: expect.any(Number), nativeBytes: native().liveBytes });
    tf.dispose([x, y]);
    expect(native().liveBytes).toBe(before);
  });

  it('throws OutOfMemoryError naming size, shape, kernel, live tensors, the limit and the ways out', () => {
    const x = tf.tensor(seededValues(512 * 512, 2), [512, 512]);
    const tensors = tf.memory().numTensors;
    native().setMemoryLimit(native().liveBytes + 0.5 * MB);
    let error: unknown;
    try {
      tf.tidy(() => tf.matMul(x, x));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(OutOfMemoryError);
    const message = (error as Error).message;
    expect(message).toMatch(/out of memory on the native backend: 1\.0 MB asked by BatchMatMul for a float32 \[512, 512\] output/);
    expect(message).toMatch(/limit \d+\.\d MB, memoryLimit option/);
    expect(message).toMatch(new RegExp(`${tensors} tensors per tf\\.memory\\(\\)`));
    expect(message).toMatch(/smaller batchSize.*gradientCheckpointing.*LoRA\/PEFT.*LEANTUNE_MEMORY_LIMIT/);
    expect((error as OutOfMemoryError).details).toMatchObject({ kernel: 'BatchMatMul', shape: [512, 512], requestedBytes: MB });
    // Nothing leaked, and the backend works again once the limit allows.
    expect(tf.memory().numTensors).toBe(tensors);
    native().setMemoryLimit(os.totalmem());
    expect(tf.tidy(() => tf.sum(tf.matMul(x, x)).dataSync()[0])).toEqual(expect.any(Number));
    x.dispose();
  });

  it('refuses cpu-kernel outputs and new tensors past the limit too, naming the kernel', () => {
    const x = tf.tensor(seededValues(300 * 300, 3), [300, 300]);
    native().setMemoryLimit(native().liveBytes + 100 * 1024);
    expect(() => tf.tidy(() => tf.concat([x, x]))).toThrow(/asked by Concat for a float32 \[600, 300\] output/);
    expect(() => tf.zeros([1000, 1000])).toThrow(OutOfMemoryError);
    x.dispose();
  });

  it('turns a failed allocation into OutOfMemoryError instead of a RangeError', () => {
    native().setMemoryLimit(Number.MAX_SAFE_INTEGER);
    // 2^33 elements: more than a typed array may hold.
    expect(() => tf.tidy(() => tf.matMul(tf.ones([65536, 1]), tf.ones([1, 131072])))).toThrow(/the allocation failed/);
  });
});

describe('recycled output buffers', () => {
  it('reuse only buffers nothing can see: not read ones, not ones a slice view still holds', () => {
    const x = tf.tensor(seededValues(256 * 256, 4), [256, 256]);
    const first = tf.tanh(x);
    const read = first.dataSync();
    const copy = Float32Array.from(read);
    first.dispose();
    const second = tf.tidy(() => tf.neg(x));
    expect(Array.from(read)).toEqual(Array.from(copy)); // dataSync's array was not recycled into `second`
    const view = tf.tidy(() => tf.slice(tf.exp(x), [0, 0], [128, 256])); // cpu Slice: a subarray of exp's buffer
    // Read from the backend's store: dataSync would mark the buffer as handed out.
    const stored = (): number[] => Array.from(native().data.get(view.dataId).values as Float32Array);
    const viewValues = stored();
    tf.tidy(() => [tf.abs(x), tf.neg(tf.abs(x))]);
    expect(stored()).toEqual(viewValues);
    tf.dispose([x, second, view]);
    expect(native().pooledBytes).toBeLessThanOrEqual(native().memoryLimit.bytes / 4);
  });
});

describe('the buffer pool lets go of sizes nobody asks for any more', () => {
  it('keeps the sizes every step asks for and drops a one-off shape\'s buffers', () => {
    const pool = new BufferPool(1e9, 3000);
    const oneOff = new Float32Array(POOL_MIN_ELEMENTS * 2);
    const steady = new Float32Array(POOL_MIN_ELEMENTS);
    pool.recycle(oneOff);
    pool.recycle(steady);
    expect(pool.bytes).toBe(oneOff.byteLength + steady.byteLength);
    // A training loop: the steady size is asked for (and given back) again and again.
    for (let i = 0; i < 4096; i++) pool.recycle(pool.take(steady.length) ?? new Float32Array(steady.length));
    expect(pool.bytes).toBe(steady.byteLength);
    expect(pool.take(oneOff.length)).toBeNull();
    expect(pool.take(steady.length)).toBe(steady);
  });
});
