import { STAGE, type DataRecord, type Dataset, type DatasetStage, type JSONSchema, type RecordAugmenter, type RunContext } from '@leantune/core';
import { countReport, isImageArray } from '@leantune/data';
import { drawTransform, transformImage, type ImagePolicy } from './image';
import { synonymTable } from './synonyms';
import { augmentText, type TextPolicy } from './text';

export const PLUGIN_NAME = '@leantune/plugin-data-augment';

export interface AugmentOptions {
  /** Chance that a training record is augmented at all in a given epoch. */
  probability?: number;
  image?: Partial<ImagePolicy> & { enabled?: boolean };
  text?: Partial<TextPolicy> & { enabled?: boolean; synonyms?: string[][] };
}

const rate = (description: string, def: number) => ({ type: 'number', minimum: 0, maximum: 1, default: def, description });

export const augmentOptionsSchema: JSONSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    probability: rate('Chance that a training record is augmented in an epoch', 1),
    image: {
      type: 'object',
      additionalProperties: false,
      properties: {
        enabled: { type: 'boolean', default: true },
        rotation: { type: 'number', minimum: 0, maximum: 180, default: 10, description: 'Max rotation in degrees (uniform in ±rotation)' },
        translation: { type: 'number', minimum: 0, maximum: 1024, default: 2, description: 'Max shift in pixels (uniform in ±translation)' },
        crop: { type: 'integer', minimum: 0, maximum: 1024, default: 0, description: 'Random crop: pad by this many pixels and crop back (an integer shift)' },
        flip: { type: 'boolean', default: false, description: 'Horizontal flip with chance 1/2 (off by default: digits and text are not mirror-symmetric)' },
        noise: { type: 'number', minimum: 0, maximum: 255, default: 0, description: "Gaussian noise std in the image's scale (0..1 or 0..255)" },
      },
    },
    text: {
      type: 'object',
      additionalProperties: false,
      properties: {
        enabled: { type: 'boolean', default: true },
        synonym: rate('Chance per word of a synonym swap (built-in table)', 0.1),
        deletion: rate('Chance per word of deletion', 0.1),
        swap: rate('Word-pair swaps as a fraction of the word count', 0.1),
        paraphrase: rate('Chance of one template paraphrase', 0),
        synonyms: { type: 'array', items: { type: 'array', items: { type: 'string' }, minItems: 2 }, description: 'Extra synonym groups' },
      },
    },
  },
};

/** The policy with defaults filled, as the report shows it. */
export function resolvePolicy(options: AugmentOptions) {
  const image = { enabled: true, rotation: 10, translation: 2, crop: 0, flip: false, noise: 0, ...options.image };
  const { synonyms = [], ...text } = { enabled: true, synonym: 0.1, deletion: 0.1, swap: 0.1, paraphrase: 0, ...options.text };
  return { probability: options.probability ?? 1, image, text, extraSynonymGroups: synonyms.length, synonyms };
}

/**
 * The augmenter: a pure function of (record, rng). Text records get the text policy, image
 * records the image policy; the record is copied, never modified.
 */
export function createAugmenter(options: AugmentOptions): RecordAugmenter {
  const policy = resolvePolicy(options);
  const table = synonymTable(policy.synonyms);
  return (record: DataRecord, rng: () => number): DataRecord => {
    if (rng() >= policy.probability) return record;
    if (policy.text.enabled && typeof record.text === 'string') return { ...record, text: augmentText(record.text, policy.text, table, rng) };
    if (policy.image.enabled && isImageArray(record.image)) return { ...record, image: transformImage(record.image, drawTransform(policy.image, rng), rng) };
    return record;
  };
}

/**
 * STAGE.AUGMENT: attaches the augmentation policy to the dataset (`dataset.augment`). Nothing
 * is generated here: the trainer applies it to training batches as they are built, seeded by
 * (run seed, epoch, sample index), so validation and test records are never augmented and
 * the record count does not change.
 */
export const augmentStage: DatasetStage<AugmentOptions> = {
  name: 'augment',
  stage: STAGE.AUGMENT,
  description: 'Seeded on-the-fly augmentation of training batches (images: crop/rotate/shift/flip/noise; text: synonyms/deletion/swap/paraphrase)',
  optionsSchema: augmentOptionsSchema,
  run(dataset: Dataset, options: AugmentOptions, ctx: RunContext): Dataset {
    const { synonyms: _, ...policy } = resolvePolicy(options);
    const n = dataset.records.length;
    const texts = dataset.records.filter((r) => typeof r.text === 'string').length;
    const images = dataset.records.filter((r) => isImageArray(r.image)).length;
    if (dataset.augment) ctx.log.warn('augment: the dataset already had an augmentation policy; it is replaced');
    const report = countReport('augment', PLUGIN_NAME, { in: n, out: n, dropReasons: {} }, { policy, appliesTo: 'training batches, on the fly', textRecords: texts, imageRecords: images, untouched: n - texts - images });
    return { ...dataset, augment: createAugmenter(options), reports: [...dataset.reports, report] };
  },
};
