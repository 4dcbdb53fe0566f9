import { isAbsolute, resolve } from 'node:path';
import { definePlugin, type DataRecord, type LoadedModel } from '@leantune/core';
import { evaluateClassifier } from '@leantune/train';
import { loadEwc, withEwc } from './ewc';
import { loadReplayBuffer, saveReplayBuffer } from './records-io';
import { ReservoirBuffer } from './reservoir';
import { PLUGIN_NAME, rehearsalStage } from './stage';

export interface IncrementalPluginOptions {
  /** EWC from a file written by saveEwc after the previous task. */
  ewc?: { file: string; lambda: number };
  /** Records of the previous task (a saveRecords / replay-buffer file) to measure forgetting on. */
  oldValidation?: string;
}

/**
 * The rehearsal stage, plus per-run taps: EWC wraps the model's loss when it is loaded, and
 * with `oldValidation` the run's metrics gain old_accuracy_before, old_accuracy and forgetting.
 */
export default definePlugin<IncrementalPluginOptions>({
  meta: { name: PLUGIN_NAME, version: '0.1.0', core: '^0.1.0', description: 'Incremental training: rehearsal buffer, EWC, forgetting, adapter per increment' },
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      ewc: {
        type: 'object',
        additionalProperties: false,
        required: ['file', 'lambda'],
        properties: { file: { type: 'string' }, lambda: { type: 'number', minimum: 0, maximum: 1e9 } },
      },
      oldValidation: { type: 'string' },
    },
  },
  apply(ctx) {
    ctx.stages.register(rehearsalStage);
    const { ewc, oldValidation } = ctx.options;
    if (!ewc && !oldValidation) return;
    ctx.hooks.run.tap(PLUGIN_NAME, (run) => {
      const at = (p: string) => (isAbsolute(p) ? p : resolve(run.context.configDir ?? process.cwd(), p));
      let model: LoadedModel | undefined;
      let old: DataRecord[] | undefined;
      let before: number | undefined;
      const oldAccuracy = () => evaluateClassifier(model!, old!, 256).accuracy;
      run.hooks.modelLoaded.tapPromise(PLUGIN_NAME, async (loaded) => {
        model = loaded;
        if (!ewc) return;
        const state = await loadEwc(loaded.module, at(ewc.file));
        loaded.loss = withEwc(loaded, state, ewc.lambda).loss;
        run.context.log.info(`incremental: EWC on ${state.entries.length} parameter(s), lambda ${ewc.lambda}`);
      });
      if (!oldValidation) return;
      run.hooks.beforeTrain.tapPromise(PLUGIN_NAME, async (state) => {
        model = state.model;
        old = (await loadReplayBuffer(at(oldValidation))).items();
        before = oldAccuracy();
      });
      run.hooks.evaluate.tapPromise(PLUGIN_NAME, async (metrics) => {
        if (!model || !old || before === undefined) return metrics;
        const after = oldAccuracy();
        return { ...metrics, old_accuracy_before: before, old_accuracy: after, forgetting: before - after };
      });
    });
  },
});

export { PLUGIN_NAME, rehearsalStage, rehearsalStageSchema, type RehearsalStageOptions } from './stage';
export { ReservoirBuffer, mixRehearsal, type RehearsalMix } from './reservoir';
export { computeFisher, ewcPenalty, withEwc, rebindEwc, checkEwcBinding, disposeEwc, saveEwc, loadEwc, type EwcEntry, type EwcState } from './ewc';
export { addIncrementAdapter } from './adapter';
export { trainIncrement, type IncrementOptions, type IncrementReport, type IncrementTraining } from './increment';
export { saveReplayBuffer, loadReplayBuffer, BUFFER_FORMAT } from './records-io';

/** Writes records in the replay-buffer format (e.g. an old task's validation set for `oldValidation`). */
export function saveRecords(records: readonly DataRecord[], file: string): Promise<void> {
  return saveReplayBuffer(new ReservoirBuffer<DataRecord>(Math.max(1, records.length), 0, records.length, records), file);
}
