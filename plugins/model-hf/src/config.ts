import fs from 'node:fs';
import path from 'node:path';

/** A Hugging Face `config.json` (or one of its nested text/vision configs), as parsed JSON. */
export type HfConfig = Record<string, unknown>;

/**
 * Typed reads of config fields, with errors naming the file and the key: real configs
 * omit fields that have transformers defaults, so every read takes the default that
 * transformers' configuration class uses.
 */
export class ConfigReader {
  constructor(
    readonly raw: HfConfig,
    /** e.g. "/ckpt/config.json" or "/ckpt/config.json (text_config)" for error messages. */
    readonly source: string,
  ) {}

  private fail(key: string, expected: string, got: unknown): never {
    throw new Error(`${this.source}: "${key}" must be ${expected}, got ${JSON.stringify(got)}; fix the value in config.json`);
  }

  int(key: string, fallback?: number): number {
    const value = this.raw[key] ?? fallback;
    if (value === undefined) throw new Error(`${this.source}: required key "${key}" is missing; add it to config.json`);
    if (!Number.isInteger(value) || (value as number) < 0) this.fail(key, 'a non-negative integer', value);
    return value as number;
  }

  positiveInt(key: string, fallback?: number): number {
    const value = this.int(key, fallback);
    if (value === 0) this.fail(key, 'a positive integer', value);
    return value;
  }

  num(key: string, fallback: number): number {
    const value = this.raw[key] ?? fallback;
    if (typeof value !== 'number' || !Number.isFinite(value)) this.fail(key, 'a finite number', value);
    return value;
  }

  str(key: string, fallback: string): string {
    const value = this.raw[key] ?? fallback;
    if (typeof value !== 'string') this.fail(key, 'a string', value);
    return value;
  }

  bool(key: string, fallback: boolean): boolean {
    const value = this.raw[key] ?? fallback;
    if (typeof value !== 'boolean') this.fail(key, 'true or false', value);
    return value;
  }

  /** A nested config (CLIP's text_config / vision_config); `{}` when absent, so defaults apply. */
  nested(key: string): ConfigReader {
    const value = this.raw[key] ?? {};
    if (typeof value !== 'object' || value === null || Array.isArray(value)) this.fail(key, 'an object', value);
    return new ConfigReader(value as HfConfig, `${this.source} (${key})`);
  }

  /** Optional integer: undefined when the key is absent or null (e.g. `n_inner: null`). */
  optionalInt(key: string): number | undefined {
    const value = this.raw[key];
    return value === undefined || value === null ? undefined : this.int(key);
  }
}

/** Reads and parses `<dir>/<name>`; a missing or malformed file says which and what to do. */
export function readJsonFile(dir: string, name: string, hint: string): HfConfig {
  const file = path.join(dir, name);
  if (!fs.existsSync(file)) throw new Error(`${file} is missing; ${hint}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file} is not valid JSON (${(err as Error).message}); download it again`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new Error(`${file} must hold a JSON object, got ${Array.isArray(parsed) ? 'an array' : typeof parsed}`);
  }
  return parsed as HfConfig;
}

/** Label names from `id2label` ({"0": "neg", "1": "pos"}), in id order; undefined when absent. */
export function labelsFromConfig(config: ConfigReader): string[] | undefined {
  const id2label = config.raw.id2label;
  if (id2label === undefined || id2label === null) return undefined;
  if (typeof id2label !== 'object' || Array.isArray(id2label)) {
    throw new Error(`${config.source}: "id2label" must be an object like {"0": "neg", "1": "pos"}`);
  }
  const entries = Object.entries(id2label as Record<string, unknown>);
  const labels = new Array<string>(entries.length);
  for (const [id, name] of entries) {
    const index = Number(id);
    if (!Number.isInteger(index) || index < 0 || index >= entries.length || typeof name !== 'string') {
      throw new Error(`${config.source}: "id2label" must map the ids 0..${entries.length - 1} to names, got "${id}": ${JSON.stringify(name)}`);
    }
    labels[index] = name;
  }
  return labels;
}
