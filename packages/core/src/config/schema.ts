import type { JSONSchema } from '../methods';

export const BACKENDS = ['auto', 'tfjs-node-gpu', 'tfjs-node', 'native', 'wasm', 'cpu'] as const;

/** A plugin entry as written: 'name', ['name', options] or { name, options }. */
export type PluginEntry = string | [string] | [string, Record<string, unknown>] | { name: string; options?: Record<string, unknown>; allowOutside?: boolean };


/** The config after both validation passes, with defaults applied. */
export interface ResolvedConfig {
  name: string;
  description?: string;
  plugins: PluginEntry[];
  model: { name: string; [option: string]: unknown };
  methods: Record<string, Record<string, unknown>>;
  trainable: string[];
  data?: { name: string; stages: Record<string, Record<string, unknown>>; [option: string]: unknown };
  /** The trainer's section: its schema is the trainer's (TrainDriver.configSchema; @leantune/train's TrainConfig). */
  train: Record<string, unknown>;
  runtime: { backend: (typeof BACKENDS)[number]; threads?: number; seed: number };
  output: { dir: string };
  compare?: { methods: CompareEntry[] };
  /** Grid or random search of `leantune compare` (its schema is @leantune/queue's SWEEP_SCHEMA, checked by compare). */
  sweep?: Record<string, unknown>;
  edit?: { truncate?: Record<string, number>; grow?: Record<string, number> };
}

/**
 * One arm of `leantune compare`: a method id, or an id with its own label, method config and
 * model options (`model`, merged over the config's model for that arm only, e.g. { "quantize": "nf4" }) and
 * train options (`train`, merged over the config's train for that arm only, e.g. { "learningRate": 0.02 }).
 */
export type CompareEntry = string | { id: string; label?: string; config?: Record<string, unknown>; model?: Record<string, unknown>; train?: Record<string, unknown> };

const pluginEntry: JSONSchema = {
  type: ['string', 'array', 'object'],
  description:
    "A plugin: 'lora', ['lora', { options }] or { name: 'lora', options: {} }. A path ('./x.js') is relative to the config file's folder; one outside it needs the object form with allowOutside: true",
  if: { type: 'array' },
  then: {
    minItems: 1,
    maxItems: 2,
    items: [{ type: 'string', minLength: 1 }, { type: 'object' }],
  },
  else: {
    if: { type: 'object' },
    then: {
      required: ['name'],
      additionalProperties: false,
      properties: {
        name: { type: 'string', minLength: 1 },
        options: { type: 'object' },
        allowOutside: { type: 'boolean', description: "Allow a plugin path that resolves outside the config file's folder (plugins are code that runs with your rights)" },
      },
    },
    else: { minLength: 1 },
  },
};

/**
 * The first validation pass: the envelope only. Method and plugin sections are opaque
 * objects here; the second pass fills them with the registered schemas.
 */
/**
 * `model.quantize`: store the base's frozen Linear/Conv1D weights in a smaller format once
 * the trainable set is chosen (Run.loadModel; @leantune/tensor's quantizeModule). Every
 * loader accepts it: the run applies it, not the loader.
 */
export const MODEL_QUANTIZE_SCHEMA: JSONSchema = {
  description: 'Frozen Linear/Conv1D weights of the base stored as bf16, fp16, int8 (per-channel absmax) or nf4 (QLoRA NormalFloat, blocks of 64; doubleQuant quantizes the block scales); adapters stay fp32',
  oneOf: [
    { enum: ['bf16', 'fp16', 'int8', 'nf4'] },
    {
      type: 'object',
      additionalProperties: false,
      required: ['type'],
      properties: { type: { enum: ['bf16', 'fp16', 'int8', 'nf4'] }, doubleQuant: { type: 'boolean', description: 'nf4 only' } },
    },
  ],
};

export function envelopeSchema(): JSONSchema {
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: 'leantune run config',
    type: 'object',
    additionalProperties: false,
    required: ['model'],
    properties: {
      $schema: { type: 'string' },
      name: { type: 'string', pattern: '^[A-Za-z0-9._-]+$', default: 'run', description: 'Run name, used in the run folder name' },
      description: { type: 'string' },
      plugins: { type: 'array', items: pluginEntry, default: [] },
      model: {
        type: ['string', 'object'],
        description: "A model name such as 'use-lite', or { name, ...loader options }",
        if: { type: 'object' },
        then: { required: ['name'], properties: { name: { type: 'string', minLength: 1 }, quantize: MODEL_QUANTIZE_SCHEMA } },
      },
      methods: {
        type: 'object',
        description: 'PEFT methods to apply, in order: { "<method id>": { ...method config } }',
        additionalProperties: { type: 'object' },
        default: {},
      },
      trainable: {
        type: 'array',
        description: 'Extra parameters to train, as full-match regexes over dotted paths',
        items: { type: 'string' },
        default: [],
      },
      data: {
        type: 'object',
        required: ['name'],
        properties: {
          name: { type: 'string', minLength: 1 },
          stages: { type: 'object', additionalProperties: { type: 'object' }, default: {} },
          maxRecordBytes: {
            type: 'integer',
            minimum: 1,
            maximum: 1073741824,
            description: 'Longest record a JSONL or CSV file may hold, and largest image file of an image folder, in bytes (default 16 MiB); a longer one stops the load with an error naming the file',
          },
          maxFileBytes: {
            type: 'integer',
            minimum: 1,
            maximum: 4294967296,
            description: 'Largest IDX file, decompressed, in bytes (default 1 GiB): dims declaring more are refused from the header, and a gzip file is decompressed only up to what its dims declare',
          },
        },
      },
      // Opaque here: the trainer registers its schema (TrainDriver.configSchema), applied in the second pass.
      train: { type: 'object', default: {} },
      runtime: {
        type: 'object',
        additionalProperties: false,
        default: {},
        properties: {
          backend: { enum: [...BACKENDS], default: 'auto' },
          threads: { type: 'integer', minimum: 1, maximum: 1024 },
          seed: { type: 'integer', minimum: 0, maximum: 4294967295, default: 42 },
        },
      },
      edit: {
        type: 'object',
        additionalProperties: false,
        description: 'Structure edits applied after the model loads, before methods inject',
        properties: {
          truncate: {
            type: 'object',
            description: 'Layer lists to cut: { "<path of a ModuleList>": layers to keep }',
            additionalProperties: { type: 'integer', minimum: 1, maximum: 100000 },
          },
          grow: {
            type: 'object',
            description: 'Layer lists to extend: { "<path of a ModuleList>": layers to add, each a copy of the last }',
            additionalProperties: { type: 'integer', minimum: 1, maximum: 100000 },
          },
        },
      },
      compare: {
        type: 'object',
        additionalProperties: false,
        required: ['methods'],
        description: 'Arms of `leantune compare`: each trains the same model and data with one method',
        properties: {
          methods: {
            type: 'array',
            minItems: 1,
            items: {
              type: ['string', 'object'],
              if: { type: 'object' },
              then: {
                required: ['id'],
                additionalProperties: false,
                properties: {
                  id: { type: 'string', minLength: 1 },
                  label: { type: 'string', pattern: '^[A-Za-z0-9._-]+$' },
                  config: { type: 'object' },
                  model: { type: 'object', description: "Model options for this arm only, merged over the config's model (e.g. { \"quantize\": \"nf4\" })" },
                  train: { type: 'object', description: "Train options for this arm only, merged over the config's train (e.g. { \"learningRate\": 0.02 }); a sweep's train values go on top" },
                },
              },
            },
          },
        },
      },
      sweep: {
        type: 'object',
        description: 'Grid or seeded random search of `leantune compare` over method options ("methods.<id>.<option>") and train options ("train.<option>"); checked in full by compare (@leantune/queue)',
      },
      output: {
        type: 'object',
        additionalProperties: false,
        default: {},
        properties: { dir: { type: 'string', minLength: 1, default: 'runs' } },
      },
    },
  };
}
