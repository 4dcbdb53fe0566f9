import type { DataRecord } from '@leantune/core';
import { contentKey, findSimilarPairs, groupPairs, primaryLabel, type NearDuplicateOptions } from '@leantune/data';

export type DuplicateKind = 'exact' | 'near';

/** Records with the same (or near-same) input and more than one label. */
export interface LabelConflict {
  kind: DuplicateKind;
  ids: string[];
  labels: string[];
}

/** What to do with one group of duplicates: which records go, and why. */
export interface GroupVerdict {
  drops: Array<{ record: DataRecord; reason: string; keptId?: string }>;
  conflict?: LabelConflict;
}

/**
 * Decides a duplicate group (in input order). One label (unlabelled records count as
 * agreeing with anyone): keep the first labelled record, drop the rest as duplicates. Several
 * labels: a conflict; `dropConflicts` drops the whole group, else the first record of each
 * label stays so the conflict remains visible downstream.
 */
export function resolveGroup(members: readonly DataRecord[], kind: DuplicateKind, dropConflicts: boolean): GroupVerdict {
  const labels = [...new Set(members.map(primaryLabel).filter((l) => l !== ''))].sort();
  const reason = `${kind}-duplicate`;
  if (labels.length <= 1) {
    const keeper = members.find((r) => primaryLabel(r) !== '') ?? members[0];
    return { drops: members.filter((r) => r !== keeper).map((record) => ({ record, reason, keptId: keeper.id })) };
  }
  const conflict: LabelConflict = { kind, ids: members.map((r) => r.id), labels };
  if (dropConflicts) return { conflict, drops: members.map((record) => ({ record, reason: 'conflicting-label' })) };
  const keepers = new Map<string, DataRecord>();
  for (const r of members) if (primaryLabel(r) !== '' && !keepers.has(primaryLabel(r))) keepers.set(primaryLabel(r), r);
  const kept = new Set(keepers.values());
  const first = [...kept][0];
  return { conflict, drops: members.filter((r) => !kept.has(r)).map((record) => ({ record, reason, keptId: (keepers.get(primaryLabel(record)) ?? first).id })) };
}

/** Groups of records whose content keys are equal (size >= 2), in input order. */
export function exactGroups(records: readonly DataRecord[]): DataRecord[][] {
  const byKey = new Map<string, DataRecord[]>();
  for (const r of records) {
    const key = contentKey(r);
    if (key === undefined) continue;
    const g = byKey.get(key);
    if (g) g.push(r);
    else byKey.set(key, [r]);
  }
  return [...byKey.values()].filter((g) => g.length > 1);
}

/** Clusters of text records linked by shingle Jaccard >= threshold, with each linking pair. */
export function nearGroups(records: readonly DataRecord[], options: NearDuplicateOptions): { groups: DataRecord[][]; pairs: Array<{ a: string; b: string; similarity: number }> } {
  const texts = records.filter((r) => typeof r.text === 'string');
  const pairs = findSimilarPairs(
    texts.map((r) => r.text as string),
    options,
  );
  // A cluster of identical texts was already decided by the exact pass (a conflict it kept).
  const sameContent = (g: DataRecord[]) => g.every((r) => contentKey(r) === contentKey(g[0]));
  return {
    groups: groupPairs(texts.length, pairs)
      .map((g) => g.map((i) => texts[i]))
      .filter((g) => !sameContent(g)),
    pairs: pairs.map((p) => ({ a: texts[p.a].id, b: texts[p.b].id, similarity: Math.round(p.similarity * 1000) / 1000 })),
  };
}
