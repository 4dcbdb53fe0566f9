import type { ExperimentStore, RunRow } from './store';
import { pairedTTest, summarize, type PairedTest, type Summary } from './stats';

/** Metrics where lower is better; everything else is maximised. */
const LOWER_IS_BETTER = /loss|perplexity|error|seconds|rss|bytes/i;
export const lowerIsBetter = (metric: string) => LOWER_IS_BETTER.test(metric);

export interface ArmResult {
  label: string;
  method: string;
  config: Record<string, unknown>;
  resolvedConfig: Record<string, unknown> | null;
  runs: RunRow[];
  completedSeeds: number[];
  failed: Array<{ seed: number; kind: string | null; reason: string | null }>;
  /** Final validation metrics over the completed seeds. */
  metrics: Record<string, Summary & { values: number[] }>;
  trainable?: number;
  totalParams?: number;
  trainablePercent?: number;
  trainSeconds: Summary;
  peakRssMB: Summary;
  savedBytes?: number;
  /** Against the best arm, on the seeds both completed; absent for the best arm itself. */
  versusBest?: PairedTest & { distinguishable: boolean };
}

export interface Analysis {
  experiment: ReturnType<ExperimentStore['experiment']>;
  primaryMetric: string;
  alpha: number;
  test: PairedTest['test'];
  arms: ArmResult[];
  best?: string;
  /** Arms whose difference from the best is not significant at alpha (or that cannot be tested: under two common seeds). */
  notDistinguishable: string[];
  pareto: string[];
}

/** The final validation metrics of a completed run, as stored. */
function finalMetrics(store: ExperimentStore, run: RunRow): Record<string, number> {
  const out: Record<string, number> = {};
  const rows = store.evalMetrics(run.id).filter((r) => r.split === 'validation');
  const last = Math.max(...rows.map((r) => r.step));
  for (const r of rows) if (r.step === last && r.value !== null) out[r.name] = r.value;
  return out;
}

/**
 * Arms on the memory/accuracy Pareto front: no other arm uses no more peak memory and
 * scores at least as well, with one of the two strictly better.
 */
export function paretoFront(points: Array<{ label: string; memory: number; score: number }>): string[] {
  return points
    .filter((p) => Number.isFinite(p.memory) && Number.isFinite(p.score))
    .filter((p, _i, all) => !all.some((q) => q !== p && q.memory <= p.memory && q.score >= p.score && (q.memory < p.memory || q.score > p.score)))
    .map((p) => p.label);
}

export function analyze(store: ExperimentStore, ref: string, alpha = 0.05): Analysis {
  const experiment = store.experiment(ref);
  const primary = experiment.primaryMetric;
  const runs = store.runs(experiment.id);
  const arms: ArmResult[] = store.arms(experiment.id).map((arm) => {
    const mine = runs.filter((r) => r.armId === arm.id);
    const done = mine.filter((r) => r.status === 'completed');
    const perSeed = done.map((r) => finalMetrics(store, r));
    const names = [...new Set(perSeed.flatMap((m) => Object.keys(m)))];
    const metrics: ArmResult['metrics'] = {};
    for (const name of names) {
      const values = perSeed.map((m) => m[name]).filter((v): v is number => typeof v === 'number');
      if (values.length === done.length) metrics[name] = { ...summarize(values), values };
    }
    const first = done[0];
    return {
      label: arm.label,
      method: arm.method,
      config: arm.config,
      resolvedConfig: arm.resolvedConfig,
      runs: mine,
      completedSeeds: done.map((r) => r.seed),
      failed: mine.filter((r) => r.status === 'failed').map((r) => ({ seed: r.seed, kind: r.failureKind, reason: r.failureReason })),
      metrics,
      trainable: first?.trainable ?? undefined,
      totalParams: first?.totalParams ?? undefined,
      trainablePercent: first?.trainable != null && first.totalParams ? (100 * first.trainable) / first.totalParams : undefined,
      trainSeconds: summarize(done.map((r) => r.trainSeconds ?? NaN).filter(Number.isFinite)),
      peakRssMB: summarize(done.map((r) => r.peakRssMB ?? NaN).filter(Number.isFinite)),
      savedBytes: first?.savedBytes ?? undefined,
    };
  });
  const sign = lowerIsBetter(primary) ? -1 : 1;
  const ranked = arms.filter((a) => a.metrics[primary]).sort((a, b) => sign * (b.metrics[primary].mean - a.metrics[primary].mean));
  const best = ranked[0];
  const notDistinguishable: string[] = [];
  if (best) {
    const bestBySeed = new Map(best.completedSeeds.map((s, i) => [s, best.metrics[primary].values[i]]));
    for (const arm of ranked.slice(1)) {
      const pairs = arm.completedSeeds.map((s, i) => [bestBySeed.get(s), arm.metrics[primary].values[i]] as const).filter(([b]) => b !== undefined) as Array<
        readonly [number, number]
      >;
      const t = pairedTTest(
        pairs.map((p) => p[0]),
        pairs.map((p) => p[1]),
      );
      const distinguishable = Number.isFinite(t.p) && t.p < alpha;
      arm.versusBest = { ...t, distinguishable };
      if (!distinguishable) notDistinguishable.push(arm.label);
    }
  }
  const pareto = paretoFront(
    arms.filter((a) => a.metrics[primary] && a.peakRssMB.n).map((a) => ({ label: a.label, memory: a.peakRssMB.mean, score: sign * a.metrics[primary].mean })),
  );
  return { experiment, primaryMetric: primary, alpha, test: 'paired t-test (two-sided)', arms, best: best?.label, notDistinguishable, pareto };
}

const f = (x: number, d = 4) => (Number.isFinite(x) ? x.toFixed(d) : '-');

/** "0.9500 ± 0.0100 [0.9252, 0.9748]" (mean ± std [95% CI]); one seed: the value alone. */
export function formatSummary(s: Summary, digits = 4): string {
  if (!s.n) return '-';
  if (s.n === 1) return `${f(s.mean, digits)} (1 seed)`;
  return `${f(s.mean, digits)} ± ${f(s.std, digits)} [${f(s.ci95[0], digits)}, ${f(s.ci95[1], digits)}]`;
}

/** The closing lines of `leantune compare`: the best arm, and the ones the test cannot tell from it. */
export function verdict(a: Analysis): string {
  if (!a.best) return 'No arm completed; nothing to compare. See the failures above, fix them, and rerun with --resume.';
  const best = a.arms.find((x) => x.label === a.best)!;
  const lines = [`Best by mean ${a.primaryMetric}: ${a.best} (${formatSummary(best.metrics[a.primaryMetric])}, ${best.completedSeeds.length} seeds).`];
  if (best.completedSeeds.length < 2) {
    lines.push(`With one seed no difference can be tested; run with --seeds 3 or more before naming a winner.`);
  } else if (a.notDistinguishable.length) {
    const tested = a.notDistinguishable.map((l) => ({ l, v: a.arms.find((x) => x.label === l)!.versusBest! }));
    const withP = tested.filter((x) => Number.isFinite(x.v.p));
    const untestable = tested.filter((x) => !Number.isFinite(x.v.p));
    if (withP.length) {
      lines.push(
        `Not distinguishable from ${a.best} (${a.test}, same seeds, alpha ${a.alpha}): ${withP.map(({ l, v }) => `${l} (p=${v.p.toFixed(3)}, n=${v.n})`).join(', ')}. No single winner among these.`,
      );
    }
    if (untestable.length) {
      lines.push(`Too few seeds in common with ${a.best} to test (under 2): ${untestable.map(({ l, v }) => `${l} (n=${v.n})`).join(', ')}; rerun their failed seeds with --resume.`);
    }
  } else if (a.arms.filter((x) => x.versusBest).length) {
    lines.push(`Every other arm is significantly worse than ${a.best} (${a.test}, alpha ${a.alpha}).`);
  }
  return lines.join('\n');
}
