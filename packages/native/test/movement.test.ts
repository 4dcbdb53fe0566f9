import { loadAddon, transposePlan } from '@leantune/native';
import { tf } from '@leantune/tensor';
import { countingAddon, useNativeBackend } from './counting-addon';
import { maxAbsDiff, seededValues } from './reference';

// Transpose, GatherV2 and UnsortedSegmentSum of the native backend against the cpu backend.
const counted = countingAddon(loadAddon());

beforeAll(() => useNativeBackend(counted.addon));

const t = (shape: number[], seed: number): tf.Tensor => tf.tensor(seededValues(tf.util.sizeFromShape(shape), seed), shape);

async function both(fn: () => tf.Tensor): Promise<{ ours: Float32Array; reference: Float32Array; shapes: [number[], number[]]; native: boolean }> {
  const read = (): [Float32Array, number[]] => {
    const out = tf.tidy(fn);
    const result: [Float32Array, number[]] = [out.dataSync() as Float32Array, out.shape];
    out.dispose();
    return result;
  };
  await tf.setBackend('native');
  const calls = counted.calls();
  const [ours, oursShape] = read();
  const native = counted.calls() > calls;
  await tf.setBackend('cpu');
  const [reference, referenceShape] = read();
  return { ours, reference, shapes: [oursShape, referenceShape], native };
}

describe('native data movement', () => {
  it.each([
    [[2, 32, 2304], [0, 0, 768], [2, 32, 768]],
    [[10, 9, 8, 9], [1, 2, 1, 2], [8, 6, 6, 6]],
    [[64, 48], [3, 5], [50, -1]],
  ])('Slice of %j at %j size %j (not one contiguous run) equals the cpu backend', async (shape, begin, size) => {
    const r = await both(() => tf.slice(t(shape, 2), begin, size));
    expect(r.native).toBe(true);
    expect(r.shapes[0]).toEqual(r.shapes[1]);
    expect(Array.from(r.ours)).toEqual(Array.from(r.reference));
  });

  it('SplitV along the last axis (GPT-2\'s q, k, v) gives the cpu backend\'s pieces', async () => {
    for (const piece of [0, 1, 2]) {
      const r = await both(() => tf.split(t([2, 64, 96], 3), [32, 48, 16], -1)[piece]);
      expect(r.native).toBe(true);
      expect(r.shapes[0]).toEqual(r.shapes[1]);
      expect(Array.from(r.ours)).toEqual(Array.from(r.reference));
    }
  });

  it.each([
    [[8, 12, 4, 16], [0, 2, 1, 3]],
    [[64, 48], [1, 0]],
    [[6, 7, 8, 9], [3, 1, 0, 2]],
    [[2, 1, 32, 33], [1, 0, 3, 2]],
  ])('Transpose %j by %j equals the cpu backend', async (shape, perm) => {
    const r = await both(() => tf.transpose(t(shape, 1), perm));
    expect(r.native).toBe(true);
    expect(r.shapes[0]).toEqual(r.shapes[1]);
    expect(Array.from(r.ours)).toEqual(Array.from(r.reference));
  });

  it('merges the axes a transpose keeps together', () => {
    expect(transposePlan([8, 12, 4, 16], [0, 2, 1, 3])).toEqual({ outShape: [8, 4, 12, 16], shape: Int32Array.of(8, 4, 12, 16), strides: Int32Array.of(768, 16, 64, 1) });
    expect(transposePlan([2, 3, 4], [0, 1, 2])).toEqual({ outShape: [2, 3, 4], shape: Int32Array.of(24), strides: Int32Array.of(1) });
  });

  it('GatherV2 along axis 0 and 1 equals the cpu backend; an index out of range is named', async () => {
    const table = seededValues(50 * 40, 2);
    const ids = Array.from({ length: 96 }, (_, i) => (i * 17) % 50);
    const rows = await both(() => tf.gather(tf.tensor2d(table, [50, 40]), tf.tensor2d(ids, [8, 12], 'int32')));
    expect(rows.native).toBe(true);
    expect(rows.shapes[0]).toEqual([8, 12, 40]);
    expect(Array.from(rows.ours)).toEqual(Array.from(rows.reference));
    const cols = await both(() => tf.gather(tf.tensor2d(table, [40, 50]), tf.tensor1d(ids.slice(0, 30), 'int32'), 1));
    expect(cols.native).toBe(true);
    expect(Array.from(cols.ours)).toEqual(Array.from(cols.reference));
    await tf.setBackend('native');
    expect(() => tf.tidy(() => tf.gather(tf.tensor2d(table, [50, 40]), tf.tensor1d([...ids, 50], 'int32')))).toThrow('gather: index 50 is outside [0, 50)');
  });

  it('UnsortedSegmentSum (the gradient of an embedding lookup) equals the cpu backend', async () => {
    const ids = Array.from({ length: 300 }, (_, i) => ((i * 7) % 23) - 1);
    const r = await both(() => tf.unsortedSegmentSum(t([300, 24], 3), tf.tensor1d(ids, 'int32'), 20));
    expect(r.native).toBe(true);
    expect(r.shapes[0]).toEqual([20, 24]);
    expect(maxAbsDiff(r.ours, r.reference)).toBeLessThan(1e-5);
    // Id -1 and ids >= 20 were dropped, not wrapped: segment 0 holds only rows with id 0.
    const zeroRows = ids.flatMap((id, row) => (id === 0 ? [row] : []));
    const x = seededValues(300 * 24, 3);
    expect(r.ours[5]).toBeCloseTo(zeroRows.reduce((sum, row) => sum + x[row * 24 + 5], 0), 5);
  });

  it('Identity and a same-dtype Cast share the buffer, which outlives the input until both are gone', async () => {
    await tf.setBackend('native');
    const buffers = tf.backend().numDataIds();
    const x = t([4, 5], 7);
    const clone = tf.clone(x);
    const cast = tf.cast(x, 'float32');
    const toInt = tf.tidy(() => tf.cast(tf.mul(x, 10), 'int32'));
    // x and the int32 cast own buffers; the clone and the float32 cast share x's.
    expect(tf.backend().numDataIds()).toBe(buffers + 2);
    x.dispose();
    expect(Array.from(clone.dataSync())).toEqual(Array.from(seededValues(20, 7)));
    expect(Array.from(cast.dataSync())).toEqual(Array.from(seededValues(20, 7)));
    expect(toInt.dtype).toBe('int32');
    expect(Array.from(toInt.dataSync())).toEqual(Array.from(seededValues(20, 7), (v) => Math.fround(v * 10) | 0));
    tf.dispose([clone, cast, toInt]);
    expect(tf.backend().numDataIds()).toBe(buffers);
  });

  it('leaves int32 data to the cpu kernels and leaks nothing', async () => {
    const ints = await both(() => tf.transpose(tf.reshape(tf.range(0, 4096, 1, 'int32'), [64, 64])));
    expect(ints.native).toBe(false);
    expect(Array.from(ints.ours)).toEqual(Array.from(ints.reference));
    await tf.setBackend('native');
    const tensors = tf.memory().numTensors;
    const buffers = tf.backend().numDataIds();
    tf.tidy(() => {
      tf.transpose(t([64, 64], 4));
      tf.gather(t([64, 64], 5), tf.tensor1d([1, 2, 3], 'int32'));
    });
    expect(tf.memory().numTensors).toBe(tensors);
    expect(tf.backend().numDataIds()).toBe(buffers);
  });
});
