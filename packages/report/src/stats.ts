/**
 * Statistics over seeds: mean ± sample standard deviation, a 95% confidence interval from
 * Student's t distribution, and a two-sided paired t-test. The t CDF goes through the
 * regularized incomplete beta function (continued fraction, modified Lentz), as in
 * Numerical Recipes §6.4; quantiles invert it by bisection.
 */

export function mean(xs: readonly number[]): number {
  if (!xs.length) return NaN;
  let s = 0;
  for (const x of xs) s += x;
  return s / xs.length;
}

/** Sample standard deviation (n − 1 in the denominator); NaN below two values. */
export function std(xs: readonly number[]): number {
  if (xs.length < 2) return NaN;
  const m = mean(xs);
  let s = 0;
  for (const x of xs) s += (x - m) ** 2;
  return Math.sqrt(s / (xs.length - 1));
}

/** ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9; ~15 significant digits). */
export function lnGamma(x: number): number {
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905,
    -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - lnGamma(1 - x);
  x -= 1;
  let a = c[0];
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += c[i] / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Continued fraction for the incomplete beta function (modified Lentz). */
function betaContinuedFraction(a: number, b: number, x: number): number {
  const TINY = 1e-300;
  const qab = a + b;
  const qap = a + 1;
  const qam = a - 1;
  let c = 1;
  let d = 1 - (qab * x) / qap;
  if (Math.abs(d) < TINY) d = TINY;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 300; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (qab + m) * x) / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-15) break;
  }
  return h;
}

/** The regularized incomplete beta function I_x(a, b). */
export function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(lnGamma(a + b) - lnGamma(a) - lnGamma(b) + a * Math.log(x) + b * Math.log(1 - x));
  // The continued fraction converges fast for x < (a + 1) / (a + b + 2); use the symmetry otherwise.
  if (x < (a + 1) / (a + b + 2)) return (front * betaContinuedFraction(a, b, x)) / a;
  return 1 - (front * betaContinuedFraction(b, a, 1 - x)) / b;
}

/** P(T ≤ t) for Student's t with `df` degrees of freedom. */
export function tCdf(t: number, df: number): number {
  if (!(df > 0)) throw new RangeError(`tCdf: degrees of freedom must be > 0, got ${df}`);
  if (Number.isNaN(t)) return NaN;
  if (t === Infinity) return 1;
  if (t === -Infinity) return 0;
  const tail = 0.5 * incompleteBeta(df / (df + t * t), df / 2, 0.5);
  return t >= 0 ? 1 - tail : tail;
}

/** The t such that P(T ≤ t) = p (bisection on tCdf; |error| < 1e-12). */
export function tQuantile(p: number, df: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`tQuantile: p must be in (0, 1), got ${p}`);
  if (p === 0.5) return 0;
  if (p < 0.5) return -tQuantile(1 - p, df);
  let lo = 0;
  let hi = 1;
  while (tCdf(hi, df) < p) hi *= 2;
  for (let i = 0; i < 200 && hi - lo > 1e-12 * Math.max(1, hi); i++) {
    const mid = (lo + hi) / 2;
    if (tCdf(mid, df) < p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

export interface Summary {
  n: number;
  mean: number;
  std: number;
  /** 95% confidence interval of the mean (t distribution, n − 1 df); NaN bounds below two values. */
  ci95: [number, number];
}

export function summarize(xs: readonly number[], level = 0.95): Summary {
  const n = xs.length;
  const m = mean(xs);
  const s = std(xs);
  if (n < 2) return { n, mean: m, std: s, ci95: [NaN, NaN] };
  const half = (tQuantile(1 - (1 - level) / 2, n - 1) * s) / Math.sqrt(n);
  return { n, mean: m, std: s, ci95: [m - half, m + half] };
}

export interface PairedTest {
  test: 'paired t-test (two-sided)';
  n: number;
  /** Mean of a − b over the pairs. */
  meanDiff: number;
  t: number;
  df: number;
  p: number;
}

/**
 * Two-sided paired t-test of a against b, pair i being the same seed (same split and init).
 * Pairs with identical differences (zero variance) give t = ±∞ and p = 0 when the mean
 * difference is not zero, p = 1 when it is. Below two pairs the test is undefined (p NaN).
 */
export function pairedTTest(a: readonly number[], b: readonly number[]): PairedTest {
  if (a.length !== b.length) throw new RangeError(`pairedTTest: ${a.length} values against ${b.length}; pairs must match`);
  const d = a.map((x, i) => x - b[i]);
  const n = d.length;
  const md = mean(d);
  const base = { test: 'paired t-test (two-sided)' as const, n, meanDiff: md, df: n - 1 };
  if (n < 2) return { ...base, t: NaN, p: NaN };
  const sd = std(d);
  if (sd === 0 || sd < 1e-12 * Math.abs(md)) {
    return md === 0 ? { ...base, t: 0, p: 1 } : { ...base, t: md > 0 ? Infinity : -Infinity, p: 0 };
  }
  const t = md / (sd / Math.sqrt(n));
  // Both tails at once: 2·P(T > |t|) = I_{df/(df+t²)}(df/2, 1/2), without the cancellation of 1 − CDF.
  const p = incompleteBeta((n - 1) / (n - 1 + t * t), (n - 1) / 2, 0.5);
  return { ...base, t, p: Math.min(1, Math.max(0, p)) };
}
