import { tf, type Module } from '@leantune/tensor';
import type { LoraConfig } from './config';
import { LoraLinear } from './lora-linear';
import type { LoraModel, LoraPlan, PlannedTarget } from './model';
import { svd } from './svd';

export interface WeightedAdapterOptions {
  adapters: string[];
  weights: number[];
  adapterName: string;
  /** "linear": weighted sums of A and of B (equal ranks); "svd": truncated SVD of the weighted ΔW. */
  combinationType?: 'linear' | 'svd';
  /** Rank of the "svd" result; default the largest source rank. */
  svdRank?: number;
}

function maxRank(cfg: LoraConfig): number {
  return Math.max(cfg.r, ...Object.values(cfg.rank_pattern ?? {}));
}

function weightOf(layer: Module, dict: string, adapter: string): tf.Variable {
  return layer.getSubmodule(`${dict}.${adapter}`).getParameter('weight').variable;
}

/**
 * PEFT's add_weighted_adapter for combination_type "linear" and "svd". The new adapter has
 * r = lora_alpha = new rank and no rsLoRA (scaling 1), is added inactive, and covers every
 * layer that holds any source adapter.
 * - linear: A = Σ sign(wᵢsᵢ)·√|wᵢsᵢ|·Aᵢ, B = Σ √|wᵢsᵢ|·Bᵢ (sᵢ = source scaling).
 * - svd: ΔW = Σ wᵢsᵢ·get_delta_weight(i) (which already includes sᵢ, exactly as PEFT
 *   computes it), then B = U_r·diag(S_r), A = V_rᵀ.
 */
export function addWeightedAdapter(lora: LoraModel, options: WeightedAdapterOptions): void {
  const { adapters, weights, adapterName } = options;
  const where = `addWeightedAdapter("${adapterName}")`;
  if (adapters.length === 0 || adapters.length !== weights.length) {
    throw new Error(`${where}: give one weight per adapter (got ${adapters.length} adapters, ${weights.length} weights)`);
  }
  if (lora.configs.has(adapterName)) throw new Error(`${where}: an adapter with that name already exists`);
  const configs = adapters.map((a) => lora.adapterConfig(a));
  if (configs.some((c) => c.use_dora)) throw new Error(`${where}: DoRA adapters cannot be combined (their magnitude vectors do not add up); merge them one at a time instead`);
  const type = adapters.length === 1 ? 'linear' : options.combinationType ?? 'svd';
  const ranks = configs.map(maxRank);
  if (type === 'linear' && new Set(ranks).size !== 1) {
    throw new Error(`${where}: combination_type "linear" needs adapters of the same rank, got r = ${ranks.join(', ')}; use "svd"`);
  }
  const newRank = type === 'linear' ? ranks[0] : options.svdRank ?? Math.max(...ranks);
  const targetKinds = new Set(configs.map((c) => typeof c.target_modules));
  if (targetKinds.size > 1) throw new Error(`${where}: cannot combine adapters whose target_modules mix lists and regex strings`);
  const first = configs[0];
  const targetModules =
    typeof first.target_modules === 'string'
      ? configs.map((c) => `(${c.target_modules})`).join('|')
      : [...new Set(configs.flatMap((c) => (c.target_modules as string[]) ?? []))].sort();
  const config: LoraConfig = { ...first, r: newRank, lora_alpha: newRank, use_rslora: false, target_modules: targetModules, rank_pattern: {}, alpha_pattern: {} };

  const touched = lora.layers().filter(([, l]) => adapters.some((a) => l.settings.has(a)));
  const other = touched.find(([, l]) => !(l instanceof LoraLinear));
  if (other) throw new Error(`${where}: "${other[0]}" is a LoRA ${other[1].constructor.name}; only adapters on Linear/Conv1D layers can be combined here`);
  const layers = touched as Array<[string, LoraLinear]>;
  for (const [path, layer] of layers) {
    const limit = Math.min(layer.inFeatures, layer.outFeatures);
    if (newRank > limit) throw new Error(`${where}: rank ${newRank} exceeds min(in, out) = ${limit} of "${path}"; pass a smaller svdRank`);
  }
  const targets: PlannedTarget[] = layers.map(([path, module]) => ({
    path,
    module,
    settings: { r: newRank, alpha: newRank, scaling: 1, dropout: first.lora_dropout, useDora: false, init: true },
  }));
  const plan: LoraPlan = { adapterName, config, targets, modulesToSave: [] };
  lora.apply(plan);

  for (const [, layer] of layers) {
    const present = adapters.map((a, i) => ({ a, w: weights[i] })).filter(({ a }) => layer.settings.has(a));
    const [newA, newB] = tf.tidy(() => {
      if (type === 'linear') {
        let a: tf.Tensor = tf.zeros([newRank, layer.inFeatures]);
        let b: tf.Tensor = tf.zeros([layer.outFeatures, newRank]);
        for (const { a: name, w } of present) {
          const ws = w * layer.settings.get(name)!.scaling;
          a = tf.add(a, tf.mul(weightOf(layer, 'lora_A', name), Math.sign(ws || 1) * Math.sqrt(Math.abs(ws))));
          b = tf.add(b, tf.mul(weightOf(layer, 'lora_B', name), Math.sqrt(Math.abs(ws))));
        }
        return [a, b];
      }
      let delta: tf.Tensor = tf.zeros([layer.outFeatures, layer.inFeatures]);
      for (const { a: name, w } of present) {
        const s = layer.settings.get(name)!.scaling;
        const d = tf.mul(tf.matMul(weightOf(layer, 'lora_B', name), weightOf(layer, 'lora_A', name)), s);
        delta = tf.add(delta, tf.mul(d, w * s));
      }
      const [out, inF] = delta.shape;
      const dec = svd(delta.dataSync(), out, inF);
      const aVals = new Float32Array(newRank * inF);
      const bVals = new Float32Array(out * newRank);
      for (let j = 0; j < newRank; j++) {
        for (let i = 0; i < inF; i++) aVals[j * inF + i] = dec.vt[j * inF + i];
        for (let i = 0; i < out; i++) bVals[i * newRank + j] = dec.u[i * dec.k + j] * dec.s[j];
      }
      return [tf.tensor2d(aVals, [newRank, inF]), tf.tensor2d(bVals, [out, newRank])];
    });
    layer.getSubmodule(`lora_A.${adapterName}`).getParameter('weight').variable.assign(newA);
    layer.getSubmodule(`lora_B.${adapterName}`).getParameter('weight').variable.assign(newB);
    tf.dispose([newA, newB]);
  }
}

