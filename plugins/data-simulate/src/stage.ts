import { STAGE, type Dataset, type DatasetStage, type JSONSchema, type RunContext } from '@leantune/core';
import { appendReport, countReport } from '@leantune/data';
import { mixSynthetic, SIMULATE_KINDS, type SimulateKind } from './mix';
import type { ImageJitter } from './images';
import type { Grammar } from './text';

export const PLUGIN_NAME = '@leantune/plugin-data-simulate';

export interface SimulateStageOptions {
  kind: SimulateKind;
  ratio?: number;
  seed?: number;
  jitter?: ImageJitter;
  grammar?: Record<string, string[]>;
}

export const simulateStageSchema: JSONSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['kind'],
  properties: {
    kind: { type: 'string', enum: [...SIMULATE_KINDS], description: 'digits (28×28), shapes (circle/square/triangle, 28×28) or text (grammar)' },
    ratio: { type: 'number', minimum: 0, maximum: 1000, default: 1, description: 'Synthetic records per real record, per label' },
    seed: { type: 'integer', minimum: 0, maximum: 4294967295, description: 'Generator seed; default the run seed' },
    jitter: {
      type: 'object',
      additionalProperties: false,
      properties: {
        rotate: { type: 'number', minimum: 0, maximum: 180, description: 'Max rotation in degrees (default 12)' },
        scale: { type: 'number', minimum: 0, maximum: 0.9 },
        shear: { type: 'number', minimum: 0, maximum: 10, description: 'Max shear (default 0.25)' },
        shift: { type: 'number', minimum: 0, maximum: 0.5 },
        wobble: { type: 'number', minimum: 0, maximum: 1, description: 'Per-point wobble as a share of the canvas (default 0.025)' },
        width: { type: 'array', items: { type: 'number', exclusiveMinimum: 0, maximum: 1024 }, minItems: 2, maxItems: 2, description: 'Stroke width range in pixels (default [1.6, 3])' },
      },
    },
    grammar: { type: 'object', additionalProperties: { type: 'array', items: { type: 'string' }, minItems: 1 }, description: 'Text grammar; start symbols are the labels' },
  },
};

/**
 * Adds synthetic records after the split, to the training split only (validation and test
 * stay real), and to dataset.records. Without splits, to dataset.records.
 */
export const simulateStage: DatasetStage<SimulateStageOptions> = {
  name: 'simulate',
  stage: STAGE.SPLIT + 10,
  description: 'Mix seeded synthetic digits, shapes or grammar text into the training data (meta.synthetic = true)',
  optionsSchema: simulateStageSchema,
  run(dataset: Dataset, options: SimulateStageOptions, ctx: RunContext): Dataset {
    const train = dataset.splits?.train;
    const base = train ?? dataset.records;
    const mix = mixSynthetic(base, { kind: options.kind, ratio: options.ratio ?? 1, seed: options.seed ?? ctx.seed, jitter: options.jitter, grammar: options.grammar as Grammar | undefined });
    const added = mix.records.slice(base.length);
    if (mix.unsupported.length) ctx.log.warn(`simulate: no ${options.kind} generator for label(s) ${mix.unsupported.join(', ')}; none added for them`);
    const n = dataset.records.length;
    const out: Dataset = { ...dataset, records: [...dataset.records, ...added] };
    if (train) out.splits = { ...dataset.splits, train: mix.records };
    return appendReport(
      out,
      countReport('simulate', PLUGIN_NAME, { in: n, out: n + added.length, dropReasons: {} }, { kind: options.kind, ratio: options.ratio ?? 1, added: mix.added, perLabel: mix.perLabel, unsupported: mix.unsupported, into: train ? 'train split' : 'records' }),
    );
  },
};
