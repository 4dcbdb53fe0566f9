import { STAGE, type DataRecord, type Dataset, type DatasetSpec, type DatasetStage, type JSONSchema, type RunContext } from '@leantune/core';
import { StageReporter, appendReport, contentKey, findSimilarPairs, labelSet, primaryLabel } from '@leantune/data';
import { checkLabelMap, mapRecord, type SourceMapping } from './mapping';

export const PLUGIN_NAME = '@leantune/plugin-data-integrate';

export interface SourceOptions extends SourceMapping {
  /** A dataset spec, as under `data` ({ name, ...loader options }). */
  spec: DatasetSpec;
  /** The source's name in ids and provenance; default spec.name. */
  as?: string;
}

export interface IntegrateOptions {
  sources?: SourceOptions[];
  /** Mapping for the run's own dataset (the first source). */
  primary?: SourceMapping;
  dedupe?: { enabled?: boolean; nearThreshold?: number };
}

const mappingProperties = {
  labelMap: { type: 'object', additionalProperties: { type: ['string', 'null'] }, description: 'Source label → target label (null excludes those records)' },
  allowMerge: { type: 'boolean', default: false, description: 'Allow two source labels to map to one target' },
  fields: { type: 'object', additionalProperties: false, properties: { text: { type: 'string' }, label: { type: 'string' } }, description: "Dotted paths of text and label in the source's records" },
};

export const integrateOptionsSchema: JSONSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    sources: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['spec'],
        properties: {
          spec: { type: 'object', required: ['name'], properties: { name: { type: 'string', minLength: 1 } }, description: 'Dataset spec loaded with the run’s loaders' },
          as: { type: 'string', pattern: '^[A-Za-z0-9_.-]+$' },
          ...mappingProperties,
        },
      },
      default: [],
    },
    primary: { type: 'object', additionalProperties: false, properties: mappingProperties },
    dedupe: {
      type: 'object',
      additionalProperties: false,
      properties: {
        enabled: { type: 'boolean', default: true },
        nearThreshold: { type: 'number', exclusiveMinimum: 0, maximum: 1, description: 'Also merge near-duplicate texts across sources (shingle Jaccard)' },
      },
    },
  },
};

interface Source {
  name: string;
  records: DataRecord[];
}

/**
 * STAGE.INTEGRATE: the run's dataset plus each `sources` spec (loaded through the run's own
 * loaders, ctx.loadDatasetSpec), with field and label mapping checked for lost classes;
 * records of later sources get ids "<source>/<id>" and meta.integrateSource; inputs repeated
 * across sources are kept once (first source wins) and the keeper lists the others in
 * meta.alsoIn. The report gives per-source counts and pairwise overlap.
 */
export const integrateStage: DatasetStage<IntegrateOptions> = {
  name: 'integrate',
  stage: STAGE.INTEGRATE,
  description: 'Merge dataset sources with field/label mapping, cross-source dedupe with provenance, overlap report',
  optionsSchema: integrateOptionsSchema,
  async run(dataset: Dataset, options: IntegrateOptions, ctx: RunContext): Promise<Dataset> {
    const specs = options.sources ?? [];
    if (specs.length === 0 && !options.primary) return dataset;
    const raw: Array<Source & { mapping: SourceMapping; loadReports?: unknown }> = [{ name: dataset.name, records: dataset.records, mapping: options.primary ?? {} }];
    for (const s of specs) {
      const name = s.as ?? s.spec.name;
      if (raw.some((r) => r.name === name)) throw new Error(`Stage "integrate": two sources are named "${name}"; give one an "as" name`);
      const loaded = await ctx.loadDatasetSpec(s.spec);
      const records = loaded.records.map((r) => ({ ...r, id: `${name}/${r.id}`, meta: { ...r.meta, integrateSource: name, originalId: r.id } }));
      raw.push({ name, records, mapping: s, loadReports: loaded.reports.map((rep) => ({ stage: rep.stage, in: rep.in, out: rep.out, dropReasons: rep.dropReasons })) });
    }
    const rep = new StageReporter('integrate', PLUGIN_NAME, raw.flatMap((s) => s.records));
    const warnings: string[] = [];
    const sources: Source[] = raw.map((s) => {
      const fielded: DataRecord[] = [];
      for (const r of s.records) {
        const m = mapRecord(r, { fields: s.mapping.fields });
        if ('reason' in m) rep.drop(r, m.reason);
        else fielded.push(m.record);
      }
      warnings.push(...checkLabelMap(s.name, fielded, s.mapping));
      const mapped: DataRecord[] = [];
      for (const r of fielded) {
        const m = mapRecord(r, { labelMap: s.mapping.labelMap });
        if ('reason' in m) rep.drop(r, m.reason);
        else mapped.push(m.record);
      }
      return { name: s.name, records: mapped };
    });
    for (const w of warnings) ctx.log.warn(w);
    const dedupe = { enabled: true, ...options.dedupe };
    const { records, overlap, conflicts } = dedupe.enabled ? mergeSources(sources, dedupe.nearThreshold, ctx.seed, rep) : { records: sources.flatMap((s) => s.records), overlap: {}, conflicts: 0 };
    const details = {
      sources: raw.map((s, i) => ({ name: s.name, records: s.records.length, mapped: sources[i].records.length, labels: labelSet(sources[i].records), load: s.loadReports })),
      overlap,
      labelConflictsAcrossSources: conflicts,
      dedupe,
    };
    // The dataset's declared labels go through the primary labelMap too: an excluded (null) or renamed class must not stay in the label set (it would size the classifier head).
    const primaryMap: Record<string, string | null> = options.primary?.labelMap ?? {};
    const declared = (dataset.labels ?? []).flatMap((l) => (!(l in primaryMap) ? [l] : primaryMap[l] === null ? [] : [primaryMap[l] as string]));
    const labels = labelSet([...records, ...declared.map((l) => ({ id: '', label: l, meta: { source: '', row: 0 } }))]);
    return appendReport({ ...dataset, records, labels }, rep.finish(records, details));
  },
};

/** Keeps the first occurrence of each input across sources; counts pairwise overlap. */
function mergeSources(sources: Source[], nearThreshold: number | undefined, seed: number, rep: StageReporter) {
  const all = sources.flatMap((s, si) => s.records.map((record) => ({ record, si })));
  const parent = all.map((_, i) => i);
  const find = (i: number): number => (parent[i] === i ? i : (parent[i] = find(parent[i])));
  const union = (a: number, b: number) => {
    const [x, y] = [find(a), find(b)];
    if (x !== y) parent[Math.max(x, y)] = Math.min(x, y);
  };
  const byKey = new Map<string, number>();
  all.forEach(({ record, si }, i) => {
    const key = contentKey(record);
    if (key === undefined) return;
    const first = byKey.get(key);
    if (first === undefined) byKey.set(key, i);
    else if (all[first].si !== si) union(first, i);
  });
  if (nearThreshold !== undefined) {
    const texts = all.map((x, i) => ({ i, x })).filter(({ x }) => typeof x.record.text === 'string');
    const pairs = findSimilarPairs(texts.map(({ x }) => x.record.text as string), { threshold: nearThreshold, seed }, (a, b) => texts[a].x.si !== texts[b].x.si);
    for (const p of pairs) union(texts[p.a].i, texts[p.b].i);
  }
  const groups = new Map<number, number[]>();
  all.forEach((_, i) => groups.set(find(i), [...(groups.get(find(i)) ?? []), i]));
  const overlap: Record<string, number> = {};
  let conflicts = 0;
  const keep: DataRecord[] = [];
  for (const [root, members] of [...groups].sort((a, b) => a[0] - b[0])) {
    const keeper = all[root];
    if (members.length === 1) {
      keep.push(keeper.record);
      continue;
    }
    const names = [...new Set(members.map((m) => sources[all[m].si].name))];
    for (let a = 0; a < names.length; a++) for (let b = a + 1; b < names.length; b++) overlap[`${names[a]}∩${names[b]}`] = (overlap[`${names[a]}∩${names[b]}`] ?? 0) + 1;
    if (new Set(members.map((m) => primaryLabel(all[m].record))).size > 1) conflicts++;
    keep.push({ ...keeper.record, meta: { ...keeper.record.meta, alsoIn: members.filter((m) => m !== root).map((m) => all[m].record.id) } });
    for (const m of members) if (m !== root) rep.drop(all[m].record, 'duplicate-across-sources');
  }
  return { records: keep, overlap, conflicts };
}
