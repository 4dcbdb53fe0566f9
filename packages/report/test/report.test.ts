import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { analyze, chartData, writeReport } from '../src';
import { SYNTHETIC, writeSyntheticStore } from './fixtures/synthetic';
import { tempDir } from './helpers';

describe('report files', () => {
  const dir = tempDir('report');
  const store = writeSyntheticStore(dir);
  const files = writeReport(store, 'synthetic', join(dir, 'out', 'report.html'));

  it('names the best arm, the ones a paired t-test cannot tell from it, and the Pareto front', () => {
    const a = analyze(store, 'synthetic');
    expect(a.best).toBe('full');
    // full − lora per seed: 0.01, 0, 0.01 → mean 0.00667, sd 0.00577, t = 2 with 2 df: p = 1 − 2/√6 = 0.1835.
    const lora = a.arms.find((x) => x.label === 'lora')!.versusBest!;
    expect(lora.t).toBeCloseTo(2, 9);
    expect(lora.p).toBeCloseTo(1 - 2 / Math.sqrt(6), 9);
    expect(a.notDistinguishable).toEqual(['lora', 'ia3', 'broken']);
    expect(a.arms.find((x) => x.label === 'bitfit')!.versusBest!.distinguishable).toBe(true);
    // bitfit (320 MB, 0.80) is beaten by ia3 (280 MB, 0.9067); every other arm buys accuracy with memory.
    expect([...a.pareto].sort()).toEqual(['broken', 'full', 'ia3', 'lora', 'tiny']);
  });

  it('writes the Markdown table with mean ± std [95% CI], the failures and the verdict', () => {
    const md = readFileSync(files.markdown, 'utf8');
    // lora: 0.90 0.92 0.91 → 0.9100 ± 0.0100, CI 0.91 ± 4.302653·0.01/√3 = [0.8852, 0.9348].
    expect(md).toContain('| lora | lora | 3/3 | 0.9100 ± 0.0100 [0.8852, 0.9348] |');
    expect(md).toContain('| broken | broken | 1/3 (2 failed) | 0.5000 (1 seed) |');
    expect(md).toContain('Not distinguishable from full (paired t-test (two-sided), same seeds, alpha 0.05): lora (p=0.184, n=3), ia3 (p=0.423, n=3). No single winner among these.');
    expect(md).toContain('Too few seeds in common with full to test (under 2): broken (n=1)');
  });

  it('writes one CSV line per run with its status and metrics', () => {
    const [head, ...rows] = readFileSync(files.csv, 'utf8').trim().split('\n');
    expect(head.split(',')).toEqual(expect.arrayContaining(['arm', 'seed', 'status', 'failure_kind', 'peak_rss_mb', 'accuracy', 'macro_f1']));
    expect(rows).toHaveLength(Object.keys(SYNTHETIC.arms).length * SYNTHETIC.seeds.length);
    const col = head.split(',');
    const ia3seed2 = rows.map((r) => r.split(',')).find((r) => r[0] === 'ia3' && r[2] === '2')!;
    expect(ia3seed2[col.indexOf('accuracy')]).toBe('0.93');
    const failed = rows.map((r) => r.split(',')).filter((r) => r[col.indexOf('status')] === 'failed');
    expect(failed.map((r) => `${r[0]}/${r[2]}/${r[col.indexOf('failure_kind')]}`)).toEqual(['broken/2/crashed', 'broken/3/crashed']);
  });

  it("writes a results file per run in PEFT method_comparison's shape", () => {
    expect(files.results).toHaveLength(18);
    const lora = JSON.parse(readFileSync(join(dir, 'out', 'results', 'lora--seed-2.json'), 'utf8'));
    expect(Object.keys(lora)).toEqual(['run_info', 'train_info', 'meta_info']);
    expect(lora.run_info).toMatchObject({ experiment_name: 'lora/synthetic-lora', seed: 2, error_msg: '', peft_config: { peft_type: 'lora', r: 4 }, train_config: { runtime: { seed: 2 } } });
    expect(lora.train_info).toMatchObject({ status: 'success', train_time: 11, file_size: 4000, num_trainable_params: 1000, num_total_params: 100000, peak_rss_mb: 300 });
    expect(lora.train_info.metrics).toEqual([
      expect.objectContaining({ step: 5, epoch: 0, 'train loss': 0.5, 'valid accuracy': 0.87 }),
      expect.objectContaining({ step: 10, epoch: 1, 'train loss': 0.2, 'valid accuracy': 0.92 }),
      { step: 10, 'test accuracy': 0.9 },
    ]);
    expect(lora.meta_info).toMatchObject({ model_info: { name: 'tiny-text' }, dataset_info: { 'tiny-sentiment': { name: 'tiny-sentiment' } }, system_info: { backend: 'cpu' } });
    expect(lora.meta_info.package_info['better-sqlite3']).toMatch(/^12\./);
    const broken = JSON.parse(readFileSync(join(dir, 'out', 'results', 'broken--seed-3.json'), 'utf8'));
    expect(broken.train_info.status).toBe('failed');
    expect(broken.run_info.error_msg).toBe('exit 1: Error: boom');
  });

  it('writes one HTML file with the Vega bundles inline and no network address to load', () => {
    const html = readFileSync(files.html, 'utf8');
    expect(existsSync(files.html)).toBe(true);
    expect(html).not.toMatch(/<script[^>]+src=/);
    expect(html).not.toMatch(/<link[^>]+href=/);
    expect(html).toContain('vegaEmbed');
    // Text from the runs is escaped, never markup.
    expect(html).toContain('Error: boom &lt;b&gt;');
    expect(html).not.toContain('Error: boom <b>');
  });

  it('feeds the charts: one loss row per step of each completed run, one point per arm with a mean', () => {
    const data = chartData(store, analyze(store, 'synthetic'));
    // 5 arms × 3 seeds + broken's one completed seed, 10 steps each; the failed seeds' steps stay out.
    expect(data.loss).toHaveLength((5 * 3 + 1) * 10);
    expect(data.arms.map((a) => a.arm)).toEqual(['tiny', 'lora', 'ia3', 'bitfit', 'full', 'broken']);
    expect(data.arms.find((a) => a.arm === 'broken')).toMatchObject({ lo: null, hi: null, seeds: 1 });
  });
});
