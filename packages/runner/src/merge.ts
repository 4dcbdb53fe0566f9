import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import {
  ConfigError,
  RunError,
  errorMessage,
  saveSafetensorsAtomic,
  notMergeableReason,
} from '@leantune/core';
import { dequantizeModule, requantizeModule, type QuantizeSpec, type RequantizeReport } from '@leantune/tensor';
import { MERGED_RECORD, type MergedRecord, type TrainedModel } from './restore';

/**
 * A base quantized with model.quantize: 'dequantize' merges into the fp32 values of the
 * quantized weights and writes them (no further error); 'requantize' merges the same way,
 * then quantizes each merged weight again in its format and writes those values (what a
 * reload with the same model.quantize holds), reporting the error that adds.
 */
export type QuantizedMerge = 'dequantize' | 'requantize';

export interface MergeOptions {
  quantized?: QuantizedMerge;
}

export interface QuantizedMergeReport {
  mode: QuantizedMerge;
  spec: QuantizeSpec;
  weights: number;
  /** 'requantize' only: the error requantizing the merged weights added. */
  requantize?: Omit<RequantizeReport, 'weights'> & { worst?: { path: string; relativeError: number } };
}

export interface MergeResult {
  dir: string;
  /** 'native': the model's own format (its loader's exportMerged, e.g. the Hub layout); 'leantune': module state + leantune-merged.json. */
  format: 'native' | 'leantune';
  merged: string[];
  files: string[];
  /** Present when the base was quantized (model.quantize). */
  quantized?: QuantizedMergeReport;
}

/**
 * Folds every applied method into the base weights (LoRA family, IA3; selective methods
 * and baselines already are the weights) and writes a full model: in the model's own format
 * where its loader offers `points.exportMerged` (Hugging Face models: config.json,
 * model.safetensors, tokenizer files), otherwise the merged module state; either way with
 * leantune-merged.json describing how to load it. The folder
 * is built under a temp name and renamed, so a failure leaves nothing half-written.
 */
export function mergeTrained(trained: TrainedModel, outDir: string, options: MergeOptions = {}): MergeResult {
  const out = resolve(outDir);
  if (existsSync(out) && readdirSync(out).length) throw new ConfigError(`${out} exists and is not empty; choose a new folder for the merged model.`);
  // Every applied method, the config's and adapters loaded on top: each handle folds itself in.
  for (const m of trained.run.methods) {
    const why = notMergeableReason(m.method, m.handle);
    if (why) throw new ConfigError(`Cannot merge method "${m.id}" of ${trained.origin}: ${why}`);
  }
  const model = trained.model;
  // A quantized base: LoRA deltas are added to exact fp32 values, then requantized if asked.
  const origins = dequantizeModule(model.module);
  let quantized: QuantizedMergeReport | undefined;
  if (origins.size) {
    const [first] = origins.values();
    quantized = { mode: options.quantized ?? 'dequantize', spec: first.spec, weights: origins.size };
  } else if (options.quantized) {
    throw new ConfigError(`--quantized ${options.quantized}: the base of ${trained.origin} is not quantized (no model.quantize); leave the option out`);
  }
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
  if (quantized?.mode === 'requantize') {
    const { weights, ...overall } = requantizeModule(model.module, origins);
    const worst = weights.reduce<(typeof weights)[number] | undefined>((w, x) => (w && w.relativeError >= x.relativeError ? w : x), undefined);
    quantized.requantize = { ...overall, worst };
  }
  const exportMerged = model.points?.exportMerged;
  const tmp = join(dirname(out), `.${out.split('/').pop()}.tmp-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  try {
    mkdirSync(tmp, { recursive: true });
    const record: MergedRecord = {
      format: 'leantune-merged',
      version: 1,
      // The written weights are fp32 values: a reload quantizes only if its own config asks.
      model: withoutQuantize(trained.config.model),
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
  return { dir: out, format: exportMerged ? 'native' : 'leantune', merged, files: readdirSync(out).sort(), ...(quantized ? { quantized } : {}) };
}

function withoutQuantize(spec: MergedRecord['model']): MergedRecord['model'] {
  const { quantize: _dropped, ...rest } = spec;
  return rest as MergedRecord['model'];
}
