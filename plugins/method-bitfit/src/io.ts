import fs from 'node:fs';
import path from 'node:path';
import { assignFloat32, closestHint, doesNotFitError, safetensorsShapes, withSafetensors, writeAdapterFolder } from '@leantune/peft';
import { tf, type Module } from '@leantune/tensor';
import type { MethodHandle } from '@leantune/core';
import { selectionHandle } from '@leantune/peft';
import type { BitfitConfig, BitfitSelection } from './select';

export const BITFIT_CONFIG_NAME = 'bitfit_config.json';
export const BITFIT_WEIGHTS_NAME = 'bitfit_model.safetensors';

/** Writes only the selected biases, keyed by their full module paths, plus a small config. */
export function saveBitfit(model: Module, dir: string, selection: BitfitSelection): string {
  const biases = new Map(selection.paths.map((p) => [p, model.getParameter(p).variable]));
  const json = { method: 'bitfit', ...selection.config, parameters: selection.paths };
  return writeAdapterFolder(dir, biases, json, { config: BITFIT_CONFIG_NAME, weights: BITFIT_WEIGHTS_NAME });
}

/** Assigns the saved biases to `model`; every key and shape is checked before anything changes. Returns the paths loaded. */
export function loadBitfit(model: Module, dir: string): string[] {
  const file = path.join(dir, BITFIT_WEIGHTS_NAME);
  if (!fs.existsSync(file)) throw new Error(`Cannot load BitFit biases: ${file} does not exist`);
  const own = new Map([...model.namedParameters()].map(([p, param]) => [p, param.shape]));
  const problems: string[] = [];
  for (const [key, got] of safetensorsShapes(file)) {
    const shape = own.get(key);
    if (!shape) problems.push(`tensor "${key}" is not a parameter of this model${closestHint(key, own.keys())}`);
    else if (!tf.util.arraysEqual(shape, got)) problems.push(`tensor "${key}" has shape [${got}], the model needs [${shape}]`);
  }
  if (problems.length) throw doesNotFitError(file, problems);
  return withSafetensors(file, (tensors) => {
    for (const [key, value] of tensors) assignFloat32(model.getParameter(key).variable, value);
    return [...tensors.keys()];
  });
}

/** BitFit's handle: the selected biases, trained in place, saved in BitFit's own files. */
export function bitfitHandle(model: Module, selection: BitfitSelection): MethodHandle<BitfitConfig> {
  return selectionHandle(selection.config, selection.paths.map((p) => model.getParameter(p)), (dir) => void saveBitfit(model, dir, selection));
}

/** Loads saved biases and returns the handle of what was loaded (its config read from the folder). */
export function loadBitfitHandle(model: Module, dir: string): MethodHandle<BitfitConfig> {
  const paths = loadBitfit(model, dir);
  const file = path.join(dir, BITFIT_CONFIG_NAME);
  const saved = fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<BitfitConfig>) : {};
  const config: BitfitConfig = { biases: saved.biases === 'paper' ? 'paper' : 'all', target_modules: saved.target_modules ?? null, exclude_modules: saved.exclude_modules ?? null };
  return bitfitHandle(model, { config, paths });
}
