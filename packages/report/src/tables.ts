import { formatSummary, type Analysis, type ArmResult } from './analysis';

const size = (bytes: number | undefined) =>
  bytes === undefined ? '-' : bytes >= 1 << 20 ? `${(bytes / (1 << 20)).toFixed(1)} MiB` : `${(bytes / 1024).toFixed(1)} KiB`;
const pct = (x: number | undefined) => (x === undefined ? '-' : `${x < 0.1 ? x.toFixed(3) : x.toFixed(2)}%`);

/** One row per arm, as the Markdown table, the CSV and the HTML table show it. */
export interface TableRow {
  arm: string;
  method: string;
  seeds: string;
  primary: string;
  macroF1: string;
  trainable: string;
  share: string;
  trainSeconds: string;
  peakRssMB: string;
  saved: string;
  versusBest: string;
}

export function versusBestText(a: Analysis, arm: ArmResult): string {
  if (arm.label === a.best) return 'best';
  const v = arm.versusBest;
  if (!v) return arm.completedSeeds.length ? '-' : 'no completed run';
  if (!Number.isFinite(v.p)) return `not distinguishable (n=${v.n}, too few common seeds)`;
  return `${v.distinguishable ? 'worse' : 'not distinguishable'} (p=${v.p.toFixed(3)}, n=${v.n})`;
}

export function tableRows(a: Analysis): TableRow[] {
  return a.arms.map((arm) => ({
    arm: arm.label,
    method: arm.method,
    seeds: `${arm.completedSeeds.length}/${arm.runs.length}${arm.failed.length ? ` (${arm.failed.length} failed)` : ''}`,
    primary: arm.metrics[a.primaryMetric] ? formatSummary(arm.metrics[a.primaryMetric]) : '-',
    macroF1: arm.metrics.macro_f1 ? formatSummary(arm.metrics.macro_f1) : '-',
    trainable: arm.trainable === undefined ? '-' : arm.trainable.toLocaleString('en'),
    share: pct(arm.trainablePercent),
    trainSeconds: arm.trainSeconds.n ? formatSummary(arm.trainSeconds, 1) : '-',
    peakRssMB: arm.peakRssMB.n ? formatSummary(arm.peakRssMB, 0) : '-',
    saved: size(arm.savedBytes),
    versusBest: versusBestText(a, arm),
  }));
}

export function tableHeader(a: Analysis): string[] {
  return ['arm', 'method', 'seeds ok', `${a.primaryMetric} mean ± std [95% CI]`, 'macro-F1', 'trainable', '% of all', 'train s', 'peak RSS MB', 'saved', `vs best (${a.test})`];
}

export function markdownTable(a: Analysis): string {
  const head = tableHeader(a);
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  return [
    `| ${head.map(esc).join(' | ')} |`,
    `| ${head.map(() => '---').join(' | ')} |`,
    ...tableRows(a).map((r) => `| ${Object.values(r).map(esc).join(' | ')} |`),
  ].join('\n');
}

/** One line per run (not per arm): the raw figures, for spreadsheets and pandas. */
export function csvTable(a: Analysis): string {
  const metricNames = [...new Set(a.arms.flatMap((arm) => Object.keys(arm.metrics)))].sort();
  const head = ['arm', 'method', 'seed', 'status', 'attempt', 'failure_kind', 'train_seconds', 'wall_seconds', 'peak_rss_mb', 'trainable', 'total_params', 'saved_bytes', ...metricNames];
  const cell = (v: unknown) => {
    if (v === null || v === undefined) return '';
    const s = String(v);
    return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  const lines = [head.join(',')];
  for (const arm of a.arms) {
    for (const r of arm.runs) {
      const i = arm.completedSeeds.indexOf(r.seed);
      const metrics = metricNames.map((m) => (i >= 0 ? arm.metrics[m]?.values[i] : undefined));
      lines.push(
        [arm.label, arm.method, r.seed, r.status, r.attempt, r.failureKind, r.trainSeconds, r.wallSeconds, r.peakRssMB, r.trainable, r.totalParams, r.savedBytes, ...metrics].map(cell).join(','),
      );
    }
  }
  return `${lines.join('\n')}\n`;
}
