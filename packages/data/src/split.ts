import type { DataRecord } from '@leantune/core';
import { primaryLabel } from './records';
import { deriveSeed, shuffle } from './shuffle';

export interface HoldoutOptions {
  /** Fraction of records for validation, in [0, 1). */
  validation: number;
  /** Fraction of records for test, in [0, 1); validation + test < 1. */
  test?: number;
  seed: number;
  /** Keep each label's share the same in every split (default true). */
  stratify?: boolean;
  /** What to stratify by; default the record's label (first of `labels`). */
  labelOf?: (record: DataRecord) => string;
}

export interface HoldoutSplits<T> {
  train: T[];
  validation: T[];
  test: T[];
}

function checkFraction(name: string, value: number): void {
  if (!(value >= 0 && value < 1)) throw new Error(`Split fraction "${name}" must be in [0, 1) (got ${value})`);
}

const byId = (a: DataRecord, b: DataRecord) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/**
 * Groups by key, groups sorted by key and members by id, so a split depends on the set of
 * records and the seed, not on the order an earlier stage left them in.
 */
function groupBy<T extends DataRecord>(items: readonly T[], key: (item: T) => string): Array<[string, T[]]> {
  const groups = new Map<string, T[]>();
  for (const item of [...items].sort(byId)) {
    const k = key(item);
    let g = groups.get(k);
    if (!g) groups.set(k, (g = []));
    g.push(item);
  }
  return [...groups.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

/**
 * Integer shares of `total` proportional to `sizes` (largest remainder, ties to the earlier
 * group), so the stratified split sizes add up to round(total) exactly.
 */
function apportion(sizes: number[], fraction: number): number[] {
  const target = Math.round(sizes.reduce((a, b) => a + b, 0) * fraction);
  const exact = sizes.map((n) => n * fraction);
  const shares = exact.map(Math.floor);
  let left = target - shares.reduce((a, b) => a + b, 0);
  const order = exact.map((x, i) => ({ i, rem: x - Math.floor(x) })).sort((a, b) => b.rem - a.rem || a.i - b.i);
  for (const { i } of order) {
    if (left <= 0) break;
    if (shares[i] < sizes[i]) {
      shares[i]++;
      left--;
    }
  }
  return shares;
}

/**
 * Train / validation / test holdout, a pure function of (records, options). Stratified by
 * label by default: each label contributes its proportional share to every split.
 */
export function holdoutSplit<T extends DataRecord>(records: readonly T[], options: HoldoutOptions): HoldoutSplits<T> {
  const test = options.test ?? 0;
  checkFraction('validation', options.validation);
  checkFraction('test', test);
  if (options.validation + test >= 1) {
    throw new Error(`Split fractions validation (${options.validation}) + test (${test}) must be below 1 so that train keeps records`);
  }
  const labelOf = options.labelOf ?? primaryLabel;
  const groups = groupBy(records, options.stratify === false ? () => '' : labelOf);
  const shuffled = groups.map(([label, items]) => shuffle(items, deriveSeed(options.seed, `holdout:${label}`)));
  const sizes = shuffled.map((g) => g.length);
  const valShares = apportion(sizes, options.validation);
  const testTotal = Math.round(records.length * test);
  // Test shares come from what validation left, scaled so the total still hits round(N·test).
  const rest = sizes.map((n, i) => n - valShares[i]);
  const restTotal = rest.reduce((a, b) => a + b, 0);
  const testShares = restTotal > 0 ? apportion(rest, testTotal / restTotal) : rest.map(() => 0);
  const out: HoldoutSplits<T> = { train: [], validation: [], test: [] };
  shuffled.forEach((items, i) => {
    out.validation.push(...items.slice(0, valShares[i]));
    out.test.push(...items.slice(valShares[i], valShares[i] + testShares[i]));
    out.train.push(...items.slice(valShares[i] + testShares[i]));
  });
  // Interleave classes: without this each split would list one label after another.
  return {
    train: shuffle(out.train, deriveSeed(options.seed, 'holdout:train')),
    validation: shuffle(out.validation, deriveSeed(options.seed, 'holdout:validation')),
    test: shuffle(out.test, deriveSeed(options.seed, 'holdout:test')),
  };
}

export interface Fold<T> {
  train: T[];
  validation: T[];
}

/**
 * k folds; every record is in exactly one fold's validation set. Stratified by default:
 * records are dealt round-robin class by class, so each fold gets each label's share
 * (±1) and fold sizes differ by at most one.
 */
export function kFold<T extends DataRecord>(
  records: readonly T[],
  k: number,
  options: { seed: number; stratify?: boolean; labelOf?: (record: DataRecord) => string },
): Array<Fold<T>> {
  if (!Number.isInteger(k) || k < 2) throw new Error(`k-fold needs an integer k >= 2 (got ${k})`);
  if (k > records.length) throw new Error(`k-fold with k=${k} needs at least ${k} records (got ${records.length})`);
  const labelOf = options.labelOf ?? primaryLabel;
  const groups = groupBy(records, options.stratify === false ? () => '' : labelOf);
  const dealt = groups.flatMap(([label, items]) => shuffle(items, deriveSeed(options.seed, `kfold:${label}`)));
  const foldOf = new Map<T, number>();
  dealt.forEach((r, i) => foldOf.set(r, i % k));
  return Array.from({ length: k }, (_, f) => ({
    train: records.filter((r) => foldOf.get(r) !== f),
    validation: records.filter((r) => foldOf.get(r) === f),
  }));
}
