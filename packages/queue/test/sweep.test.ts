import { ConfigError } from '@leantune/core';
import { expandSweep, gridValues, seededRandom, sweepArms, validateSweep } from '../src/sweep';

describe('sweep expansion', () => {
  it('gives log- and evenly spaced grid values with both ends, rounded with int', () => {
    expect(gridValues({ log: [1e-4, 1e-2], n: 3 })).toEqual([1e-4, 1e-3, 1e-2]);
    expect(gridValues({ log: [1e-4, 1e-2], n: 6 })).toEqual([0.0001, 0.000251188643151, 0.000630957344480, 0.00158489319246, 0.00398107170553, 0.01]);
    expect(gridValues({ linear: [0, 1], n: 5 })).toEqual([0, 0.25, 0.5, 0.75, 1]);
    expect(gridValues({ linear: [2, 16], n: 3, int: true })).toEqual([2, 9, 16]);
    expect(gridValues({ log: [4, 16], n: 3, int: true })).toEqual([4, 8, 16]);
    expect(gridValues({ linear: [1, 1.4], n: 3, int: true })).toEqual([1]);
    expect(gridValues(['a', 'b'])).toEqual(['a', 'b']);
  });

  it('a grid is every combination, in the config order', () => {
    const spec = validateSweep({ 'methods.lora.r': [4, 8, 16], 'train.learningRate': { log: [1e-4, 1e-2], n: 6 } });
    const points = expandSweep(spec);
    expect(points).toHaveLength(18);
    expect(points[0]).toEqual({ 'methods.lora.r': 4, 'train.learningRate': 1e-4 });
    expect(points[5]).toEqual({ 'methods.lora.r': 4, 'train.learningRate': 0.01 });
    expect(points[17]).toEqual({ 'methods.lora.r': 16, 'train.learningRate': 0.01 });
    expect(new Set(points.map((p) => JSON.stringify(p))).size).toBe(18);
  });

  it('random search draws the same points for the same seed, inside the ranges', () => {
    const spec = validateSweep({ mode: 'random', samples: 20, seed: 7, 'methods.lora.r': [4, 8, 16], 'train.learningRate': { log: [1e-4, 1e-2] } });
    const a = expandSweep(spec);
    expect(expandSweep(spec)).toEqual(a);
    expect(a).toHaveLength(20);
    for (const p of a) {
      expect([4, 8, 16]).toContain(p['methods.lora.r']);
      expect(p['train.learningRate']).toBeGreaterThanOrEqual(1e-4);
      expect(p['train.learningRate']).toBeLessThanOrEqual(1e-2);
    }
    // Log-uniform: about half the draws below the geometric middle (1e-3).
    const below = expandSweep({ ...spec, samples: 400 }).filter((p) => (p['train.learningRate'] as number) < 1e-3).length;
    expect(below).toBeGreaterThan(160);
    expect(below).toBeLessThan(240);
    expect(expandSweep({ ...spec, seed: 8 })).not.toEqual(a);
    const r = seededRandom(1);
    expect([r(), r()]).toEqual([seededRandom(1)(), expect.any(Number)]);
  });

  it('expands arms over their own method options and the train options, naming the values', () => {
    const arms = sweepArms(
      [
        { id: 'lora', label: 'lora', config: { r: 4, lora_alpha: 8 } },
        { id: 'ia3', label: 'ia3', config: {} },
      ],
      validateSweep({ 'methods.lora.r': [4, 8], 'train.learningRate': [0.01, 0.1], 'train.schedule.warmupSteps': [0] }),
    );
    expect(arms.map((a) => a.label)).toEqual([
      'lora-r4-learningRate0.01-warmupSteps0',
      'lora-r4-learningRate0.1-warmupSteps0',
      'lora-r8-learningRate0.01-warmupSteps0',
      'lora-r8-learningRate0.1-warmupSteps0',
      'ia3-learningRate0.01-warmupSteps0',
      'ia3-learningRate0.1-warmupSteps0',
    ]);
    expect(arms[2]).toMatchObject({ id: 'lora', config: { r: 8, lora_alpha: 8 }, train: { learningRate: 0.01, schedule: { warmupSteps: 0 } } });
    expect(arms[4]).toMatchObject({ id: 'ia3', config: {}, train: { learningRate: 0.01, schedule: { warmupSteps: 0 } } });
  });

  it('without a sweep the arms are unchanged; a random sweep numbers its samples', () => {
    const base = [{ id: 'lora', label: 'lora', config: { r: 4 } }];
    expect(sweepArms(base, undefined)).toEqual([{ ...base[0], point: {} }]);
    const random = sweepArms(base, validateSweep({ mode: 'random', samples: 3, 'methods.lora.r': [4, 8] }));
    expect(random.map((a) => a.label)).toEqual([expect.stringMatching(/^lora-s1-r(4|8)$/), expect.stringMatching(/^lora-s2-r(4|8)$/), expect.stringMatching(/^lora-s3-r(4|8)$/)]);
  });

  it('the schema refuses unknown paths, bad ranges and samples on a grid; a sweep of a method no arm trains is refused', () => {
    expect(() => validateSweep({ 'model.hidden': [1] })).toThrow(/unknown key "model.hidden"/);
    expect(() => validateSweep({ 'train.learningRate': { log: [0, 1] } })).toThrow(/must be > 0/);
    expect(() => validateSweep({ 'train.learningRate': [] })).toThrow(ConfigError);
    expect(() => validateSweep({ mode: 'grid', samples: 3, 'train.epochs': [1] })).toThrow(/"samples" is for "mode": "random"/);
    expect(() => validateSweep({})).toThrow(ConfigError);
    expect(() => sweepArms([{ id: 'ia3', label: 'ia3', config: {} }], validateSweep({ 'methods.lora.r': [4] }))).toThrow(/sweeps method "lora", which no compare arm trains/);
  });
});
