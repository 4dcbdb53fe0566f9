import { tf } from '@leantune/tensor';
import { clipGradNorm, globalNorm, GradientAccumulator } from '@leantune/train';

function grads(a: number[], b: number[]): Map<string, tf.Tensor> {
  return new Map([
    ['a', tf.tensor1d(a)],
    ['b', tf.tensor1d(b)],
  ]);
}

describe('gradient clipping by global norm', () => {
  it('computes the norm over all tensors (3-4-12 → 13)', () => {
    const g = grads([3, 4], [12]);
    expect(globalNorm(g)).toBeCloseTo(13, 5);
    tf.dispose([...g.values()]);
  });

  it('scales by max/(norm + 1e-6) when above the max, as clip_grad_norm_ does', () => {
    const g = grads([3, 4], [12]);
    const { grads: out, totalNorm } = clipGradNorm(g, 1.3);
    const coef = 1.3 / (13 + 1e-6);
    expect(totalNorm).toBeCloseTo(13, 5);
    const a = out.get('a')!.dataSync();
    expect(a[0]).toBeCloseTo(3 * coef, 6);
    expect(a[1]).toBeCloseTo(4 * coef, 6);
    expect(out.get('b')!.dataSync()[0]).toBeCloseTo(12 * coef, 6);
    expect(globalNorm(out)).toBeCloseTo(1.3, 5);
    // The inputs are untouched.
    expect(Array.from(g.get('a')!.dataSync())).toEqual([3, 4]);
    tf.dispose([...g.values(), ...out.values()]);
  });

  it('leaves gradients under the max unchanged', () => {
    const g = grads([0.3, 0.4], [0]);
    const { grads: out, totalNorm } = clipGradNorm(g, 1);
    expect(totalNorm).toBeCloseTo(0.5, 6);
    expect(Array.from(out.get('a')!.dataSync())).toEqual([expect.closeTo(0.3, 7), expect.closeTo(0.4, 7)]);
    tf.dispose([...g.values(), ...out.values()]);
    expect(() => clipGradNorm(new Map(), 0)).toThrow(/maxNorm must be > 0/);
  });
});

describe('gradient accumulation', () => {
  it('returns the mean over micro-batches and holds no tensors afterwards', () => {
    const before = tf.memory().numTensors;
    const acc = new GradientAccumulator();
    const g1 = grads([1, 2], [3]);
    const g2 = grads([3, 6], [-3]);
    const g3 = grads([2, 1], [6]);
    acc.add(g1);
    acc.add(g2);
    acc.add(g3);
    expect(acc.count).toBe(3);
    const mean = acc.takeMean();
    expect(Array.from(mean.get('a')!.dataSync())).toEqual([2, 3]);
    expect(mean.get('b')!.dataSync()[0]).toBeCloseTo(2, 6);
    expect(acc.count).toBe(0);
    tf.dispose([...g1.values(), ...g2.values(), ...g3.values(), ...mean.values()]);
    expect(tf.memory().numTensors).toBe(before);
    expect(() => acc.takeMean()).toThrow(/no micro-batch was added/);
  });
});
