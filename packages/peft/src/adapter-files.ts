import fs from 'node:fs';
import path from 'node:path';
import { loadSafetensors, readSafetensorsHeader, saveSafetensors, tf } from '@leantune/tensor';
import { closeMatches } from '@leantune/core';

/**
 * The file checks every method plugin does when it saves or loads an adapter folder shaped
 * like Hugging Face PEFT's (adapter_config.json + adapter_model.safetensors): one place for
 * the messages, so each plugin says only what is its own (peft_type, config fields, keys).
 */
export const ADAPTER_CONFIG_NAME = 'adapter_config.json';
export const ADAPTER_WEIGHTS_NAME = 'adapter_model.safetensors';
/** PeftModel wraps the tuner model, which wraps the transformers model: every saved key starts so. */
export const PEFT_KEY_PREFIX = 'base_model.model.';

/**
 * The PEFT release whose adapter format (config fields and defaults, saved keys) the LoRA and
 * IA3 plugins follow, read from its source (tag v0.18.0); written as `peft_version`, the
 * PeftConfig field 0.18.0 introduced.
 */
export const PEFT_FORMAT_VERSION = '0.18.0';

export interface PeftSaveOptions {
  /** Written as base_model_name_or_path, e.g. "gpt2". */
  baseModelNameOrPath?: string | null;
  /** PEFT task_type, e.g. "CAUSAL_LM", "SEQ_CLS". */
  taskType?: string | null;
}

/**
 * The fields PEFT's PeftConfig.to_dict writes for every method (PeftConfigMixin and PeftConfig
 * of 0.18.0), `peft_version` included: every adapter_config.json leantune writes carries it.
 */
export function peftConfigHeader(peftType: string, options: PeftSaveOptions = {}): Record<string, unknown> {
  return {
    peft_type: peftType,
    task_type: options.taskType ?? null,
    base_model_name_or_path: options.baseModelNameOrPath ?? null,
    revision: null,
    inference_mode: true,
    auto_mapping: null,
    peft_version: PEFT_FORMAT_VERSION,
  };
}

export interface AdapterFileNames {
  config: string;
  weights: string;
}

const PEFT_FILES: AdapterFileNames = { config: ADAPTER_CONFIG_NAME, weights: ADAPTER_WEIGHTS_NAME };

/** Writes `dir`/weights (safetensors, metadata {"format": "pt"} as PEFT's) and `dir`/config (JSON). */
export function writeAdapterFolder(dir: string, tensors: Map<string, tf.Tensor>, config: Record<string, unknown>, names: AdapterFileNames = PEFT_FILES): string {
  fs.mkdirSync(dir, { recursive: true });
  saveSafetensors(path.join(dir, names.weights), tensors, { format: 'pt' });
  fs.writeFileSync(path.join(dir, names.config), `${JSON.stringify(config, null, 2)}\n`);
  return dir;
}

export interface AdapterFolderFiles {
  configFile: string;
  weightsFile: string;
}

/**
 * The config and weights files of an adapter folder. A missing one fails naming it:
 * "Cannot load <what>: <file> does not exist (<folder> holds adapter_config.json and …)".
 */
export function adapterFolderFiles(dir: string, what: string, folder = 'a PEFT adapter folder'): AdapterFolderFiles {
  const configFile = path.join(dir, ADAPTER_CONFIG_NAME);
  const weightsFile = path.join(dir, ADAPTER_WEIGHTS_NAME);
  for (const f of [configFile, weightsFile]) {
    if (!fs.existsSync(f)) throw new Error(`Cannot load ${what}: ${f} does not exist (${folder} holds ${ADAPTER_CONFIG_NAME} and ${ADAPTER_WEIGHTS_NAME})`);
  }
  return { configFile, weightsFile };
}

/** A config file's JSON object; unreadable or invalid JSON fails naming the file. */
export function readJsonConfig(file: string): Record<string, unknown> {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`${file}: not valid JSON (${(err as Error).message})`);
  }
}

/** Runs `plan` (targets of a saved config on this model); its failure names the config file. */
export function planForConfig<T>(configFile: string, plan: () => T): T {
  try {
    return plan();
  } catch (err) {
    throw new Error(`${configFile} does not fit this model: ${(err as Error).message}`, { cause: err });
  }
}

/** Name → shape of every tensor in a safetensors file, from its header alone (no data read). */
export function safetensorsShapes(file: string): Map<string, number[]> {
  return new Map([...readSafetensorsHeader(file).tensors].map(([k, info]) => [k, info.shape]));
}

/** ` (closest: "a", "b")` for a key that is not where it should be; '' when nothing is close. */
export function closestHint(key: string, candidates: Iterable<string>): string {
  const close = closeMatches(key, candidates, 2);
  return close.length ? ` (closest: ${close.map((c) => `"${c}"`).join(', ')})` : '';
}

/**
 * What keeps a file's tensors from fitting the model: each missing key (hinted with the
 * file's unused keys), wrong shape, and unexpected key (hinted with the missing ones).
 */
export function tensorFitProblems(expected: ReadonlyMap<string, readonly number[]>, inFile: ReadonlyMap<string, readonly number[]>): string[] {
  const unused = [...inFile.keys()].filter((k) => !expected.has(k));
  const missing = [...expected.keys()].filter((k) => !inFile.has(k));
  const problems: string[] = [];
  for (const [key, shape] of expected) {
    const got = inFile.get(key);
    if (!got) problems.push(`missing tensor "${key}"${closestHint(key, unused)}`);
    else if (!tf.util.arraysEqual(got as number[], shape as number[])) problems.push(`tensor "${key}" has shape [${got}], the model needs [${shape}]`);
  }
  for (const key of unused) problems.push(`unexpected tensor "${key}"${closestHint(key, missing)}`);
  return problems;
}

export interface FitErrorOptions {
  /** A likely cause, said in brackets after "does not fit this model". */
  note?: string;
  /** Ends a list cut at 12 with "… N more". */
  countRest?: boolean;
}

/** "<file> does not fit this model:" and the first 12 problems, one a line. */
export function doesNotFitError(file: string, problems: readonly string[], options: FitErrorOptions = {}): Error {
  const rest = options.countRest && problems.length > 12 ? `\n- … ${problems.length - 12} more` : '';
  return new Error(`${file} does not fit this model${options.note ? ` (${options.note})` : ''}:\n- ${problems.slice(0, 12).join('\n- ')}${rest}`);
}

/** Loads every tensor of `file`, hands them to `use`, and frees them afterwards whatever happens. */
export function withSafetensors<T>(file: string, use: (tensors: Map<string, tf.Tensor>) => T): T {
  const { tensors } = loadSafetensors(file);
  try {
    return use(tensors);
  } finally {
    tf.dispose([...tensors.values()]);
  }
}

/** Assigns a loaded value to a float32 parameter, casting a half-precision or integer file's value. */
export function assignFloat32(variable: tf.Variable, value: tf.Tensor): void {
  tf.tidy(() => variable.assign(value.dtype === 'float32' ? value : tf.cast(value, 'float32')));
}

/** peft_type of an adapter_config.json in `dir`, for methods' `recognizes`. */
export function peftTypeIn(dir: string): string | undefined {
  const file = path.join(dir, 'adapter_config.json');
  if (!fs.existsSync(file)) return undefined;
  try {
    const json = JSON.parse(fs.readFileSync(file, 'utf8')) as { peft_type?: unknown };
    return typeof json.peft_type === 'string' ? json.peft_type : undefined;
  } catch {
    return undefined;
  }
}

