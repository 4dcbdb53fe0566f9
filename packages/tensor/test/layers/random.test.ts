import { fanInUniform, kaimingUniform, nextSeed, normal, ones, setSeed, tf, uniform, zeros } from '@leantune/tensor';

describe('seeded random', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('replays the same seed sequence after setSeed', () => {
    setSeed(42);
    const a = [nextSeed(), nextSeed(), nextSeed()];
    setSeed(42);
    expect([nextSeed(), nextSeed(), nextSeed()]).toEqual(a);
    expect(new Set(a).size).toBe(3);
    a.forEach((s) => expect(Number.isInteger(s) && s >= 0 && s < 2 ** 31).toBe(true));
    setSeed(43);
    expect(nextSeed()).not.toBe(a[0]);
  });

  it('gives the same tensors for the same seed and different ones on the next draw', () => {
    setSeed(9);
    const a = uniform([100], -1, 1).dataSync();
    const b = uniform([100], -1, 1).dataSync();
    setSeed(9);
    expect(Array.from(uniform([100], -1, 1).dataSync())).toEqual(Array.from(a));
    expect(Array.from(b)).not.toEqual(Array.from(a));
  });

  it('kaimingUniform(a=√5) and fanInUniform stay within 1/√fanIn; kaiming(a=0) within √(6/fanIn)', () => {
    const w = kaimingUniform([4000], 25).dataSync();
    expect(Math.max(...w)).toBeLessThanOrEqual(0.2);
    expect(Math.min(...w)).toBeGreaterThanOrEqual(-0.2);
    expect(Math.max(...w)).toBeGreaterThan(0.19);
    const he = kaimingUniform([4000], 6, 0).dataSync(); // bound √(6/6) = 1
    expect(Math.max(...he)).toBeGreaterThan(0.95);
    expect(Math.max(...he)).toBeLessThanOrEqual(1);
    const b = fanInUniform([4000], 100).dataSync();
    expect(Math.max(...b.map(Math.abs))).toBeLessThanOrEqual(0.1);
  });

  it('normal(std, mean) has about the requested moments', () => {
    const v = normal([20000], 0.5, 2).dataSync();
    const mean = v.reduce((s, x) => s + x, 0) / v.length;
    const std = Math.sqrt(v.reduce((s, x) => s + (x - mean) ** 2, 0) / v.length);
    expect(Math.abs(mean - 2)).toBeLessThan(0.02); // sd of the mean ≈ 0.0035
    expect(Math.abs(std - 0.5)).toBeLessThan(0.02);
  });

  it('zeros/ones and bad arguments', () => {
    expect(Array.from(zeros([2]).dataSync())).toEqual([0, 0]);
    expect(Array.from(ones([2]).dataSync())).toEqual([1, 1]);
    expect(() => setSeed(1.5)).toThrow('setSeed: seed must be an integer, got 1.5');
    expect(() => uniform([2], 1, 0)).toThrow('uniform: need low <= high, got low=1, high=0');
    expect(() => normal([-1])).toThrow('normal: shape must be non-negative integers, got [-1]');
    expect(() => kaimingUniform([2], 0)).toThrow('kaimingUniform: fanIn must be > 0, got 0');
  });
});
