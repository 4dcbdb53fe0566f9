import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import type { DataRecord, Dataset, RunContext } from '@leantune/core';
import { tempDir } from '@leantune/testing';
import { tf } from '@leantune/tensor';
import { driftReport, driftStage, formatDriftReport, loadDriftReference, runDataDrift, saveDriftReference } from '@leantune/plugin-data-monitor';

const rec = (id: string, features: number[], label?: string): DataRecord => ({ id, features, ...(label ? { label } : {}), meta: { source: 'unit', row: 0 } }) as DataRecord;
const ramp = (n: number, shift: number, label: (i: number) => string) => Array.from({ length: n }, (_, i) => rec(`${shift}:${i}`, [i + 100 * shift, 7], label(i)));
const img = (id: string, v: number, label: string): DataRecord => ({ id, label, image: { data: Uint8Array.from([v, 255 - v, 0, 0]), shape: [2, 2, 1] }, meta: { source: 'unit', row: 0 } });

function ctx(logs: string[] = []): RunContext {
  return { runName: 't', config: {} as RunContext['config'], tf, log: { info: (m) => logs.push(m), warn: (m) => logs.push(`warn: ${m}`) }, seed: 1, configDir: '/', datasetLabels: async () => undefined, loadDatasetSpec: async () => { throw new Error('no datasets in this test'); }, state: new Map() };
}

describe('driftReport', () => {
  it('no drift between a sample and itself', () => {
    const a = ramp(200, 0, (i) => (i % 2 ? 'x' : 'y'));
    const r = driftReport(a, a);
    expect(r.features).toMatchObject({ source: 'features', count: 2, constant: 1, psiMean: 0, psiMax: 0, ksMean: 0, drifted: 0, driftedShare: 0 });
    expect(r.labels).toMatchObject({ psi: 0, chiSquare: 0, df: 1, pValue: 1, reference: { x: 100, y: 100 } });
    expect(r.verdict).toBe('ok');
    expect(formatDriftReport(r)).toContain('Recommendation: no action.');
  });

  it('a shifted feature and a label shift recommend retraining, with reasons', () => {
    const ref = ramp(200, 0, (i) => (i % 2 ? 'x' : 'y'));
    const cur = ramp(200, 1, (i) => (i % 4 ? 'x' : 'y')); // 0..199 vs 100..299: F_ref(100) − F_cur(100) = 101/200 − 1/200 = 0.5
    const r = driftReport(ref, cur, { featureNames: ['value', 'const'] });
    expect(r.features.top[0]).toMatchObject({ index: 0, name: 'value', ks: 0.5 });
    expect(r.features.drifted).toBe(1);
    expect(r.features.driftedShare).toBe(0.5);
    expect(r.labels!.current).toEqual({ x: 150, y: 50 });
    expect(r.verdict).toBe('retrain');
    expect(r.reasons.join(' ')).toMatch(/mean feature PSI .* \(threshold 0.2\).*1 of 2 features drifted by KS.*label PSI/);
    expect(formatDriftReport(r)).toContain('Recommendation: RETRAIN');
  });

  it('image pixels are the default features (uint8 scaled to 0..1); bad input is named', () => {
    const r = driftReport([img('a', 0, 'p'), img('b', 10, 'p')], [img('c', 0, 'p'), img('d', 10, 'p')]);
    expect(r.features).toMatchObject({ source: 'image', count: 4, constant: 2, psiMean: 0 });
    expect(() => driftReport([rec('a', [1, 2])], [rec('b', [1])])).toThrow('drift: reference records have 2 features, current records 1');
    expect(() => driftReport([rec('a', [1]), rec('z', [1, 2])], [rec('b', [1])])).toThrow('drift (reference): record z has 2 features, the first record has 1');
    expect(() => driftReport([rec('a', [1])], [rec('b', [1])], { features: 'text-stats' })).toThrow('Record a has no text');
    expect(() => driftReport([rec('a', [1])], [rec('b', [1])], { alpha: 2 })).toThrow('alpha must be in (0, 1) (got 2)');
    expect(() => driftReport([rec('a', [1])], [rec('b', [1])], { thresholds: { psy: 1 } as never })).toThrow('unknown threshold "psy"; allowed: psi, driftedShare, labelPsi, labelAlpha');
    expect(() => driftReport([], [rec('b', [1])])).toThrow('both samples need records (reference 0, current 1)');
  });
});

describe('drift stage, saved reference and command', () => {
  const dataset = (): Dataset => {
    const train = ramp(100, 0, () => 'x');
    const validation = ramp(100, 1, () => 'x');
    return { name: 'unit', records: [...train, ...validation], splits: { train, validation }, reports: [] };
  };

  it('reports drift between splits without touching records; failOnRetrain stops the run', async () => {
    const logs: string[] = [];
    const ds = dataset();
    const out = await driftStage.run(ds, {}, ctx(logs));
    expect(out.records).toBe(ds.records);
    expect(out.reports[0]).toMatchObject({ stage: 'drift', in: 200, out: 200, dropped: 0, details: { verdict: 'retrain' } });
    expect(logs[0]).toMatch(/^warn: drift: .*RETRAIN/s);
    await expect(driftStage.run(ds, { failOnRetrain: true }, ctx())).rejects.toThrow(/data.stages.drift: .*RETRAIN/s);
    await expect(driftStage.run(ds, { currentSplit: 'test' }, ctx())).rejects.toThrow('currentSplit "test" is not a split of dataset "unit" (splits: train, validation)');
  });

  it('a saved reference (seeded sample of pixel vectors) compares against new images', async () => {
    const images = Array.from({ length: 50 }, (_, i) => img(`i${i}`, i * 5, i % 2 ? 'a' : 'b'));
    const file = join(tempDir('drift'), 'ref.json');
    expect(await saveDriftReference(images, file, { sampleSize: 20, seed: 3 })).toEqual({ saved: 20, total: 50 });
    const first = await fs.readFile(file, 'utf8');
    await saveDriftReference(images, file, { sampleSize: 20, seed: 3 });
    expect(await fs.readFile(file, 'utf8')).toBe(first); // seeded: same sample
    await saveDriftReference(images, file, { sampleSize: 20, seed: 4 });
    expect(await fs.readFile(file, 'utf8')).not.toBe(first);
    expect((await loadDriftReference(file)).records).toHaveLength(20);
    await saveDriftReference(images, file, { sampleSize: 100 }); // every record: no drift against itself
    const saved = await loadDriftReference(file);
    expect(saved).toMatchObject({ source: 'image', total: 50 });
    expect(Array.from((saved.records.find((r) => r.id === 'i3') as DataRecord & { features: Float64Array }).features)).toEqual([15 / 255, 240 / 255, 0, 0].map(Math.fround));
    const ds: Dataset = { name: 'new', records: images, splits: { validation: images }, reports: [] };
    const out = await driftStage.run(ds, { reference: file }, ctx());
    const details = out.reports[0].details as { features: { source: string; count: number }; verdict: string };
    expect(details.features).toMatchObject({ source: 'image', count: 4 });
    expect(details.verdict).toBe('ok');
    await expect(loadDriftReference(join(tempDir('drift'), 'none.json'))).rejects.toThrow(/cannot be read .*write one with saveDriftReference/);
  });

  it('runDataDrift gives exit code 3 only when retraining is due and asked to fail', () => {
    const ds = dataset();
    const ref: Dataset = { ...ds, records: ds.splits!.train };
    const cur: Dataset = { ...ds, records: ds.splits!.validation };
    expect(runDataDrift(ref, cur).exitCode).toBe(0);
    expect(runDataDrift(ref, cur, { failOnRetrain: true }).exitCode).toBe(3);
    expect(runDataDrift(ref, ref, { failOnRetrain: true }).exitCode).toBe(0);
    expect(() => runDataDrift(ref, cur, { currentSplit: 'dev' })).toThrow('--current-split "dev" is not a split of dataset "unit"');
  });
});
