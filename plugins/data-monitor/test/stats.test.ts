import { binCounts, chiSquareHomogeneity, gammaQ, kolmogorovSf, ksTwoSample, psi, psiFromCounts, quantileEdges } from '@leantune/plugin-data-monitor';

describe('Kolmogorov-Smirnov', () => {
  it('Q(λ) hits the tabulated critical values of the Kolmogorov distribution', () => {
    // Smirnov's table: P(K > 1.2238) = 0.10, P(K > 1.3581) = 0.05, P(K > 1.6276) = 0.01.
    expect(kolmogorovSf(1.2238)).toBeCloseTo(0.1, 4);
    expect(kolmogorovSf(1.3581)).toBeCloseTo(0.05, 4);
    expect(kolmogorovSf(1.6276)).toBeCloseTo(0.01, 4);
    expect(kolmogorovSf(0.1)).toBe(1);
  });

  it('D and the asymptotic p-value on a hand-worked pair of samples', () => {
    // F_a − F_b at x = 2: 0.5 − 0; at 3: 0.75 − 0.25; at 4: 1 − 0.5 → D = 0.5. n·m/(n+m) = 2, λ = √2·0.5.
    const r = ksTwoSample([4, 1, 3, 2], [3, 4, 5, 6]);
    expect(r.statistic).toBe(0.5);
    const l2 = 0.5; // λ² = 0.5
    expect(r.pValue).toBeCloseTo(2 * (Math.exp(-2 * l2) - Math.exp(-8 * l2) + Math.exp(-18 * l2) - Math.exp(-32 * l2)), 10);
    expect(r.pValue).toBeCloseTo(0.6994, 4); // scipy.stats.ks_2samp(..., method="asymp")
  });

  it('ties step both samples past the value; identical samples give D = 0, p = 1', () => {
    expect(ksTwoSample([0, 0, 0, 1], [0, 1, 1, 1]).statistic).toBe(0.5);
    expect(ksTwoSample([1, 2, 2, 3], [3, 2, 1, 2])).toEqual({ statistic: 0, pValue: 1 });
  });

  it('bad input fails clearly', () => {
    expect(() => ksTwoSample([], [1])).toThrow('ksTwoSample needs two non-empty samples (got 0 and 1 values)');
    expect(() => ksTwoSample([NaN], [1])).toThrow('values must not be NaN');
  });
});

describe('PSI', () => {
  it('equal-frequency edges, bin counts and PSI by hand', () => {
    const ref = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    expect(quantileEdges(ref, 5)).toEqual([2, 4, 6, 8]);
    expect(binCounts(ref, [2, 4, 6, 8])).toEqual([2, 2, 2, 2, 2]);
    const cur = [1, 1, 1, 1, 1, 1, 1, 1, 1, 10];
    expect(binCounts(cur, [2, 4, 6, 8])).toEqual([9, 0, 0, 0, 1]);
    const hand = 0.7 * Math.log(0.9 / 0.2) + 3 * (1e-4 - 0.2) * Math.log(1e-4 / 0.2) + -0.1 * Math.log(0.1 / 0.2);
    expect(psi(ref, cur, 5)).toBeCloseTo(hand, 12);
    expect(psi(ref, ref, 5)).toBe(0);
  });

  it('ties collapse edges (a mostly-zero pixel gets two bins)', () => {
    expect(quantileEdges([0, 0, 0, 0, 0, 0, 0, 0, 0.5, 1], 10)).toEqual([0, 0.5]); // edges s[0..8]: eight zeros, then 0.5
    expect(() => quantileEdges([1], 1)).toThrow('PSI bins must be an integer >= 2 (got 1)');
    expect(() => psiFromCounts([1, 2], [1])).toThrow('2 reference bins but 1 current bins');
  });
});

describe('chi-square', () => {
  it('regularised upper gamma matches closed forms', () => {
    expect(gammaQ(1, 2.5)).toBeCloseTo(Math.exp(-2.5), 14);
    expect(gammaQ(3, 2)).toBeCloseTo(5 * Math.exp(-2), 14); // Q(3,x) = e^-x (1 + x + x²/2)
    expect(gammaQ(0.5, 3.841459 / 2)).toBeCloseTo(0.05, 6); // chi-square df 1 critical value
    expect(gammaQ(5, 30)).toBeCloseTo(Math.exp(-30) * (1 + 30 + 450 + 4500 + 33750), 20);
  });

  it('2×k homogeneity test by hand', () => {
    // Column totals 40 each, expected 20 per cell: Σ(O−E)²/E = 5+0+5+5+0+5 = 20, df 2, p = e^{-10}.
    const r = chiSquareHomogeneity([10, 20, 30], [30, 20, 10]);
    expect(r.statistic).toBeCloseTo(20, 12);
    expect(r.df).toBe(2);
    expect(r.pValue).toBeCloseTo(Math.exp(-10), 12);
    expect(chiSquareHomogeneity([5, 0, 5], [5, 0, 5])).toEqual({ statistic: 0, df: 1, pValue: 1 });
  });
});
