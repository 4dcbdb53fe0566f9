/**
 * The statistics behind drift scores, in plain numbers (no tensors): two-sample
 * Kolmogorov–Smirnov, population stability index, chi-square homogeneity test.
 */

export interface TestResult {
  statistic: number;
  pValue: number;
}

function sortedCopy(values: ArrayLike<number>, what: string): Float64Array {
  const out = Float64Array.from(values as ArrayLike<number>);
  for (const v of out) if (Number.isNaN(v)) throw new Error(`${what}: values must not be NaN`);
  return out.sort();
}

/**
 * Survival function of the Kolmogorov distribution, Q(λ) = 2 Σ_{j≥1} (-1)^{j-1} e^{-2j²λ²}
 * (scipy's kstwobign.sf). Below λ = 0.3 the series converges slowly and Q is 1 to 1e-9.
 */
export function kolmogorovSf(lambda: number): number {
  if (lambda < 0.3) return 1;
  let sum = 0;
  for (let j = 1; j <= 100; j++) {
    const term = Math.exp(-2 * j * j * lambda * lambda);
    sum += j % 2 ? term : -term;
    if (term < 1e-16) break;
  }
  return Math.min(1, Math.max(0, 2 * sum));
}

/**
 * Two-sample KS: D = sup |F_a(x) − F_b(x)| over all x, ties handled by stepping both
 * samples past each value. The p-value is the asymptotic one (scipy's ks_2samp with
 * method="asymp"): Q(√(n·m/(n+m)) · D).
 */
export function ksTwoSample(a: ArrayLike<number>, b: ArrayLike<number>): TestResult {
  if (a.length === 0 || b.length === 0) throw new Error(`ksTwoSample needs two non-empty samples (got ${a.length} and ${b.length} values)`);
  const x = sortedCopy(a, 'ksTwoSample');
  const y = sortedCopy(b, 'ksTwoSample');
  let i = 0;
  let j = 0;
  let d = 0;
  while (i < x.length && j < y.length) {
    const v = Math.min(x[i], y[j]);
    while (i < x.length && x[i] === v) i++;
    while (j < y.length && y[j] === v) j++;
    d = Math.max(d, Math.abs(i / x.length - j / y.length));
  }
  const en = (x.length * y.length) / (x.length + y.length);
  return { statistic: d, pValue: kolmogorovSf(Math.sqrt(en) * d) };
}

/**
 * Equal-frequency bin edges from the reference sample: edge k is the ⌈k·n/bins⌉-th smallest
 * value; repeated edges (ties, e.g. many zero pixels) collapse into one.
 */
export function quantileEdges(reference: ArrayLike<number>, bins: number): number[] {
  if (!Number.isInteger(bins) || bins < 2) throw new Error(`PSI bins must be an integer >= 2 (got ${bins})`);
  const s = sortedCopy(reference, 'quantileEdges');
  if (s.length === 0) throw new Error('quantileEdges needs a non-empty reference sample');
  const edges: number[] = [];
  for (let k = 1; k < bins; k++) {
    const e = s[Math.ceil((k * s.length) / bins) - 1];
    if (edges.length === 0 || e > edges[edges.length - 1]) edges.push(e);
  }
  return edges;
}

/** Counts per bin: bin i holds edge[i-1] < v ≤ edge[i]; the last bin everything above. */
export function binCounts(values: ArrayLike<number>, edges: readonly number[]): number[] {
  const counts = new Array<number>(edges.length + 1).fill(0);
  for (let n = 0; n < values.length; n++) {
    const v = values[n];
    let lo = 0;
    let hi = edges.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (v <= edges[mid]) hi = mid;
      else lo = mid + 1;
    }
    counts[lo]++;
  }
  return counts;
}

/** Proportions below this are raised to it, so an empty bin gives a large but finite PSI. */
export const PSI_FLOOR = 1e-4;

/** PSI = Σ (q_i − p_i)·ln(q_i / p_i) over matching bins of reference counts p and current counts q. */
export function psiFromCounts(reference: readonly number[], current: readonly number[]): number {
  if (reference.length !== current.length) throw new Error(`psiFromCounts: ${reference.length} reference bins but ${current.length} current bins`);
  const n = reference.reduce((a, b) => a + b, 0);
  const m = current.reduce((a, b) => a + b, 0);
  if (n === 0 || m === 0) throw new Error('psiFromCounts needs counts in both the reference and the current sample');
  let psi = 0;
  for (let i = 0; i < reference.length; i++) {
    const p = Math.max(reference[i] / n, PSI_FLOOR);
    const q = Math.max(current[i] / m, PSI_FLOOR);
    psi += (q - p) * Math.log(q / p);
  }
  return psi;
}

/** PSI of a numeric feature with `bins` equal-frequency bins fitted on the reference. */
export function psi(reference: ArrayLike<number>, current: ArrayLike<number>, bins = 10): number {
  const edges = quantileEdges(reference, bins);
  return psiFromCounts(binCounts(reference, edges), binCounts(current, edges));
}

/** ln Γ(x), Lanczos approximation (g = 7, 9 terms), accurate to ~1e-15 for x > 0. */
export function lnGamma(x: number): number {
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - lnGamma(1 - x);
  const z = x - 1;
  let a = c[0];
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += c[i] / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Regularised upper incomplete gamma Q(a, x) (series below a+1, continued fraction above). */
export function gammaQ(a: number, x: number): number {
  if (x <= 0) return 1;
  const lnPrefix = -x + a * Math.log(x) - lnGamma(a);
  if (x < a + 1) {
    let sum = 1 / a;
    let term = sum;
    for (let n = 1; n < 1000; n++) {
      term *= x / (a + n);
      sum += term;
      if (Math.abs(term) < Math.abs(sum) * 1e-15) break;
    }
    return 1 - sum * Math.exp(lnPrefix);
  }
  // Lentz's method for the continued fraction of Q (Numerical Recipes §6.2).
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 1000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-15) break;
  }
  return Math.exp(lnPrefix) * h;
}

/**
 * Chi-square test of homogeneity on a 2×k table (reference counts vs current counts per
 * category). Categories empty in both are left out; df = categories − 1.
 */
export function chiSquareHomogeneity(reference: readonly number[], current: readonly number[]): TestResult & { df: number } {
  if (reference.length !== current.length) throw new Error(`chiSquareHomogeneity: ${reference.length} reference categories but ${current.length} current ones`);
  const n = reference.reduce((a, b) => a + b, 0);
  const m = current.reduce((a, b) => a + b, 0);
  if (n === 0 || m === 0) throw new Error('chiSquareHomogeneity needs counts in both samples');
  let stat = 0;
  let used = 0;
  for (let i = 0; i < reference.length; i++) {
    const col = reference[i] + current[i];
    if (col === 0) continue;
    used++;
    const er = (col * n) / (n + m);
    const ec = (col * m) / (n + m);
    stat += (reference[i] - er) ** 2 / er + (current[i] - ec) ** 2 / ec;
  }
  const df = used - 1;
  return { statistic: stat, df, pValue: df > 0 ? gammaQ(df / 2, stat / 2) : 1 };
}
