import { closeMatches, type ConfigOf, type JSONSchema } from '@leantune/core';
import { matchesSpec, targetSpecProblems, targetSpecSchema } from '@leantune/peft';
import type { Module } from '@leantune/tensor';


/** Ben Zaken et al. 2022, §4.2: the query bias and the first FFN layer's bias (BERT's intermediate.dense) carry most of the gain. */
export const BITFIT_PAPER_TARGETS: Readonly<Record<string, readonly string[]>> = {
  bert: ['query', 'intermediate.dense'],
  roberta: ['query', 'intermediate.dense'],
  vit: ['query', 'intermediate.dense'],
  gpt2: ['c_attn', 'mlp.c_fc'],
  clip: ['q_proj', 'fc1'],
  'use-lite': ['q', 'fc1'],
};

/** JSON Schema of `methods.bitfit`: the config type derives from it. */
export const bitfitConfigSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    biases: { type: 'string', enum: ['all', 'paper'], default: 'all', description: '"all" bias terms, or the BitFit paper\'s query + first-FFN-layer subset' },
    target_modules: targetSpecSchema('Only the biases of these modules (overrides "biases")'),
    exclude_modules: targetSpecSchema('Modules whose bias stays frozen'),
  },
} as const satisfies JSONSchema;

/** BitFit's config: "all" bias terms or the paper's subset, optionally restricted to target_modules. */
export type BitfitConfig = ConfigOf<typeof bitfitConfigSchema>;

export interface BitfitSelection {
  config: BitfitConfig;
  /** Dotted paths of the selected bias parameters. */
  paths: string[];
}

const BIAS = 'bias';

/** The bias parameters BitFit trains on this model; a pattern that selects none fails naming close modules. */
export function selectBiases(model: Module, partial: Partial<BitfitConfig> = {}, arch?: string, defaultTargets?: readonly string[]): BitfitSelection {
  const config: BitfitConfig = { biases: partial.biases ?? 'all', target_modules: partial.target_modules ?? null, exclude_modules: partial.exclude_modules ?? null };
  if (config.biases !== 'all' && config.biases !== 'paper') throw new Error(`BitFit biases "${String(config.biases)}" is not one of "all", "paper"`);
  const [badPattern] = targetSpecProblems(config, ['target_modules', 'exclude_modules']);
  if (badPattern) throw new Error(`BitFit ${badPattern}`);
  let spec = config.target_modules;
  if (spec == null && config.biases === 'paper') {
    const paper = BITFIT_PAPER_TARGETS[arch ?? ''] ?? defaultTargets;
    if (!paper) throw new Error(`BitFit biases "paper" has no module list for architecture "${arch ?? 'unknown'}"; set target_modules (e.g. ["query", "intermediate.dense"])`);
    spec = [...paper];
  }
  const biases = [...model.namedParameters()].filter(([p]) => p === BIAS || p.endsWith(`.${BIAS}`));
  const owner = (p: string) => p.slice(0, Math.max(0, p.length - BIAS.length - 1));
  const exclude = config.exclude_modules;
  const paths = biases.map(([p]) => p).filter((p) => (spec == null || matchesSpec(spec, owner(p))) && !(exclude && matchesSpec(exclude, owner(p))));
  if (paths.length === 0) {
    const owners = biases.map(([p]) => owner(p));
    const leaves = [...new Set(owners.map((o) => o.split('.').pop()!))];
    const wanted = spec == null ? [] : typeof spec === 'string' ? [spec] : spec;
    const close = [...new Set(wanted.flatMap((w) => closeMatches(w, [...leaves, ...owners], 3)))];
    throw new Error(
      `BitFit selected no bias: ${spec == null ? 'the model has no bias parameters (after exclude_modules)' : `target_modules ${JSON.stringify(spec)} matched no module with a bias`}.${
        close.length ? ` Close module names: ${close.map((c) => `"${c}"`).join(', ')}.` : ''
      } Modules with a bias: ${leaves.slice(0, 15).join(', ') || 'none'}.`,
    );
  }
  return { config: { ...config, target_modules: spec ?? null }, paths };
}

