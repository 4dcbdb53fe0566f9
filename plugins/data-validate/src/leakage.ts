import type { DataRecord } from '@leantune/core';
import { contentKey, findSimilarPairs, type NearDuplicateOptions } from '@leantune/data';

/** One record of a later split that repeats (or nearly repeats) a record of an earlier split. */
export interface Leak {
  kind: 'exact' | 'near';
  /** e.g. 'train-validation': the earlier split first. */
  between: string;
  id: string;
  matches: string;
  similarity: number;
}

/**
 * Leaks between splits, checked in the given order: a record of split j that equals (or is a
 * near-duplicate of) a record of an earlier split i < j. Each leaking record is listed once,
 * against the first earlier record it matched, exact matches before near ones.
 */
export function findLeaks(splits: ReadonlyArray<[string, readonly DataRecord[]]>, check: { exact: boolean; near?: NearDuplicateOptions }): Leak[] {
  const near = check.near;
  const all: Array<{ record: DataRecord; split: number }> = splits.flatMap(([, records], split) => records.map((record) => ({ record, split })));
  const leaks = new Map<string, Leak>();
  const firstByKey = new Map<string, { record: DataRecord; split: number }>();
  for (const item of check.exact ? all : []) {
    const key = contentKey(item.record);
    if (key === undefined) continue;
    const first = firstByKey.get(key);
    if (!first) firstByKey.set(key, item);
    else if (first.split < item.split && !leaks.has(item.record.id)) {
      leaks.set(item.record.id, { kind: 'exact', between: `${splits[first.split][0]}-${splits[item.split][0]}`, id: item.record.id, matches: first.record.id, similarity: 1 });
    }
  }
  if (near) {
    const texts = all.filter((x) => typeof x.record.text === 'string');
    const pairs = findSimilarPairs(
      texts.map((x) => x.record.text as string),
      near,
      (a, b) => texts[a].split !== texts[b].split,
    );
    for (const p of pairs) {
      // findSimilarPairs gives a < b in input order, which is split order, so b is the later one.
      const [early, late] = texts[p.a].split < texts[p.b].split ? [texts[p.a], texts[p.b]] : [texts[p.b], texts[p.a]];
      if (leaks.has(late.record.id)) continue;
      leaks.set(late.record.id, { kind: 'near', between: `${splits[early.split][0]}-${splits[late.split][0]}`, id: late.record.id, matches: early.record.id, similarity: Math.round(p.similarity * 1000) / 1000 });
    }
  }
  return [...leaks.values()];
}

/** Leak counts as { exact: { 'train-validation': 3 }, near: { ... } }. */
export function countLeaks(leaks: readonly Leak[]): Record<'exact' | 'near', Record<string, number>> {
  const out: Record<'exact' | 'near', Record<string, number>> = { exact: {}, near: {} };
  for (const l of leaks) out[l.kind][l.between] = (out[l.kind][l.between] ?? 0) + 1;
  return out;
}
