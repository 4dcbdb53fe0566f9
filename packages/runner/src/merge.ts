import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import {
  ConfigError,
  RunError,
  errorMessage,
  saveSafetensorsAtomic,
  notMergeableReason,
} from '@leantune/core';
import { MERGED_RECORD, type MergedRecord, type TrainedModel } from './restore';

export interface MergeResult {
  dir: string;
  /** 'native': the model's own format (its loader's exportMerged, e.g. the Hub layout); 'leantune': module state + leantune-merged.json. */
  format: 'native' | 'leantune';
  merged: string[];
  files: string[];
}

/**
 * Folds every applied method into the base weights (LoRA family, IA3; selective methods
 * and baselines already are the weights) and writes a full model: in the model's own format
 * where its loader offers `points.exportMerged` (Hugging Face models: config.json,
 * model.safetensors, tokenizer files), otherwise the merged module state; either way with
 * leantune-merged.json describing how to load it. The folder
 * is built under a temp name and renamed, so a failure leaves nothing half-written.
 */
export function mergeTrained(trained: TrainedModel, outDir: string): MergeResult {
  const out = resolve(outDir);
  if (existsSync(out) && readdirSync(out).length) throw new ConfigError(`${out} exists and is not empty; choose a new folder for the merged model.`);
  // Every applied method, the config's and adapters loaded on top: each handle folds itself in.
  for (const m of trained.run.methods) {
    const why = notMergeableReason(m.method, m.handle);
    if (why) throw new ConfigError(`Cannot merge method "${m.id}" of ${trained.origin}: ${why}`);
  }
  const model = trained.model;
  const merged: string[] = [];
  for (const m of trained.run.methods) {
    if (!m.handle.mergeAndUnload) continue;
    try {
      model.module = m.handle.mergeAndUnload() ?? model.module;
    } catch (err) {
      throw new ConfigError(`Cannot merge method "${m.id}" of ${trained.origin}: ${errorMessage(err)}`, { cause: err });
    }
    merged.push(m.id);
  }
  const exportMerged = model.points?.exportMerged;
  const tmp = join(dirname(out), `.${out.split('/').pop()}.tmp-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  try {
    mkdirSync(tmp, { recursive: true });
    const record: MergedRecord = {
      format: 'leantune-merged',
      version: 1,
      model: trained.config.model,
      labels: model.labels,
      plugins: trained.config.plugins,
      configDir: trained.run.context.configDir,
      merged,
      weights: 'model.safetensors',
      native: !!exportMerged,
    };
    if (exportMerged) exportMerged(tmp, { module: model.module, labels: model.labels });
    else saveSafetensorsAtomic(join(tmp, 'model.safetensors'), model.module.stateDict(), { format: 'pt' });
    writeFileSync(join(tmp, MERGED_RECORD), `${JSON.stringify(record, null, 2)}\n`);
    if (existsSync(out)) rmSync(out, { recursive: true });
    mkdirSync(dirname(out), { recursive: true });
    renameSync(tmp, out);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw new RunError(`Could not write the merged model to ${out}: ${errorMessage(err)}`, { cause: err });
  }
  return { dir: out, format: exportMerged ? 'native' : 'leantune', merged, files: readdirSync(out).sort() };
}
