import type { DataRecord } from '@leantune/core';
import { deriveSeed, labelCounts } from '@leantune/data';
import { DIGIT_LABELS, generateImages, SHAPE_LABELS, type ImageJitter } from './images';
import { checkGrammar, generateText, SPAM_HAM_GRAMMAR, type Grammar } from './text';

export const SIMULATE_KINDS = ['digits', 'shapes', 'text'] as const;
export type SimulateKind = (typeof SIMULATE_KINDS)[number];

export interface MixOptions {
  kind: SimulateKind;
  /** Synthetic records per real record, per label (0.5 = one synthetic for every two real). */
  ratio: number;
  seed: number;
  jitter?: ImageJitter;
  /** Text grammar whose start symbols are the labels (default: SPAM_HAM_GRAMMAR). */
  grammar?: Grammar;
}

export interface MixResult {
  records: DataRecord[];
  added: number;
  /** Synthetic records added per label. */
  perLabel: Record<string, number>;
  /** Real labels the generator has no template or grammar symbol for (nothing added for them). */
  unsupported: string[];
}

function supportedLabels(kind: SimulateKind, grammar: Grammar): (label: string) => boolean {
  if (kind === 'digits') return (l) => DIGIT_LABELS.includes(l);
  if (kind === 'shapes') return (l) => (SHAPE_LABELS as readonly string[]).includes(l);
  return (l) => Object.prototype.hasOwnProperty.call(grammar, l);
}

/**
 * Real records followed by synthetic ones: for each label the generator supports,
 * round(ratio × real count) synthetic records, so the class balance is kept. The real
 * records are returned as they were (same objects, same order).
 */
export function mixSynthetic(real: readonly DataRecord[], options: MixOptions): MixResult {
  if (!(SIMULATE_KINDS as readonly string[]).includes(options.kind)) {
    throw new Error(`simulate: kind must be one of ${SIMULATE_KINDS.map((k) => `"${k}"`).join(', ')} (got ${JSON.stringify(options.kind)})`);
  }
  if (!(typeof options.ratio === 'number' && options.ratio >= 0 && Number.isFinite(options.ratio))) {
    throw new Error(`simulate: ratio must be a finite number >= 0 (synthetic records per real record; got ${options.ratio})`);
  }
  const grammar = options.grammar ?? SPAM_HAM_GRAMMAR;
  const supports = supportedLabels(options.kind, grammar);
  const counts = labelCounts(real);
  const unsupported = Object.keys(counts).filter((l) => !supports(l));
  const usable = Object.keys(counts).filter(supports);
  if (usable.length === 0 && options.ratio > 0) {
    throw new Error(`simulate: the ${options.kind} generator has no label in common with the data (labels: ${Object.keys(counts).join(', ') || 'none'}); ${options.kind === 'text' ? 'give a grammar whose start symbols are the labels' : 'use a dataset with matching labels'}`);
  }
  if (options.kind === 'text') checkGrammar(grammar, usable);
  const synthetic: DataRecord[] = [];
  const perLabel: Record<string, number> = {};
  for (const label of usable) {
    const n = Math.round(counts[label] * options.ratio);
    const seed = deriveSeed(options.seed, `simulate:${label}`);
    const made = options.kind === 'text' ? generateText([label], n, seed, grammar) : generateImages(options.kind, [label], n, seed, options.jitter);
    perLabel[label] = made.length;
    synthetic.push(...made);
  }
  return { records: [...real, ...synthetic], added: synthetic.length, perLabel, unsupported };
}
