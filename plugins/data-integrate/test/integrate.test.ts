import { createToolkit, definePlugin, type DataRecord, type Dataset } from '@leantune/core';
import integratePlugin from '@leantune/plugin-data-integrate';

const quiet = { info: () => {}, warn: () => {} };
const rec = (id: string, fields: Partial<DataRecord>, meta: Record<string, unknown> = {}): DataRecord => ({ id, meta: { source: 'hand', row: 0, ...meta }, ...fields });

/** Loader answering several in-memory datasets by name. */
function sources(sets: Record<string, DataRecord[]>) {
  return definePlugin({
    meta: { name: 'memory-sources', version: '0.1.0', core: '^0.1.0' },
    apply(ctx) {
      ctx.datasets.register({
        name: 'memory',
        datasets: Object.keys(sets),
        test: (s) => s.name in sets,
        load: async (s): Promise<Dataset> => ({ name: s.name, records: sets[s.name], reports: [{ stage: 'load', plugin: 'memory', in: sets[s.name].length + 1, out: sets[s.name].length, changed: 0, dropped: 1, dropReasons: { 'invalid-json': 1 } }] }),
      });
    },
  });
}

const main = [rec('m1', { text: 'win money now', label: 'spam' }), rec('m2', { text: 'lunch at noon?', label: 'ham' }), rec('m3', { text: 'project notes attached', label: 'ham' })];
const other = [
  rec('o1', { label: 'junk' }, { body: 'win money now' }),
  rec('o2', { label: 'ok' }, { body: 'see you at the game' }),
  rec('o3', { label: 'ok' }, { body: 'lunch at noon?' }),
  rec('o4', { label: 'promo' }, { body: 'half price shoes' }),
  rec('o5', { label: 'ok' }, {}),
];

async function load(stageOptions: object) {
  const toolkit = await createToolkit({ plugins: [sources({ main, other, nearset: [rec('n1', { text: 'project notes attached.', label: 'ham' })] }), integratePlugin], log: quiet });
  return toolkit.createRun({ model: 'none', data: { name: 'main', stages: { integrate: stageOptions } } }).loadData();
}

const otherSource = { spec: { name: 'other' }, fields: { text: 'meta.body' }, labelMap: { junk: 'spam', ok: 'ham', promo: null } };

describe('integrate stage', () => {
  it('merges sources with field and label mapping, dedupes across sources with provenance, reports overlap', async () => {
    const data = await load({ sources: [otherSource] });
    expect(data.records.map((r) => [r.id, r.text, r.label])).toEqual([
      ['m1', 'win money now', 'spam'],
      ['m2', 'lunch at noon?', 'ham'],
      ['m3', 'project notes attached', 'ham'],
      ['other/o2', 'see you at the game', 'ham'],
    ]);
    expect(data.records[0].meta.alsoIn).toEqual(['other/o1']);
    expect(data.records[3].meta).toMatchObject({ integrateSource: 'other', originalId: 'o2' });
    const report = data.reports.at(-1)!;
    expect(report).toMatchObject({ stage: 'integrate', in: 8, out: 4, dropped: 4, dropReasons: { 'duplicate-across-sources': 2, 'label-excluded': 1, 'missing-text-field': 1 } });
    expect(report.details!.overlap).toEqual({ 'main∩other': 2 });
    expect(report.details!.labelConflictsAcrossSources).toBe(0);
    expect((report.details!.sources as Array<{ name: string; records: number; mapped: number }>).map((s) => [s.name, s.records, s.mapped])).toEqual([
      ['main', 3, 3],
      ['other', 5, 3],
    ]);
    expect(data.labels).toEqual(['ham', 'spam']);
    // Sources are not modified.
    expect(other[0]).toEqual(rec('o1', { label: 'junk' }, { body: 'win money now' }));
  });

  it('keeps cross-source duplicates when dedupe is off, and merges near duplicates when asked', async () => {
    const off = await load({ sources: [otherSource], dedupe: { enabled: false } });
    expect(off.records).toHaveLength(6);
    const exactOnly = await load({ sources: [{ spec: { name: 'nearset' } }] });
    expect(exactOnly.records.map((r) => r.id)).toEqual(['m1', 'm2', 'm3', 'nearset/n1']);
    const near = await load({ sources: [{ spec: { name: 'nearset' } }], dedupe: { nearThreshold: 0.8 } });
    expect(near.records.map((r) => r.id)).toEqual(['m1', 'm2', 'm3']);
    expect(near.records[2].meta.alsoIn).toEqual(['nearset/n1']);
    expect(near.reports.at(-1)!.details!.overlap).toEqual({ 'main∩nearset': 1 });
  });

  it('rejects a label map that loses a class or leaves a label unmapped', async () => {
    await expect(load({ sources: [{ ...otherSource, labelMap: { junk: 'spam', ok: 'ham', promo: 'spam' } }] })).rejects.toThrow(
      /source "other" maps labels "junk" and "promo" all to "spam", so 1 class\(es\) disappear; fix labelMap, or set allowMerge: true/,
    );
    await expect(load({ sources: [{ ...otherSource, labelMap: { junk: 'spam', ok: 'ham' } }] })).rejects.toThrow(/source "other" has label\(s\) "promo" with no entry in labelMap/);
    const merged = await load({ sources: [{ ...otherSource, labelMap: { junk: 'spam', ok: 'ham', promo: 'spam' }, allowMerge: true }] });
    expect(merged.records.find((r) => r.id === 'other/o4')!.label).toBe('spam');
  });

  it('fails clearly on bad options and unknown sources', async () => {
    await expect(load({ sources: [{ spec: { name: 'nowhere' } }] })).rejects.toThrow(/No dataset loader recognised dataset "nowhere"/);
    await expect(load({ sources: [{ spec: { name: 'other' } }, { spec: { name: 'other' } }] })).rejects.toThrow(/two sources are named "other"; give one an "as" name/);
    await expect(load({ sources: [{ name: 'other' }] })).rejects.toThrow(/\/data\/stages\/integrate\/sources\/0/);
    const untouched = await load({});
    expect(untouched.records).toEqual(main);
  });

  it('maps the dataset\'s declared labels through the primary labelMap: excluded and renamed classes leave the label set', async () => {
    // A loader that declares its classes (as brown does: all 15 genres), one of them with no record here.
    const declaring = definePlugin({
      meta: { name: 'declaring', version: '0.1.0', core: '^0.1.0' },
      apply(ctx) {
        ctx.datasets.register({ name: 'declared', datasets: ['declared'], test: (s) => s.name === 'declared', load: async () => ({ name: 'declared', records: main, labels: ['ham', 'promo', 'spam'], reports: [] }) });
      },
    });
    const toolkit = await createToolkit({ plugins: [declaring, integratePlugin], log: quiet });
    const loadWith = (labelMap: Record<string, string | null>) => toolkit.createRun({ model: 'none', data: { name: 'declared', stages: { integrate: { primary: { labelMap } } } } }).loadData();
    const kept = await loadWith({ ham: 'ham', spam: null, promo: null });
    expect(kept.records.map((r) => r.id)).toEqual(['m2', 'm3']);
    expect(kept.labels).toEqual(['ham']);
    const renamed = await loadWith({ ham: 'personal', spam: 'junk', promo: 'offers' });
    expect(renamed.labels).toEqual(['junk', 'offers', 'personal']);
    // Without a primary mapping the declared labels stay, also one no record carries.
    const merged = await toolkit.createRun({ model: 'none', data: { name: 'declared', stages: { integrate: { primary: {} } } } }).loadData();
    expect(merged.labels).toEqual(['ham', 'promo', 'spam']);
  });
});
