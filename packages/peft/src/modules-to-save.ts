import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { saveSafetensors, type Module, type tf } from '@leantune/tensor';
import {
  ADAPTER_CONFIG_NAME,
  ADAPTER_WEIGHTS_NAME,
  assignFloat32,
  doesNotFitError,
  PEFT_KEY_PREFIX,
  readJsonConfig,
  safetensorsShapes,
  tensorFitProblems,
  withSafetensors,
} from './adapter-files';
import { writeFileAtomic } from '@leantune/core';

/**
 * Heads travel with adapters, the way PEFT's `modules_to_save` do. A run often trains
 * modules that belong to no method (a new classifier made trainable through the config's
 * `trainable` patterns); an adapter folder without them restores a random head, silently.
 * The core writes them beside every method's own files and reads them back, so every
 * method (ours and third-party ones) gets this without knowing about it:
 * - a PEFT-shaped folder (adapter_config.json + adapter_model.safetensors): the module
 *   paths join `modules_to_save` in the config and their tensors join the weights as
 *   `base_model.model.<module>.<param>`, exactly as PEFT saves them (Python PEFT loads them);
 * - any other folder: modules_to_save.safetensors, keyed by plain parameter paths.
 */
export const MODULES_TO_SAVE_FILE = 'modules_to_save.safetensors';

/** A module path: the parameter path without its last segment. */
function moduleOf(paramPath: string): string {
  const i = paramPath.lastIndexOf('.');
  return i < 0 ? '' : paramPath.slice(0, i);
}

/**
 * Every parameter of each module that owns one of `trained` (PEFT saves whole modules):
 * path → variable. A parameter of the root module itself cannot be named as a module and is
 * saved under its own path.
 */
export function modulesToSaveState(model: Module, trained: Iterable<string>): { modules: string[]; tensors: Map<string, tf.Variable> } {
  const modules = [...new Set([...trained].map(moduleOf))].sort();
  const tensors = new Map<string, tf.Variable>();
  for (const m of modules) {
    const owner = m === '' ? model : model.getSubmodule(m);
    for (const [rel, param] of owner.namedParameters()) {
      if (m === '' && rel.includes('.')) continue;
      tensors.set(m === '' ? rel : `${m}.${rel}`, param.variable);
    }
  }
  return { modules: modules.filter((m) => m !== ''), tensors };
}

function isPeftFolder(dir: string): boolean {
  return fs.existsSync(path.join(dir, ADAPTER_CONFIG_NAME)) && fs.existsSync(path.join(dir, ADAPTER_WEIGHTS_NAME));
}

export interface SaveModulesToSaveOptions {
  /** PEFT task_type to record where the method's config left it unset (e.g. "SEQ_CLS"). */
  taskType?: string | null;
}

/**
 * Adds the trained modules no method owns to an adapter folder a method has just written.
 * `trained`: their parameter paths. Nothing to add → the folder stays as the method wrote it
 * (apart from task_type).
 */
export function saveModulesToSave(model: Module, dir: string, trained: Iterable<string>, options: SaveModulesToSaveOptions = {}): string[] {
  const { modules, tensors } = modulesToSaveState(model, trained);
  if (isPeftFolder(dir)) {
    const configFile = path.join(dir, ADAPTER_CONFIG_NAME);
    const config = readJsonConfig(configFile);
    if (tensors.size > 0) {
      const weightsFile = path.join(dir, ADAPTER_WEIGHTS_NAME);
      withSafetensors(weightsFile, (existing) => {
        const all = new Map<string, tf.Tensor>(existing);
        for (const [p, v] of tensors) all.set(PEFT_KEY_PREFIX + p, v);
        saveSafetensors(weightsFile, all, { format: 'pt' });
      });
      const listed = Array.isArray(config.modules_to_save) ? (config.modules_to_save as string[]) : [];
      config.modules_to_save = [...new Set([...listed, ...modules])];
    }
    if (config.task_type == null && options.taskType) config.task_type = options.taskType;
    writeFileAtomic(configFile, `${JSON.stringify(config, null, 2)}\n`);
  } else if (tensors.size > 0) {
    saveSafetensors(path.join(dir, MODULES_TO_SAVE_FILE), tensors, { modules_to_save: JSON.stringify(modules) });
  }
  return [...tensors.keys()];
}

/** What an adapter folder holds beside the method's own tensors: file key → model parameter path. */
interface SavedModules {
  file: string;
  keys: Map<string, string>;
}

/**
 * PEFT matches a `modules_to_save` entry against module paths by suffix; the saved keys are
 * `base_model.model.<full module path>.<param>`. Each key under a listed module maps to the
 * model's parameter of the same path.
 */
function peftSavedModules(dir: string): SavedModules | undefined {
  const configFile = path.join(dir, ADAPTER_CONFIG_NAME);
  const listed = readJsonConfig(configFile).modules_to_save;
  if (listed == null || (Array.isArray(listed) && listed.length === 0)) return undefined;
  if (!Array.isArray(listed) || !listed.every((m) => typeof m === 'string')) {
    throw new Error(`${configFile}: modules_to_save must be a list of module names, got ${JSON.stringify(listed)}`);
  }
  const file = path.join(dir, ADAPTER_WEIGHTS_NAME);
  const keys = new Map<string, string>();
  for (const key of safetensorsShapes(file).keys()) {
    if (!key.startsWith(PEFT_KEY_PREFIX)) continue;
    const p = key.slice(PEFT_KEY_PREFIX.length);
    const m = moduleOf(p);
    if (listed.some((name) => m === name || m.endsWith(`.${name}`))) keys.set(key, p);
  }
  return { file, keys };
}

function plainSavedModules(dir: string): SavedModules | undefined {
  const file = path.join(dir, MODULES_TO_SAVE_FILE);
  if (!fs.existsSync(file)) return undefined;
  return { file, keys: new Map([...safetensorsShapes(file).keys()].map((k) => [k, k])) };
}

/** The folder as its method wrote it: a PEFT folder without the modules_to_save entries and tensors. */
function methodOnlyCopy(dir: string, saved: SavedModules): string {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'leantune-adapter-'));
  const config = readJsonConfig(path.join(dir, ADAPTER_CONFIG_NAME));
  config.modules_to_save = null;
  fs.writeFileSync(path.join(tmp, ADAPTER_CONFIG_NAME), `${JSON.stringify(config, null, 2)}\n`);
  withSafetensors(saved.file, (tensors) => {
    const rest = new Map([...tensors].filter(([k]) => !saved.keys.has(k)));
    saveSafetensors(path.join(tmp, ADAPTER_WEIGHTS_NAME), rest, { format: 'pt' });
  });
  return tmp;
}

/**
 * Loads an adapter folder: the method's own part through `loadMethod`, then the modules
 * saved with it. Keys and shapes of those modules are checked before anything changes;
 * a misfit names each tensor. Returns the parameter paths the modules filled.
 */
export async function loadWithModulesToSave<T>(model: Module, dir: string, loadMethod: (dir: string) => T | Promise<T>): Promise<{ result: T; restored: string[] }> {
  const peft = isPeftFolder(dir);
  const saved = peft ? peftSavedModules(dir) : plainSavedModules(dir);
  if (saved == null || saved.keys.size === 0) return { result: await loadMethod(dir), restored: [] };
  const params = new Map([...model.namedParameters()].map(([p, param]) => [p, param]));
  const shapes = safetensorsShapes(saved.file);
  const expected = new Map<string, readonly number[]>();
  const inFile = new Map<string, readonly number[]>();
  for (const [key, p] of saved.keys) {
    inFile.set(p, shapes.get(key)!);
    const param = params.get(p);
    if (param) expected.set(p, param.shape);
  }
  // Missing keys are not problems here: a module's parameters are whatever was saved.
  const problems = tensorFitProblems(expected, inFile).filter((x) => !x.startsWith('missing'));
  if (problems.length) throw doesNotFitError(saved.file, problems.map((x) => `modules_to_save: ${x}`), { note: 'a head of another size or architecture?', countRest: true });
  const copy = peft ? methodOnlyCopy(dir, saved) : undefined;
  let result: T;
  try {
    result = await loadMethod(copy ?? dir);
  } finally {
    if (copy) fs.rmSync(copy, { recursive: true, force: true });
  }
  withSafetensors(saved.file, (tensors) => {
    for (const [key, p] of saved.keys) assignFloat32(params.get(p)!.variable, tensors.get(key)!);
  });
  return { result, restored: [...saved.keys.values()] };
}
