import { EarlyStopping } from '@leantune/train';

describe('EarlyStopping', () => {
  it('min mode: stops after `patience` evaluations without an improvement beyond minDelta', () => {
    const es = new EarlyStopping({ patience: 2, minDelta: 0.1 });
    expect(es.update(1.0, 0)).toEqual({ improved: true, shouldStop: false });
    expect(es.update(0.95, 1)).toEqual({ improved: false, shouldStop: false }); // only 0.05 better
    expect(es.update(0.85, 2)).toEqual({ improved: true, shouldStop: false }); // 0.15 better than 1.0
    expect(es.update(0.8, 3)).toEqual({ improved: false, shouldStop: false });
    expect(es.update(0.9, 4)).toEqual({ improved: false, shouldStop: true });
    expect(es.state).toEqual({ best: 0.85, bestEpoch: 2, wait: 2, stopped: true });
  });

  it('max mode counts increases as improvements', () => {
    const es = new EarlyStopping({ patience: 1, mode: 'max' });
    expect(es.update(0.5).improved).toBe(true);
    expect(es.update(0.6).improved).toBe(true);
    expect(es.update(0.6)).toEqual({ improved: false, shouldStop: true });
  });

  it('continues from a saved state', () => {
    const a = new EarlyStopping({ patience: 3 });
    a.update(1);
    a.update(2);
    const b = new EarlyStopping({ patience: 3 });
    b.loadState(a.state);
    expect(b.update(3)).toEqual({ improved: false, shouldStop: false });
    expect(b.update(4)).toEqual({ improved: false, shouldStop: true });
  });

  it('rejects bad settings', () => {
    expect(() => new EarlyStopping({ patience: -1 })).toThrow(/earlyStopping.patience/);
    expect(() => new EarlyStopping({ patience: 1, mode: 'up' as never })).toThrow(/earlyStopping.mode/);
    expect(() => new EarlyStopping({ patience: 1 }).update(NaN)).toThrow(/NaN/);
  });
});
