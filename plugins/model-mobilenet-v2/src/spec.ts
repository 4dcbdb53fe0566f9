import { ConfigError, SchemaValidator, type JSONSchema, type ModelSpec } from '@leantune/core';
import type { HeadKind } from './mobilenet';

export const MODEL_NAME = 'mobilenet-v2';

/** nsfwjs's class names in output order (nsfwjs/dist/cjs/nsfw_classes.js). */
export const NSFWJS_CLASSES: readonly string[] = ['Drawing', 'Hentai', 'Neutral', 'Porn', 'Sexy'];

export interface MobileNetV2Spec {
  name: string;
  /** Class names; other than nsfwjs's five (in order), the classifier is a fresh Linear. */
  labels?: string[];
  /** Number of classes when labels are not named; labels become "0", "1", … */
  numLabels?: number;
  /** Square input side in pixels, a multiple of 32 (stride-32 trunk); default 224. */
  inputSize: number;
  head: HeadKind;
  /** 'frozen' (default): BatchNorm uses its running stats even while training. */
  batchNorm: 'frozen' | 'train';
}

export const MobileNetV2SpecSchema: JSONSchema = {
  type: 'object',
  required: ['name'],
  additionalProperties: false,
  properties: {
    name: { const: MODEL_NAME },
    labels: {
      type: 'array',
      minItems: 1,
      uniqueItems: true,
      items: { type: 'string', minLength: 1 },
      description: "Class names. nsfwjs's [Drawing, Hentai, Neutral, Porn, Sexy] keep the pretrained classifier; anything else gets a fresh one",
    },
    numLabels: { type: 'integer', minimum: 1, maximum: 100000, description: 'Number of classes (labels "0".."n-1") when labels are not given' },
    inputSize: {
      type: 'integer',
      minimum: 32,
      maximum: 1024,
      multipleOf: 32,
      default: 224,
      description: 'Square input side; images of another size are resized (bilinear, alignCorners) as nsfwjs does',
    },
    head: {
      enum: ['mlp', 'linear'],
      default: 'mlp',
      description: "'mlp': pretrained Dense 256 → 128 layers, then the classifier; 'linear': classifier on the pooled 1280 features",
    },
    batchNorm: {
      enum: ['frozen', 'train'],
      default: 'frozen',
      description: "'frozen': BatchNorm always uses its running statistics; 'train': batch statistics while training",
    },
  },
};

const validator = new SchemaValidator();

/** Validates a `model` spec, defaults filled in, without touching the caller's object. */
export function parseSpec(spec: ModelSpec): MobileNetV2Spec {
  const copy = structuredClone(spec) as Record<string, unknown>;
  validator.assert(MobileNetV2SpecSchema, copy, undefined, '/model', `Model spec "${MODEL_NAME}"`);
  const s = copy as unknown as MobileNetV2Spec;
  if (s.labels && s.numLabels !== undefined && s.numLabels !== s.labels.length) {
    throw new ConfigError(`Model spec "${MODEL_NAME}": numLabels (${s.numLabels}) disagrees with labels (${s.labels.length} names); give one of them`);
  }
  return s;
}

/**
 * The classes: the spec's `labels`, else `numLabels` names "0".."n-1", else the
 * `fallback` (the run's dataset labels), else nsfwjs's five with their pretrained head.
 */
export function resolveSpec(spec: ModelSpec, fallback?: readonly string[]): { spec: MobileNetV2Spec; labels: string[]; pretrainedClassifier: boolean } {
  const s = parseSpec(spec);
  const numbered = s.numLabels !== undefined ? Array.from({ length: s.numLabels }, (_, i) => String(i)) : undefined;
  const labels = [...(s.labels ?? numbered ?? fallback ?? NSFWJS_CLASSES)];
  const sameAsNsfwjs = labels.length === NSFWJS_CLASSES.length && labels.every((l, i) => l === NSFWJS_CLASSES[i]);
  return { spec: s, labels, pretrainedClassifier: s.head === 'mlp' && sameAsNsfwjs };
}
