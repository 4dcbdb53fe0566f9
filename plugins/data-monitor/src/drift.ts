import type { DataRecord } from '@leantune/core';
import { primaryLabel } from '@leantune/data';
import { extractorFor, featureColumns, type FeatureExtractor, type FeatureSource } from './features';
import { chiSquareHomogeneity, ksTwoSample, psi, psiFromCounts } from './stats';

export interface DriftThresholds {
  /** Mean feature PSI above this recommends retraining (0.1-0.25 is the usual "moderate" band). */
  psi: number;
  /** Share of features whose KS test rejects (Bonferroni) above this recommends retraining. */
  driftedShare: number;
  /** Label PSI above this, with the chi-square test significant at labelAlpha, recommends retraining. */
  labelPsi: number;
  labelAlpha: number;
}

export const DEFAULT_THRESHOLDS: DriftThresholds = { psi: 0.2, driftedShare: 0.1, labelPsi: 0.1, labelAlpha: 0.01 };

export interface DriftOptions {
  /** Where feature vectors come from; default image pixels, else record.features, else text statistics. */
  features?: FeatureSource | FeatureExtractor;
  /** Extractor for the reference records when it differs (a saved reference carries `features`). */
  referenceFeatures?: FeatureSource | FeatureExtractor;
  /** Names of the features, for the report's top list. */
  featureNames?: readonly string[];
  /** PSI bins, equal-frequency on the reference (default 10). */
  bins?: number;
  /** Family-wise significance of the per-feature KS tests, Bonferroni-corrected (default 0.05). */
  alpha?: number;
  thresholds?: Partial<DriftThresholds>;
  /** Compare label distributions too (default: when every record has a label). */
  labels?: boolean;
  /** How many most-drifted features to list (default 5). */
  top?: number;
}

export interface FeatureDrift {
  index: number;
  name?: string;
  psi: number;
  ks: number;
  pValue: number;
}

export interface DriftReport {
  reference: number;
  current: number;
  features: {
    source: string;
    count: number;
    /** Features constant (one value) across both samples; they cannot drift and are left out of the means. */
    constant: number;
    psiMean: number;
    psiMax: number;
    ksMean: number;
    drifted: number;
    driftedShare: number;
    top: FeatureDrift[];
  };
  labels?: { psi: number; chiSquare: number; df: number; pValue: number; reference: Record<string, number>; current: Record<string, number> };
  verdict: 'retrain' | 'watch' | 'ok';
  reasons: string[];
  thresholds: DriftThresholds;
}

function defaultSource(r: DataRecord): FeatureSource {
  if (r.image !== undefined) return 'image';
  if ((r as DataRecord & { features?: unknown }).features !== undefined) return 'features';
  return 'text-stats';
}

function countBy(records: readonly DataRecord[], keys: readonly string[]): number[] {
  const index = new Map(keys.map((k, i) => [k, i]));
  const counts = new Array<number>(keys.length).fill(0);
  for (const r of records) counts[index.get(primaryLabel(r))!]++;
  return counts;
}

function labelDrift(reference: readonly DataRecord[], current: readonly DataRecord[]): NonNullable<DriftReport['labels']> {
  const keys = [...new Set([...reference, ...current].map(primaryLabel))].sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  const ref = countBy(reference, keys);
  const cur = countBy(current, keys);
  const chi = chiSquareHomogeneity(ref, cur);
  return {
    psi: psiFromCounts(ref, cur),
    chiSquare: chi.statistic,
    df: chi.df,
    pValue: chi.pValue,
    reference: Object.fromEntries(keys.map((k, i) => [k, ref[i]])),
    current: Object.fromEntries(keys.map((k, i) => [k, cur[i]])),
  };
}

function checkOptions(o: DriftOptions): void {
  if (o.alpha !== undefined && !(o.alpha > 0 && o.alpha < 1)) throw new Error(`drift: alpha must be in (0, 1) (got ${o.alpha})`);
  if (o.top !== undefined && !(Number.isInteger(o.top) && o.top >= 0)) throw new Error(`drift: top must be an integer >= 0 (got ${o.top})`);
  for (const [k, v] of Object.entries(o.thresholds ?? {})) {
    if (!(k in DEFAULT_THRESHOLDS)) throw new Error(`drift: unknown threshold "${k}"; allowed: ${Object.keys(DEFAULT_THRESHOLDS).join(', ')}`);
    if (typeof v !== 'number' || !(v >= 0)) throw new Error(`drift: threshold ${k} must be a number >= 0 (got ${v})`);
  }
}

/**
 * Drift of `current` against `reference`: PSI and KS on every feature (aggregated), and
 * label drift (PSI, chi-square), with a verdict. Neither record list is modified.
 */
export function driftReport(reference: readonly DataRecord[], current: readonly DataRecord[], options: DriftOptions = {}): DriftReport {
  checkOptions(options);
  if (reference.length === 0 || current.length === 0) throw new Error(`drift: both samples need records (reference ${reference.length}, current ${current.length})`);
  const source = options.features ?? defaultSource(current[0]);
  const extract = extractorFor(source);
  const refCols = featureColumns(reference, options.referenceFeatures ? extractorFor(options.referenceFeatures) : extract, 'drift (reference)');
  const curCols = featureColumns(current, extract, 'drift (current)');
  if (refCols.length !== curCols.length) throw new Error(`drift: reference records have ${refCols.length} features, current records ${curCols.length}`);
  const d = refCols.length;
  const alpha = options.alpha ?? 0.05;
  const perFeature: FeatureDrift[] = [];
  let constant = 0;
  for (let j = 0; j < d; j++) {
    const all = [refCols[j], curCols[j]];
    const first = refCols[j][0];
    if (all.every((c) => c.every((v) => v === first))) {
      constant++;
      continue;
    }
    const ks = ksTwoSample(refCols[j], curCols[j]);
    perFeature.push({ index: j, ...(options.featureNames?.[j] ? { name: options.featureNames[j] } : {}), psi: psi(refCols[j], curCols[j], options.bins ?? 10), ks: ks.statistic, pValue: ks.pValue });
  }
  const mean = (f: (x: FeatureDrift) => number) => (perFeature.length ? perFeature.reduce((a, x) => a + f(x), 0) / perFeature.length : 0);
  const drifted = perFeature.filter((f) => f.pValue < alpha / d).length;
  const thresholds = { ...DEFAULT_THRESHOLDS, ...options.thresholds };
  const report: DriftReport = {
    reference: reference.length,
    current: current.length,
    features: {
      source: typeof source === 'function' ? 'custom' : source,
      count: d,
      constant,
      psiMean: mean((f) => f.psi),
      psiMax: perFeature.reduce((a, f) => Math.max(a, f.psi), 0),
      ksMean: mean((f) => f.ks),
      drifted,
      driftedShare: drifted / d,
      top: [...perFeature].sort((a, b) => b.psi - a.psi || a.index - b.index).slice(0, options.top ?? 5),
    },
    verdict: 'ok',
    reasons: [],
    thresholds,
  };
  const withLabels = options.labels ?? [...reference, ...current].every((r) => r.label !== undefined || (r.labels?.length ?? 0) > 0);
  if (withLabels) report.labels = labelDrift(reference, current);
  return judge(report);
}

/** Sets verdict and reasons from the thresholds: any breach → retrain; half of one → watch. */
function judge(report: DriftReport): DriftReport {
  const t = report.thresholds;
  const f = report.features;
  const severe: string[] = [];
  const moderate: string[] = [];
  const check = (value: number, limit: number, text: string) => {
    if (value > limit) severe.push(text);
    else if (value > limit / 2) moderate.push(text);
  };
  check(f.psiMean, t.psi, `mean feature PSI ${f.psiMean.toFixed(3)} (threshold ${t.psi})`);
  check(f.driftedShare, t.driftedShare, `${f.drifted} of ${f.count} features drifted by KS (share ${f.driftedShare.toFixed(3)}, threshold ${t.driftedShare})`);
  const l = report.labels;
  if (l && l.pValue < t.labelAlpha) check(l.psi, t.labelPsi, `label PSI ${l.psi.toFixed(3)} (threshold ${t.labelPsi}), chi-square p ${l.pValue.toExponential(2)}`);
  report.verdict = severe.length ? 'retrain' : moderate.length ? 'watch' : 'ok';
  report.reasons = severe.length ? severe : moderate;
  return report;
}

/** A short human summary of a report, ending with the recommendation. */
export function formatDriftReport(r: DriftReport): string {
  const f = r.features;
  const lines = [
    `Drift: ${r.current} current vs ${r.reference} reference records; ${f.count} ${f.source} features (${f.constant} constant).`,
    `Features: mean PSI ${f.psiMean.toFixed(4)}, max PSI ${f.psiMax.toFixed(4)}, mean KS ${f.ksMean.toFixed(4)}, drifted ${f.drifted}/${f.count} (share ${f.driftedShare.toFixed(3)}).`,
  ];
  if (r.labels) lines.push(`Labels: PSI ${r.labels.psi.toFixed(4)}, chi-square ${r.labels.chiSquare.toFixed(2)} (df ${r.labels.df}, p ${r.labels.pValue.toExponential(2)}).`);
  const advice = { retrain: 'Recommendation: RETRAIN', watch: 'Recommendation: watch (below the retrain thresholds)', ok: 'Recommendation: no action' }[r.verdict];
  lines.push(r.reasons.length ? `${advice}: ${r.reasons.join('; ')}.` : `${advice}.`);
  return lines.join('\n');
}
