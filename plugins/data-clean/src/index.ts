import { definePlugin } from '@leantune/core';
import { PLUGIN_NAME, cleanStage } from './clean-stage';

/** Enables the `clean` dataset stage (options under `data.stages.clean`). */
export default definePlugin({
  meta: { name: PLUGIN_NAME, version: '0.1.0', core: '^0.1.0', description: 'Dataset stage clean: normalisation, duplicates, length filters, label conflicts' },
  apply(ctx) {
    ctx.stages.register(cleanStage);
  },
});

export { PLUGIN_NAME, cleanStage, cleanOptionsSchema, type CleanOptions, type NearDuplicateSettings } from './clean-stage';
export { normalizeText, type UnicodeForm } from './normalize';
export { resolveGroup, exactGroups, nearGroups, type LabelConflict, type GroupVerdict, type DuplicateKind } from './duplicates';
