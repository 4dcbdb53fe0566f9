import type { DataRecord } from '@leantune/core';
import { kFold, primaryLabel } from '@leantune/data';
import type { SparseVector } from './features';
import { knnProbabilities } from './knn';

export interface NoiseSuspect {
  id: string;
  given: string;
  suggested: string;
  /** Out-of-fold probability of the given label. */
  selfConfidence: number;
  /** Out-of-fold probability of the suggested label. */
  suggestedConfidence: number;
}

/**
 * Out-of-fold predicted probabilities: each record is scored by a kNN fitted on the other
 * folds only, so its own (possibly wrong) label never votes for itself.
 */
export function outOfFoldProbabilities(records: readonly DataRecord[], features: readonly SparseVector[], labels: readonly string[], options: { folds: number; k: number; seed: number }): Float64Array[] {
  const position = new Map(records.map((r, i) => [r, i]));
  const classOf = records.map((r) => labels.indexOf(primaryLabel(r)));
  const probs: Float64Array[] = new Array(records.length);
  for (const fold of kFold(records, options.folds, { seed: options.seed })) {
    const train = fold.train.map((r) => position.get(r)!);
    const held = fold.validation.map((r) => position.get(r)!);
    const p = knnProbabilities(
      held.map((i) => features[i]),
      train.map((i) => features[i]),
      train.map((i) => classOf[i]),
      labels.length,
      options.k,
    );
    held.forEach((i, j) => (probs[i] = p[j]));
  }
  return probs;
}

/**
 * Confident learning (Northcutt et al., 2021), the confident-joint rule: the per-class
 * threshold t_j is the mean predicted probability of class j over records labelled j; a
 * record labelled i is counted under the class j with the largest p_j among those with
 * p_j >= t_j, and is a suspect when that j is not i. Suspects are ranked by self-confidence
 * (lowest first), the order in which a reviewer should look at them.
 */
export function findLabelIssues(records: readonly DataRecord[], probs: readonly Float64Array[], labels: readonly string[]): { suspects: NoiseSuspect[]; thresholds: Record<string, number> } {
  const classOf = records.map((r) => labels.indexOf(primaryLabel(r)));
  const sums = new Float64Array(labels.length);
  const counts = new Float64Array(labels.length);
  records.forEach((_, i) => {
    sums[classOf[i]] += probs[i][classOf[i]];
    counts[classOf[i]]++;
  });
  // A class with no records gets threshold 1 + ε so nothing is counted under it.
  const thresholds = labels.map((_, j) => (counts[j] > 0 ? sums[j] / counts[j] : 1.1));
  const suspects: NoiseSuspect[] = [];
  records.forEach((r, i) => {
    let best = -1;
    for (let j = 0; j < labels.length; j++) if (probs[i][j] >= thresholds[j] && (best < 0 || probs[i][j] > probs[i][best])) best = j;
    if (best >= 0 && best !== classOf[i]) {
      suspects.push({ id: r.id, given: labels[classOf[i]], suggested: labels[best], selfConfidence: round(probs[i][classOf[i]]), suggestedConfidence: round(probs[i][best]) });
    }
  });
  suspects.sort((a, b) => a.selfConfidence - b.selfConfidence || (a.id < b.id ? -1 : 1));
  return { suspects, thresholds: Object.fromEntries(labels.map((l, j) => [l, round(thresholds[j])])) };
}

const round = (x: number) => Math.round(x * 1e4) / 1e4;
