import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import { ConfigError } from '../errors';
import type { JSONSchema } from '../methods';
import { didYouMean } from '../suggest';
import type { ConfigSource } from './load';

export interface ValidationIssue {
  pointer: string;
  message: string;
  line?: number;
  column?: number;
}

function createAjv(): Ajv {
  // useDefaults fills omitted keys from the schema (the "defaults are applied" promise);
  // strict mode catches mistakes in plugin schemas early, except keywords editors use.
  return new Ajv({ allErrors: true, verbose: true, useDefaults: true, strict: 'log', strictTuples: false, allowUnionTypes: true });
}

function show(value: unknown): string {
  const text = JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function typeOf(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
}

function valueAt(data: unknown, pointer: string): unknown {
  let current: unknown = data;
  for (const raw of pointer.split('/').slice(1)) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

/** One readable sentence per ajv error, naming the allowed values where there are some. */
function describe(err: ErrorObject, data: unknown): { pointer: string; message: string; at: 'key' | 'value' } | null {
  const got = valueAt(data, err.instancePath);
  const p = err.params as Record<string, any>;
  switch (err.keyword) {
    case 'if':
      return null; // the branch's own errors say what is wrong
    case 'additionalProperties': {
      const allowed = Object.keys((err.parentSchema?.properties as object) ?? {});
      const hint = allowed.length ? ` Allowed keys: ${allowed.join(', ')}.${didYouMean(p.additionalProperty, allowed)}` : '';
      return {
        pointer: `${err.instancePath}/${p.additionalProperty}`,
        message: `unknown key "${p.additionalProperty}".${hint}`,
        at: 'key',
      };
    }
    case 'required':
      return { pointer: err.instancePath, message: `missing required key "${p.missingProperty}"`, at: 'value' };
    case 'enum': {
      const allowed = (p.allowedValues as unknown[]).map(show);
      // An enum may allow null (e.g. PEFT's init_weights: "zero" or null): only strings are suggestions.
      const hint = typeof got === 'string' ? didYouMean(got, (p.allowedValues as unknown[]).filter((v): v is string => typeof v === 'string')) : '';
      return { pointer: err.instancePath, message: `must be one of ${allowed.join(', ')} (got ${show(got)}).${hint}`, at: 'value' };
    }
    case 'type':
      return { pointer: err.instancePath, message: `must be ${String(p.type).replace(',', ' or ')} (got ${typeOf(got)} ${show(got)})`, at: 'value' };
    case 'const':
      return { pointer: err.instancePath, message: `must be ${show(p.allowedValue)} (got ${show(got)})`, at: 'value' };
    default:
      return { pointer: err.instancePath, message: `${err.message ?? 'is invalid'} (got ${show(got)})`, at: 'value' };
  }
}

export function formatIssues(issues: ValidationIssue[], file?: string): string {
  return issues
    .map((i) => {
      const where = file ? `${file}${i.line ? `:${i.line}:${i.column}` : ''}: ` : '';
      return `${where}${i.pointer || '(root)'}: ${i.message}`;
    })
    .join('\n');
}

/** Validates (and fills defaults into) `data` at `basePointer` of a config source. */
export class SchemaValidator {
  private readonly ajv = createAjv();
  private readonly compiled = new WeakMap<object, ValidateFunction>();

  issues(schema: JSONSchema, data: unknown, source?: ConfigSource, basePointer = ''): ValidationIssue[] {
    let validate = this.compiled.get(schema);
    if (!validate) {
      validate = this.ajv.compile(schema);
      this.compiled.set(schema, validate);
    }
    if (validate(data)) return [];
    const seen = new Set<string>();
    const out: ValidationIssue[] = [];
    for (const err of validate.errors ?? []) {
      const d = describe(err, data);
      if (!d) continue;
      const pointer = basePointer + d.pointer;
      const key = `${pointer} ${d.message}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push({ pointer, message: d.message, ...source?.locate(pointer, d.at) });
    }
    return out;
  }

  /** Throws one ConfigError listing every problem, each with file:line:column and pointer. */
  assert(schema: JSONSchema, data: unknown, source?: ConfigSource, basePointer = '', what = 'Config'): void {
    const issues = this.issues(schema, data, source, basePointer);
    if (issues.length) {
      const file = source?.file;
      throw new ConfigError(`${what} is invalid${file ? ` (${file})` : ''}:\n${formatIssues(issues, file)}`);
    }
  }
}

/**
 * The defaults a JSON Schema declares, as validating an empty object fills them (ajv's
 * useDefaults): a method's defaults come from its schema, never from a second table.
 */
export function schemaDefaults<T = Record<string, unknown>>(schema: JSONSchema): T {
  const value: Record<string, unknown> = {};
  createAjv().validate(schema, value);
  return value as T;
}
