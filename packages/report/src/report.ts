import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { analyze, formatSummary, lowerIsBetter, verdict, type Analysis } from './analysis';
import type { ExperimentStore, RunRow } from './store';
import { csvTable, markdownTable, tableHeader, tableRows } from './tables';

/** Writes through a temporary file and a rename, so a reader never sees half a file. */
export function writeFileAtomic(file: string, text: string): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

export interface ChartData {
  loss: Array<{ arm: string; seed: number; step: number; loss: number }>;
  arms: Array<{
    arm: string;
    score: number;
    lo: number | null;
    hi: number | null;
    share: number | null;
    memory: number | null;
    front: boolean;
    trainSeconds: number | null;
    savedKiB: number | null;
    seeds: number;
  }>;
  /** Swept arms: each sweep parameter's value in the arm, and the arm's score (empty without a sweep). */
  sweep: Array<{ arm: string; method: string; param: string; value: number; score: number; log: boolean }>;
}

export function chartData(store: ExperimentStore, a: Analysis): ChartData {
  const loss = store
    .stepMetrics(a.experiment.id)
    .filter((s) => s.loss !== undefined && Number.isFinite(s.loss) && a.arms.find((x) => x.label === s.arm)?.completedSeeds.includes(s.seed))
    .map((s) => ({ arm: s.arm, seed: s.seed, step: s.step, loss: s.loss! }));
  const arms = a.arms
    .filter((arm) => arm.metrics[a.primaryMetric])
    .map((arm) => {
      const m = arm.metrics[a.primaryMetric];
      return {
        arm: arm.label,
        score: m.mean,
        lo: Number.isFinite(m.ci95[0]) ? m.ci95[0] : null,
        hi: Number.isFinite(m.ci95[1]) ? m.ci95[1] : null,
        share: arm.trainablePercent ?? null,
        memory: arm.peakRssMB.n ? arm.peakRssMB.mean : null,
        front: a.pareto.includes(arm.label),
        trainSeconds: arm.trainSeconds.n ? arm.trainSeconds.mean : null,
        savedKiB: arm.savedBytes === undefined ? null : arm.savedBytes / 1024,
        seeds: arm.completedSeeds.length,
      };
    });
  return { loss, arms, sweep: sweepPoints(store, a) };
}

/** For an experiment with a sweep section: each numeric swept value of each completed arm (method options from the arm, train options from its resolved config). */
function sweepPoints(store: ExperimentStore, a: Analysis): ChartData['sweep'] {
  const sweep = a.experiment.config.sweep as Record<string, unknown> | undefined;
  if (!sweep || typeof sweep !== 'object') return [];
  const params = Object.keys(sweep).filter((k) => k.includes('.'));
  const arms = new Map(store.arms(a.experiment.id).map((arm) => [arm.label, arm]));
  const out: ChartData['sweep'] = [];
  for (const result of a.arms) {
    const arm = arms.get(result.label);
    const m = result.metrics[a.primaryMetric];
    if (!arm || !m) continue;
    for (const param of params) {
      const [head, id, ...rest] = param.split('.');
      const from = head === 'train' ? (arm.resolvedConfig?.train as Record<string, unknown> | undefined) : id === arm.method ? arm.config : undefined;
      const path = head === 'train' ? [id, ...rest] : rest;
      const value = path.reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), from);
      const spec = sweep[param] as { log?: unknown } | undefined;
      if (typeof value === 'number') out.push({ arm: arm.label, method: arm.method, param, value, score: m.mean, log: !!spec && typeof spec === 'object' && 'log' in spec });
    }
  }
  return out;
}

/** The Vega-Lite specs of the report, by element id. Every mark layer is named, so tests can find it. */
export function chartSpecs(data: ChartData, primary: string): Record<string, Record<string, unknown>> {
  const schema = 'https://vega.github.io/schema/vega-lite/v6.json';
  const armColor = { field: 'arm', type: 'nominal', title: 'arm', sort: data.arms.map((a) => a.arm) };
  const tip = (...fields: Array<[string, string, string?]>) => fields.map(([field, type, format]) => ({ field, type, ...(format ? { format } : {}) }));
  const scoreTitle = `${primary} (mean over seeds)`;
  // Bars on a log axis need a baseline above zero: the power of ten under the smallest size.
  const sizes = data.arms.map((a) => a.savedKiB ?? 0).filter((x) => x > 0);
  const sizeBase = sizes.length ? 10 ** Math.floor(Math.log10(Math.min(...sizes))) : 1;
  const bar = (name: string, field: string, title: string, format: string, scale?: Record<string, unknown>, x2?: Record<string, unknown>) => ({
    name,
    width: 300,
    height: 24 * Math.max(1, data.arms.length),
    mark: 'bar',
    encoding: {
      y: { field: 'arm', type: 'nominal', sort: data.arms.map((a) => a.arm), title: null },
      x: { field, type: 'quantitative', title, ...(scale ? { scale } : {}) },
      ...(x2 ? { x2 } : {}),
      color: { ...armColor, legend: null },
      tooltip: tip(['arm', 'nominal'], [field, 'quantitative', format]),
    },
  });
  return {
    loss: {
      $schema: schema,
      title: 'Training loss per step: mean over seeds, band from the lowest to the highest seed',
      width: 640,
      height: 300,
      data: { values: data.loss },
      encoding: { x: { field: 'step', type: 'quantitative', title: 'step' }, color: { ...armColor, legend: { symbolOpacity: 1 } } },
      layer: [
        // The legend's swatches at full opacity: the bands' faded ones would hide the lines' colors.
        { name: 'band', mark: { type: 'errorband', extent: 'min-max', opacity: 0.25 }, encoding: { y: { field: 'loss', type: 'quantitative', title: 'loss' } } },
        { name: 'mean', mark: { type: 'line', strokeWidth: 1.5 }, encoding: { y: { aggregate: 'mean', field: 'loss', type: 'quantitative', title: 'loss' } } },
      ],
    },
    share: {
      $schema: schema,
      title: `${primary} against the trainable share of parameters (log axis; bars: 95% CI)`,
      width: 420,
      height: 300,
      data: { values: data.arms.filter((a) => a.share !== null && a.share > 0) },
      encoding: {
        x: { field: 'share', type: 'quantitative', scale: { type: 'log' }, title: 'trainable parameters (% of all, log)' },
        color: armColor,
      },
      layer: [
        { name: 'ci', transform: [{ filter: 'datum.lo !== null' }], mark: 'rule', encoding: { y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' } } },
        {
          name: 'arms',
          mark: { type: 'point', filled: true, size: 80 },
          encoding: {
            y: { field: 'score', type: 'quantitative', title: scoreTitle, scale: { zero: false } },
            tooltip: tip(['arm', 'nominal'], ['score', 'quantitative', '.4f'], ['share', 'quantitative', '.3f']),
          },
        },
      ],
    },
    pareto: {
      $schema: schema,
      title: `Peak memory against ${primary}: the Pareto front (${lowerIsBetter(primary) ? 'lower' : 'higher'} ${primary}, less memory)`,
      width: 420,
      height: 300,
      data: { values: data.arms.filter((a) => a.memory !== null) },
      encoding: {
        x: { field: 'memory', type: 'quantitative', title: 'peak RSS (MB, mean over seeds)', scale: { zero: false } },
        y: { field: 'score', type: 'quantitative', title: scoreTitle, scale: { zero: false } },
      },
      layer: [
        {
          name: 'frontline',
          transform: [{ filter: 'datum.front' }],
          mark: { type: 'line', color: '#888', strokeDash: [4, 3], interpolate: 'step-after' },
          encoding: { order: { field: 'memory', type: 'quantitative' } },
        },
        {
          name: 'arms',
          mark: { type: 'point', filled: true, size: 70 },
          encoding: { color: armColor, tooltip: tip(['arm', 'nominal'], ['memory', 'quantitative', '.0f'], ['score', 'quantitative', '.4f'], ['front', 'nominal']) },
        },
        {
          name: 'front',
          transform: [{ filter: 'datum.front' }],
          mark: { type: 'point', shape: 'diamond', size: 260, filled: false, color: 'black', strokeWidth: 1.5 },
          encoding: { tooltip: tip(['arm', 'nominal']) },
        },
      ],
    },
    ...(data.sweep.length ? { sweep: sweepSpec(data, primary, schema) } : {}),
    cost: {
      $schema: schema,
      title: 'Train time and saved adapter size per arm',
      data: { values: data.arms.filter((a) => a.trainSeconds !== null && a.savedKiB !== null && a.savedKiB > 0) },
      hconcat: [
        bar('time', 'trainSeconds', 'train seconds (mean over seeds)', '.1f'),
        bar('size', 'savedKiB', 'saved trainable weights (KiB, log)', '.1f', { type: 'log' }, { datum: sizeBase }),
      ],
    },
  };
}

/** One panel per swept option: the score against its value, a line per method through the mean over the other options, a point per arm (log axis when a range is log-spaced). */
function sweepSpec(data: ChartData, primary: string, schema: string): Record<string, unknown> {
  const log = data.sweep.some((p) => p.log) && data.sweep.every((p) => p.value > 0);
  return {
    $schema: schema,
    title: `Sweep: ${primary} (mean over seeds) against each swept option; lines through the mean over the other options`,
    data: { values: data.sweep },
    facet: { column: { field: 'param', type: 'nominal', title: null } },
    resolve: { scale: { x: 'independent' } },
    spec: {
      width: 300,
      height: 240,
      encoding: {
        x: { field: 'value', type: 'quantitative', title: log ? 'swept value (log axis)' : 'swept value', scale: log ? { type: 'log' } : { zero: false } },
        color: { field: 'method', type: 'nominal', title: 'method' },
      },
      layer: [
        { name: 'mean', mark: 'line', encoding: { y: { aggregate: 'mean', field: 'score', type: 'quantitative', title: `${primary} (mean over seeds)`, scale: { zero: false } } } },
        {
          name: 'arms',
          mark: { type: 'point', filled: true, size: 60 },
          encoding: { y: { field: 'score', type: 'quantitative' }, tooltip: [{ field: 'arm', type: 'nominal' }, { field: 'value', type: 'quantitative' }, { field: 'score', type: 'quantitative', format: '.4f' }] },
        },
      ],
    },
  };
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
/** JSON safe inside a <script> element. */
const scriptJson = (v: unknown) => JSON.stringify(v).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');

/** The folder of an installed package (their "exports" hide the build files from require.resolve). */
function packageDir(name: string): string {
  const entry = require.resolve(name);
  for (let d = dirname(entry); d !== dirname(d); d = dirname(d)) {
    const pj = join(d, 'package.json');
    if (existsSync(pj) && (JSON.parse(readFileSync(pj, 'utf8')) as { name?: string }).name === name) return d;
  }
  throw new Error(`Cannot find the folder of ${name} (resolved to ${entry}); reinstall with npm ci.`);
}

/** The UMD builds of Vega, Vega-Lite and vega-embed, from node_modules, to inline (no CDN). */
export function vegaBundles(): string[] {
  const files: Array<[string, string]> = [
    ['vega', 'build/vega.min.js'],
    ['vega-lite', 'build/vega-lite.min.js'],
    ['vega-embed', 'build/vega-embed.min.js'],
  ];
  return files.map(([name, file]) => {
    const text = readFileSync(join(packageDir(name), file), 'utf8');
    // A literal "</script" would end the inline element early.
    return text.replace(/<\/script/gi, '<\\/script').replace(/\/\/# sourceMappingURL=.*$/m, '');
  });
}

function runFailureRows(a: Analysis): RunRow[] {
  return a.arms.flatMap((arm) => arm.runs.filter((r) => r.status !== 'completed'));
}

export function reportHtml(store: ExperimentStore, a: Analysis): string {
  const data = chartData(store, a);
  const specs = chartSpecs(data, a.primaryMetric);
  const env = store.environment(a.experiment.id);
  const rows = tableRows(a);
  const head = tableHeader(a);
  const failures = runFailureRows(a);
  const envRows: Array<[string, string]> = [
    ['backend', env.backend ?? '-'],
    ['threads', env.threads === undefined ? '-' : String(env.threads)],
    ['Node.js', env.nodeVersion],
    ['platform', env.platform],
    ['CPU', `${env.cpuModel} × ${env.cpuCount}`],
    ['memory', `${env.totalMemoryMB} MB`],
    ...Object.entries(env.versions).map(([k, v]) => [k, v] as [string, string]),
    ['captured', env.capturedAt],
  ];
  const chartIds = Object.keys(specs);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${esc(a.experiment.name)} — leantune comparison</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1180px; padding: 0 16px; color: #222; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
tr.best td { background: #eef8ee; }
pre { background: #f7f7f7; padding: 8px; overflow: auto; max-height: 360px; font-size: 12px; }
.charts { display: flex; flex-wrap: wrap; gap: 24px; }
.verdict { background: #fffbe6; border: 1px solid #e6d98c; padding: 8px 12px; white-space: pre-line; }
.failed { color: #a00; }
</style>
</head>
<body>
<h1>${esc(a.experiment.name)}</h1>
<p>Config <code>${esc(a.experiment.configFile ?? '(embedded)')}</code>, seeds ${esc(a.experiment.seeds.join(', '))}, created ${esc(a.experiment.createdAt)}, status ${esc(a.experiment.status)}.
Every figure is mean ± sample standard deviation over the completed seeds, with the 95% confidence interval of the mean (Student's t). Arms are compared with the best on the same seeds by a ${esc(a.test)} at alpha ${a.alpha}.</p>
<p class="verdict" id="verdict">${esc(verdict(a))}</p>
<h2>Results</h2>
<table id="results"><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead>
<tbody>${rows.map((r) => `<tr${r.arm === a.best ? ' class="best"' : ''}>${Object.values(r).map((v) => `<td>${esc(v)}</td>`).join('')}</tr>`).join('\n')}</tbody></table>
${
  failures.length
    ? `<h3 class="failed">Runs that did not complete</h3><table id="failures"><thead><tr><th>arm</th><th>seed</th><th>status</th><th>reason</th><th>stderr (tail)</th></tr></thead><tbody>${failures
        .map(
          (r) =>
            `<tr><td>${esc(r.armLabel)}</td><td>${r.seed}</td><td>${esc(r.status)}${r.failureKind ? ` (${esc(r.failureKind)})` : ''}</td><td>${esc(r.failureReason ?? '')}</td><td><pre>${esc(r.stderrTail ?? '')}</pre></td></tr>`,
        )
        .join('')}</tbody></table>`
    : ''
}
<h2>Charts</h2>
<div class="charts">
${chartIds.map((id) => `<div id="chart-${id}" class="chart"></div>`).join('\n')}
</div>
<h2>Arms</h2>
${a.arms
  .map(
    (arm) =>
      `<details class="arm"><summary>${esc(arm.label)} (${esc(arm.method)})</summary><h4>method options</h4><pre>${esc(JSON.stringify(arm.config, null, 2))}</pre>${
        arm.resolvedConfig ? `<h4>resolved config</h4><pre>${esc(JSON.stringify(arm.resolvedConfig, null, 2))}</pre>` : ''
      }</details>`,
  )
  .join('\n')}
<h2>Environment</h2>
<table id="environment"><tbody>${envRows.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join('')}</tbody></table>
${vegaBundles()
  .map((js) => `<script>${js}</script>`)
  .join('\n')}
<script>
const SPECS = ${scriptJson(specs)};
window.__views = {};
Promise.all(Object.entries(SPECS).map(([id, spec]) =>
  vegaEmbed('#chart-' + id, spec, { renderer: 'svg', actions: false }).then((r) => { window.__views[id] = r.view; })
)).then(() => { document.body.dataset.rendered = 'true'; }, (err) => { document.body.dataset.rendered = 'error'; console.error(err); });
</script>
</body>
</html>
`;
}

/** PEFT method_comparison's results file (run_info, train_info, meta_info) for one run. */
export function peftResults(store: ExperimentStore, a: Analysis, run: RunRow): Record<string, unknown> {
  const arm = a.arms.find((x) => x.label === run.armLabel)!;
  const env = store.environment(a.experiment.id);
  const steps = store.stepMetrics(a.experiment.id).filter((s) => s.runId === run.id);
  const epochs = store.epochMetrics(run.id);
  const evals = store.evalMetrics(run.id);
  const metrics: Array<Record<string, unknown>> = [];
  for (const epoch of [...new Set(epochs.map((e) => e.epoch))]) {
    const rows = epochs.filter((e) => e.epoch === epoch);
    const entry: Record<string, unknown> = { step: rows[0].step, epoch };
    for (const r of rows) entry[r.name === 'train_loss' ? 'train loss' : `valid ${r.name}`] = r.value;
    const upTo = steps.filter((s) => s.step <= (rows[0].step ?? Infinity));
    entry['train samples per sec'] = upTo.length ? upTo.reduce((s, x) => s + (x.samplesPerSec ?? 0), 0) / upTo.length : null;
    metrics.push(entry);
  }
  const test = evals.filter((e) => e.split === 'test');
  if (test.length) {
    const entry: Record<string, unknown> = { step: test[0].step };
    for (const t of test) entry[`test ${t.name}`] = t.value ?? t.text;
    metrics.push(entry);
  }
  const resolved = (arm.resolvedConfig ?? {}) as Record<string, unknown>;
  const model = (resolved.model as Record<string, unknown> | undefined)?.name ?? (a.experiment.config.model as Record<string, unknown> | undefined)?.name;
  const dataset = (resolved.data as Record<string, unknown> | undefined)?.name ?? (a.experiment.config.data as Record<string, unknown> | undefined)?.name;
  return {
    run_info: {
      created_at: run.startedAt,
      total_time: run.wallSeconds,
      experiment_name: `${arm.method}/${a.experiment.name}-${arm.label}`,
      seed: run.seed,
      train_config: { ...resolved, runtime: { ...((resolved.runtime as object) ?? {}), seed: run.seed } },
      peft_config: { peft_type: arm.method, ...arm.config },
      error_msg: run.status === 'completed' ? '' : (run.failureReason ?? run.status),
    },
    train_info: {
      accelerator_memory_reserved_avg: null,
      accelerator_memory_max: null,
      peak_rss_mb: run.peakRssMB,
      train_time: run.trainSeconds,
      file_size: run.savedBytes,
      num_trainable_params: run.trainable,
      num_total_params: run.totalParams,
      status: run.status === 'completed' ? 'success' : run.status,
      metrics,
    },
    meta_info: {
      model_info: { name: model ?? null },
      dataset_info: { [String(dataset ?? 'data')]: { name: dataset ?? null } },
      package_info: env.versions,
      system_info: { system: env.platform.split('-')[0], machine: env.platform.split('-')[1], processor: env.cpuModel, cpu_count: env.cpuCount, accelerator: null, backend: env.backend ?? null, threads: env.threads ?? null },
      artifacts: store.artifacts(run.id),
    },
  };
}

export interface ReportFiles {
  html: string;
  markdown: string;
  csv: string;
  results: string[];
  analysis: Analysis;
}

/** `leantune report`: the HTML page, Markdown and CSV tables, and one PEFT-shaped results file per run. */
export function writeReport(store: ExperimentStore, ref: string, htmlFile: string): ReportFiles {
  const a = analyze(store, ref);
  const dir = dirname(htmlFile);
  const stem = join(dir, basename(htmlFile, extname(htmlFile)));
  writeFileAtomic(htmlFile, reportHtml(store, a));
  const markdown = `${stem}.md`;
  writeFileAtomic(markdown, `# ${a.experiment.name}\n\n${markdownTable(a)}\n\n${verdict(a)}\n`);
  const csv = `${stem}.csv`;
  writeFileAtomic(csv, csvTable(a));
  const results: string[] = [];
  for (const arm of a.arms) {
    for (const run of arm.runs) {
      const file = join(dir, 'results', `${arm.label}--seed-${run.seed}.json`);
      writeFileAtomic(file, `${JSON.stringify(peftResults(store, a, run), null, 2)}\n`);
      results.push(file);
    }
  }
  return { html: htmlFile, markdown, csv, results, analysis: a };
}

export { formatSummary };
