import { incompleteBeta, lnGamma, mean, pairedTTest, std, summarize, tCdf, tQuantile } from '../src/stats';

describe('t distribution', () => {
  it('lnGamma matches factorials and Γ(1/2) = √π', () => {
    expect(lnGamma(1)).toBeCloseTo(0, 12);
    expect(lnGamma(5)).toBeCloseTo(Math.log(24), 12);
    expect(lnGamma(0.5)).toBeCloseTo(0.5 * Math.log(Math.PI), 12);
  });

  it('incompleteBeta(x; 1, 1) = x and (x; a, 1) = x^a', () => {
    for (const x of [0.1, 0.5, 0.9]) {
      expect(incompleteBeta(x, 1, 1)).toBeCloseTo(x, 12);
      expect(incompleteBeta(x, 3, 1)).toBeCloseTo(x ** 3, 12);
    }
  });

  it('CDF with 1 df is the Cauchy CDF 1/2 + atan(t)/π', () => {
    for (const t of [-10, -1, -0.3, 0, 0.5, 1, 3, 50]) expect(tCdf(t, 1)).toBeCloseTo(0.5 + Math.atan(t) / Math.PI, 12);
  });

  it('CDF with 2 df is 1/2 + t / (2√(2 + t²))', () => {
    for (const t of [-4, -1, 0, 0.7, 2, 9]) expect(tCdf(t, 2)).toBeCloseTo(0.5 + t / (2 * Math.sqrt(2 + t * t)), 12);
  });

  it('two-sided 95% critical values match the printed t table', () => {
    // t_{0.975, df} from any statistics table.
    const table: Array<[number, number]> = [
      [1, 12.706],
      [2, 4.303],
      [3, 3.182],
      [4, 2.776],
      [5, 2.571],
      [9, 2.262],
      [10, 2.228],
      [30, 2.042],
      [120, 1.98],
    ];
    for (const [df, t] of table) expect(tQuantile(0.975, df)).toBeCloseTo(t, 3);
    // Closed forms: df 1 → tan(0.475π); df 2 → √(2/(1 − 0.95²)·0.95²)… = 4.302653 (2p−1)·√(2/(1−(2p−1)²)).
    expect(tQuantile(0.975, 1)).toBeCloseTo(Math.tan(Math.PI * 0.475), 9);
    expect(tQuantile(0.975, 2)).toBeCloseTo(0.95 * Math.sqrt(2 / (1 - 0.95 ** 2)), 9);
    expect(tQuantile(0.025, 4)).toBeCloseTo(-tQuantile(0.975, 4), 12);
    expect(tQuantile(0.5, 7)).toBe(0);
  });

  it('refuses nonsense with the argument named', () => {
    expect(() => tCdf(1, 0)).toThrow(/degrees of freedom must be > 0/);
    expect(() => tQuantile(1, 3)).toThrow(/p must be in \(0, 1\)/);
  });
});

describe('summaries over seeds', () => {
  it('mean, sample std and the t interval of 0.90, 0.92, 0.94', () => {
    const s = summarize([0.9, 0.92, 0.94]);
    expect(mean([0.9, 0.92, 0.94])).toBeCloseTo(0.92, 12);
    // deviations −0.02, 0, 0.02 → variance 0.0008/2 = 0.0004 → std 0.02.
    expect(std([0.9, 0.92, 0.94])).toBeCloseTo(0.02, 12);
    expect(s.n).toBe(3);
    // half width = t_{0.975,2} · 0.02 / √3 = 4.302653 · 0.011547 = 0.049683.
    expect(s.ci95[0]).toBeCloseTo(0.92 - 0.049683, 5);
    expect(s.ci95[1]).toBeCloseTo(0.92 + 0.049683, 5);
  });

  it('one seed has a mean but no spread and no interval', () => {
    const s = summarize([0.5]);
    expect(s.mean).toBe(0.5);
    expect(s.std).toBeNaN();
    expect(s.ci95).toEqual([NaN, NaN]);
  });
});

describe('paired t-test', () => {
  it('differences 1, 2, 3: t = 2√3, p = 1 − t/√(2 + t²) (2 df closed form)', () => {
    const r = pairedTTest([11, 12, 13], [10, 10, 10]);
    expect(r.test).toBe('paired t-test (two-sided)');
    expect(r.meanDiff).toBeCloseTo(2, 12);
    expect(r.t).toBeCloseTo(2 * Math.sqrt(3), 12);
    expect(r.df).toBe(2);
    const t = 2 * Math.sqrt(3);
    expect(r.p).toBeCloseTo(1 - t / Math.sqrt(2 + t * t), 10); // 0.074180
    expect(r.p).toBeCloseTo(0.07418, 5);
  });

  it('a textbook example: 10 pairs, p from the t table', () => {
    // Differences d: 1.2 0.8 1.5 −0.3 0.9 1.1 0.4 1.6 0.2 0.7 → mean 0.81, squared deviations sum to 3.129, sd = √(3.129/9) = 0.58963, t = 0.81/(0.58963/√10) = 4.3441 with 9 df.
    const d = [1.2, 0.8, 1.5, -0.3, 0.9, 1.1, 0.4, 1.6, 0.2, 0.7];
    const r = pairedTTest(
      d.map((x) => x + 5),
      d.map(() => 5),
    );
    expect(r.meanDiff).toBeCloseTo(0.81, 10);
    expect(r.t).toBeCloseTo(0.81 / (std(d) / Math.sqrt(10)), 10);
    expect(r.t).toBeCloseTo(4.3441, 3);
    // |t| = 4.3441 lies between t_{0.999,9} = 4.297 and t_{0.9995,9} = 4.781: p between 0.001 and 0.002.
    expect(r.p).toBeGreaterThan(0.001);
    expect(r.p).toBeLessThan(0.002);
    expect(r.p).toBeCloseTo(2 * (1 - tCdf(r.t, 9)), 10);
  });

  it('identical arms are not distinguishable (p = 1); a constant nonzero gap is (p = 0); one pair is untestable', () => {
    expect(pairedTTest([0.9, 0.8, 0.7], [0.9, 0.8, 0.7]).p).toBe(1);
    expect(pairedTTest([0.92, 0.82, 0.72], [0.9, 0.8, 0.7]).p).toBe(0);
    expect(pairedTTest([0.9], [0.8]).p).toBeNaN();
    expect(() => pairedTTest([1, 2], [1])).toThrow(/pairs must match/);
  });
});
