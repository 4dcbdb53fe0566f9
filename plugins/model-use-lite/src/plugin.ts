import { definePlugin, type LoadedModel, type RunContext } from '@leantune/core';
import { loadPretrainedUseLite } from './load';
import { locateUseLiteFiles } from './weights';
import { createUseLiteModel, USE_LITE_ARCH } from './loaded-model';
import { parseUseLiteSpec, useLiteSpecSchema, type UseLiteSpec } from './spec';

export const PLUGIN_NAME = '@leantune/plugin-use-lite';

/** Labels for the classification head: the spec's, or else the run's dataset's. */
async function resolveLabels(spec: UseLiteSpec, ctx: Partial<Pick<RunContext, 'datasetLabels' | 'config'>>): Promise<string[] | undefined> {
  if (spec.head !== 'classification' || spec.labels) return spec.labels;
  const labels = await ctx.datasetLabels?.();
  if (!labels) {
    throw new Error('use-lite: the classification head needs labels: set "labels" in the model options, or configure "data" with a labelled dataset');
  }
  if (labels.length < 2) {
    throw new Error(`use-lite: dataset "${ctx.config?.data?.name}" has ${labels.length} label(s); the classification head needs at least 2 (or set "labels" in the model options)`);
  }
  return labels;
}

/** Loads the pretrained model for a validated spec (also usable without a Run). */
export async function loadUseLiteModel(
  rawSpec: unknown,
  ctx: Pick<RunContext, 'log'> & Partial<Pick<RunContext, 'datasetLabels' | 'config'>>,
): Promise<LoadedModel> {
  const spec = parseUseLiteSpec(rawSpec);
  const labels = await resolveLabels(spec, ctx);
  const { encoder, tokenizer } = loadPretrainedUseLite(spec.weightsDir);
  try {
    const tokenizerFiles = [locateUseLiteFiles(spec.weightsDir).vocabJson];
    return createUseLiteModel(encoder, tokenizer, { head: spec.head, labels, maxLength: spec.maxLength, log: ctx.log, name: spec.name, tokenizerFiles });
  } catch (err) {
    encoder.dispose();
    throw err;
  }
}

export const useLitePlugin = definePlugin({
  meta: { name: PLUGIN_NAME, version: '0.1.0', core: '^0.1.0', description: 'USE-lite text encoder with its pretrained weights' },
  apply(ctx) {
    ctx.models.register({
      name: USE_LITE_ARCH,
      description: `Universal Sentence Encoder lite (options: ${Object.keys(useLiteSpecSchema.properties).join(', ')})`,
      models: [USE_LITE_ARCH],
      test: (spec) => spec.name === USE_LITE_ARCH,
      // Checked in the config's second validation pass, before anything loads.
      optionsSchema: useLiteSpecSchema,
      load: (spec, runCtx) => loadUseLiteModel(spec, runCtx),
    });
  },
});
