import { createLrSchedule } from '@leantune/train';

describe('lr schedules', () => {
  it('linear warmup then cosine decay to the min ratio, exact at the boundaries', () => {
    const lr = createLrSchedule({ kind: 'cosine', warmupSteps: 4, totalSteps: 14, minLrRatio: 0.1 }, 1e-3);
    expect(lr(0)).toBe(0);
    expect(lr(2)).toBeCloseTo(0.5e-3, 15);
    expect(lr(4)).toBeCloseTo(1e-3, 15);
    // Halfway through the decay (progress 0.5): cos term 0.5 → 0.1 + 0.9·0.5 = 0.55.
    expect(lr(9)).toBeCloseTo(0.55e-3, 15);
    expect(lr(14)).toBeCloseTo(0.1e-3, 15);
    expect(lr(100)).toBeCloseTo(0.1e-3, 15);
    // Step 6 is progress (6 − 4)/10 = 0.2.
    expect(lr(6)).toBeCloseTo(1e-3 * (0.1 + 0.9 * 0.5 * (1 + Math.cos(Math.PI * 0.2))), 15);
  });

  it('linear decay reaches zero at totalSteps without a min ratio', () => {
    const lr = createLrSchedule({ kind: 'linear', warmupSteps: 2, totalSteps: 10 }, 0.8);
    expect(lr(1)).toBeCloseTo(0.4, 15);
    expect(lr(2)).toBeCloseTo(0.8, 15);
    expect(lr(6)).toBeCloseTo(0.4, 15);
    expect(lr(10)).toBe(0);
    expect(lr(12)).toBe(0);
  });

  it('constant, with or without warmup', () => {
    expect(createLrSchedule({ kind: 'constant' }, 0.3)(0)).toBe(0.3);
    const warm = createLrSchedule({ kind: 'constant', warmupSteps: 3 }, 0.3);
    expect(warm(1)).toBeCloseTo(0.1, 15);
    expect(warm(3)).toBe(0.3);
    expect(warm(1000)).toBe(0.3);
  });

  it('takes totalSteps from the trainer when not given', () => {
    const lr = createLrSchedule({ kind: 'linear' }, 1, 4);
    expect([0, 1, 2, 3, 4].map(lr)).toEqual([1, 0.75, 0.5, 0.25, 0]);
  });

  it('rejects bad configs with the field named', () => {
    expect(() => createLrSchedule({ kind: 'cosine' }, 1)).toThrow(/schedule.totalSteps is required/);
    expect(() => createLrSchedule({ kind: 'cosine', totalSteps: 2, warmupSteps: 5 }, 1)).toThrow(/totalSteps \(2\) must be >= warmupSteps \(5\)/);
    expect(() => createLrSchedule({ kind: 'linear', totalSteps: 5, minLrRatio: 2 }, 1)).toThrow(/minLrRatio must be in \[0, 1\]/);
    expect(() => createLrSchedule({ kind: 'step' } as never, 1)).toThrow(/schedule.kind "step"/);
    expect(() => createLrSchedule({ kind: 'constant' }, 1)(-1)).toThrow(/step must be an integer >= 0/);
  });
});
