import { Embedding, setSeed, tf } from '@leantune/tensor';
import { expectGradientsMatchFiniteDifferences, weightedSum } from '../helpers/gradcheck';
import { expectClose, setParameters } from '../helpers/reference';

describe('Embedding', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  const table = [0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5]; // 5 rows × 2

  it('looks up rows for ids of any shape: [b, s] → [b, s, dim]', () => {
    const emb = new Embedding(5, 2);
    expect(emb.weight.shape).toEqual([5, 2]);
    setParameters(emb, { weight: table });
    const y = emb.forward(tf.tensor2d([[4, 0, 2], [1, 1, 3]], [2, 3], 'int32'));
    expect(y.shape).toEqual([2, 3, 2]);
    expect(Array.from(y.dataSync())).toEqual([4, 4.5, 0, 0.5, 2, 2.5, 1, 1.5, 1, 1.5, 3, 3.5]);
    expect(emb.forward(tf.scalar(3, 'int32')).shape).toEqual([2]);
    emb.dispose();
  });

  it('initialises N(0, std²) by seed and zeroes the padding row', () => {
    setSeed(1);
    const a = new Embedding(50, 40, { paddingIdx: 3 });
    setSeed(1);
    const b = new Embedding(50, 40, { paddingIdx: 3 });
    expect(Array.from(a.weight.dataSync())).toEqual(Array.from(b.weight.dataSync()));
    const w = a.weight.arraySync() as number[][];
    expect(w[3].every((v) => v === 0)).toBe(true);
    const flat = w.flat().filter((_, i) => Math.floor(i / 40) !== 3);
    const mean = flat.reduce((s, v) => s + v, 0) / flat.length;
    const std = Math.sqrt(flat.reduce((s, v) => s + (v - mean) ** 2, 0) / flat.length);
    expect(Math.abs(mean)).toBeLessThan(0.08); // 1960 samples: sd of mean ≈ 0.023
    expect(std).toBeGreaterThan(0.9);
    expect(std).toBeLessThan(1.1);
    const small = new Embedding(50, 40, { initStd: 0.02 });
    expect(Math.max(...small.weight.dataSync().map(Math.abs))).toBeLessThan(0.02 * 6);
    [a, b, small].forEach((m) => m.dispose());
  });

  it('rejects float ids, out-of-range ids and a bad paddingIdx with clear errors', () => {
    const emb = new Embedding(5, 2);
    expect(() => emb.forward(tf.tensor1d([1, 2]))).toThrow("Embedding: ids must be an int32 tensor, got dtype float32; cast with tf.cast(ids, 'int32')");
    expect(() => emb.forward(tf.tensor1d([7], 'int32'))).toThrow(/7/);
    expect(() => new Embedding(5, 2, { paddingIdx: 5 })).toThrow('Embedding: paddingIdx must be an integer in [0, 4], got 5');
    emb.dispose();
  });

  it('accumulates the gradient of repeated ids into their row', () => {
    const emb = new Embedding(5, 2);
    setParameters(emb, { weight: table });
    const ids = tf.tensor1d([1, 3, 1], 'int32');
    const { grads, value } = tf.variableGrads(() => tf.sum(emb.forward(ids)), [emb.weight]);
    expectClose(grads[emb.weight.name].dataSync(), [0, 0, 2, 2, 0, 0, 1, 1, 0, 0]);
    expectGradientsMatchFiniteDifferences(() => weightedSum(emb.forward(ids)), [emb.weight]);
    tf.dispose([value, grads[emb.weight.name]]);
    emb.dispose();
  });
});
