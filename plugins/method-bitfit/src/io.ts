import fs from 'node:fs';
import path from 'node:path';
import { closeMatches } from '@leantune/core';
import { loadSafetensors, readSafetensorsHeader, saveSafetensors, tf, type Module } from '@leantune/tensor';
import type { BitfitSelection } from './select';

export const BITFIT_CONFIG_NAME = 'bitfit_config.json';
export const BITFIT_WEIGHTS_NAME = 'bitfit_model.safetensors';

/** Writes only the selected biases, keyed by their full module paths, plus a small config. */
export function saveBitfit(model: Module, dir: string, selection: BitfitSelection): string {
  fs.mkdirSync(dir, { recursive: true });
  saveSafetensors(path.join(dir, BITFIT_WEIGHTS_NAME), new Map(selection.paths.map((p) => [p, model.getParameter(p).variable])), { format: 'pt' });
  const json = { method: 'bitfit', ...selection.config, parameters: selection.paths };
  fs.writeFileSync(path.join(dir, BITFIT_CONFIG_NAME), `${JSON.stringify(json, null, 2)}\n`);
  return dir;
}

/** Assigns the saved biases to `model`; every key and shape is checked before anything changes. Returns the paths loaded. */
export function loadBitfit(model: Module, dir: string): string[] {
  const file = path.join(dir, BITFIT_WEIGHTS_NAME);
  if (!fs.existsSync(file)) throw new Error(`Cannot load BitFit biases: ${file} does not exist`);
  const own = new Map([...model.namedParameters()].map(([p, param]) => [p, param.shape]));
  const problems: string[] = [];
  for (const [key, info] of readSafetensorsHeader(file).tensors) {
    const shape = own.get(key);
    if (!shape) {
      const close = closeMatches(key, own.keys(), 2);
      problems.push(`tensor "${key}" is not a parameter of this model${close.length ? ` (closest: ${close.map((c) => `"${c}"`).join(', ')})` : ''}`);
    } else if (!tf.util.arraysEqual(shape, info.shape)) problems.push(`tensor "${key}" has shape [${info.shape}], the model needs [${shape}]`);
  }
  if (problems.length) throw new Error(`${file} does not fit this model:\n- ${problems.slice(0, 12).join('\n- ')}`);
  const { tensors } = loadSafetensors(file);
  try {
    for (const [key, value] of tensors) tf.tidy(() => model.getParameter(key).variable.assign(value.dtype === 'float32' ? value : tf.cast(value, 'float32')));
    return [...tensors.keys()];
  } finally {
    tf.dispose([...tensors.values()]);
  }
}
