import { definePlugin, type Dataset, type LoadedModel, type Run, type RunContext } from '@leantune/core';
import { loadPretrainedUseLite } from './load';
import { createUseLiteModel, USE_LITE_ARCH } from './loaded-model';
import { parseUseLiteSpec, useLiteSpecSchema, type UseLiteSpec } from './spec';

export const PLUGIN_NAME = '@leantune/plugin-use-lite';

/** Class names a dataset declares, or else the distinct labels of its records, sorted. */
export function datasetLabels(dataset: Dataset): string[] {
  if (dataset.labels?.length) return [...dataset.labels];
  const seen = new Set<string>();
  for (const r of dataset.records) if (r.label !== undefined) seen.add(String(r.label));
  return [...seen].sort();
}

/**
 * Labels for the classification head: the spec's, or else the run's dataset's. The model
 * is loaded before the data, so the dataset is loaded here; Run.fit then reuses it.
 */
async function resolveLabels(spec: UseLiteSpec, run: Run | undefined): Promise<string[] | undefined> {
  if (spec.head !== 'classification' || spec.labels) return spec.labels;
  if (!run?.config.data) {
    throw new Error('use-lite: the classification head needs labels: set "labels" in the model options, or configure "data" with a labelled dataset');
  }
  const labels = datasetLabels(run.dataset ?? (await run.loadData()));
  if (labels.length < 2) {
    throw new Error(`use-lite: dataset "${run.config.data.name}" has ${labels.length} label(s); the classification head needs at least 2 (or set "labels" in the model options)`);
  }
  return labels;
}

/** Loads the pretrained model for a validated spec (also usable without a Run). */
export async function loadUseLiteModel(rawSpec: unknown, ctx: Pick<RunContext, 'log'>, run?: Run): Promise<LoadedModel> {
  const spec = parseUseLiteSpec(rawSpec);
  const labels = await resolveLabels(spec, run);
  const { encoder, tokenizer } = loadPretrainedUseLite(spec.weightsDir);
  try {
    return createUseLiteModel(encoder, tokenizer, { head: spec.head, labels, maxLength: spec.maxLength, log: ctx.log, name: spec.name });
  } catch (err) {
    encoder.dispose();
    throw err;
  }
}

export const useLitePlugin = definePlugin({
  meta: { name: PLUGIN_NAME, version: '0.1.0', core: '^0.1.0', description: 'USE-lite text encoder with its pretrained weights' },
  apply(ctx) {
    // The loader gets the run's context only; remember each run to reach its dataset.
    const runs = new WeakMap<RunContext, Run>();
    ctx.hooks.run.tap(PLUGIN_NAME, (run) => void runs.set(run.context, run));
    ctx.models.register({
      name: USE_LITE_ARCH,
      description: `Universal Sentence Encoder lite (options: ${Object.keys(useLiteSpecSchema.properties).join(', ')})`,
      models: [USE_LITE_ARCH],
      test: (spec) => spec.name === USE_LITE_ARCH,
      load: (spec, runCtx) => loadUseLiteModel(spec, runCtx, runs.get(runCtx)),
    });
  },
});
