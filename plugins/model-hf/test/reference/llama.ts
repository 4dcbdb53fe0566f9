/**
 * LlamaForCausalLM / Qwen2ForCausalLM / MistralForCausalLM in plain JS (float64, nested
 * arrays, nothing from src/ or tfjs), written from transformers' modeling_llama.py and
 * modeling_qwen2.py: RMSNorm, rotate-half RoPE (default or llama3 frequencies), grouped-query
 * attention (query head h reads key/value head ⌊h / groups⌋), SwiGLU, optional sliding window.
 */
import { embed, linear, softmax, w, type M, type Weights } from './plain';

export interface LlamaRefConfig {
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  eps: number;
  theta: number;
  /** Qwen2: q/k/v_proj have biases. */
  qkvBias: boolean;
  /** lm_head = embed_tokens. */
  tied: boolean;
  llama3?: { factor: number; low_freq_factor: number; high_freq_factor: number; original_max_position_embeddings: number };
  /** Mistral: query i sees keys j with i − window < j ≤ i. */
  window?: number;
  /** Per layer windows (Qwen2's use_sliding_window / layer_types); overrides `window`. */
  windows?: Array<number | undefined>;
  /**
   * Per layer, past keys and values [kvHeads][p][headDim] before the tokens (PEFT's prefix
   * tuning passes them as past_key_values): always attended, and the tokens' positions start
   * at p (transformers' cache_position).
   */
  prefix?: Array<{ key: number[][][]; value: number[][][] }>;
}

function rmsNorm(x: M, g: Float32Array, eps: number): M {
  return x.map((row) => {
    const ms = row.reduce((a, v) => a + v * v, 0) / row.length;
    const r = 1 / Math.sqrt(ms + eps);
    return row.map((v, i) => v * r * g[i]);
  });
}

/** inv_freq[i] = θ^(−2i/d), then llama3's piecewise rescaling by wavelength. */
export function referenceInvFreq(c: LlamaRefConfig): number[] {
  const d = c.headDim;
  const base = Array.from({ length: d / 2 }, (_, i) => Math.pow(c.theta, -(2 * i) / d));
  if (!c.llama3) return base;
  const { factor, low_freq_factor: lf, high_freq_factor: hf, original_max_position_embeddings: old } = c.llama3;
  return base.map((f) => {
    const wavelen = (2 * Math.PI) / f;
    if (wavelen < old / hf) return f;
    if (wavelen > old / lf) return f / factor;
    const s = (old / wavelen - lf) / (hf - lf);
    return ((1 - s) * f) / factor + s * f;
  });
}

/** Rotates each head's vector of token at position `pos`: out = x·cos + rotate_half(x)·sin. */
function rope(row: number[], heads: number, d: number, pos: number, inv: number[]): number[] {
  const out = row.slice();
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < d / 2; i++) {
      const a = pos * inv[i];
      const x1 = row[h * d + i];
      const x2 = row[h * d + d / 2 + i];
      out[h * d + i] = x1 * Math.cos(a) - x2 * Math.sin(a);
      out[h * d + d / 2 + i] = x2 * Math.cos(a) + x1 * Math.sin(a);
    }
  }
  return out;
}

/** Logits [s, vocab] and the labels = input_ids loss of one unpadded row. */
export function llamaForward(W: Weights, ids: number[], c: LlamaRefConfig): { logits: M; hidden: M; loss: number } {
  const inv = referenceInvFreq(c);
  const d = c.headDim;
  const groups = c.heads / c.kvHeads;
  let h = embed(W, 'model.embed_tokens.weight', ids);
  const silu = (v: number) => v / (1 + Math.exp(-v));
  for (let l = 0; l < c.layers; l++) {
    const L = `model.layers.${l}`;
    const x = rmsNorm(h, w(W, `${L}.input_layernorm.weight`).data, c.eps);
    const win = c.windows ? c.windows[l] : c.window;
    const pre = c.prefix?.[l];
    const p = pre ? pre.key[0].length : 0;
    const q = linear(x, W, `${L}.self_attn.q_proj`, c.qkvBias).map((r, t) => rope(r, c.heads, d, p + t, inv));
    const k = linear(x, W, `${L}.self_attn.k_proj`, c.qkvBias).map((r, t) => rope(r, c.kvHeads, d, p + t, inv));
    const v = linear(x, W, `${L}.self_attn.v_proj`, c.qkvBias);
    const ctx: M = ids.map(() => new Array<number>(c.heads * d).fill(0));
    for (let hq = 0; hq < c.heads; hq++) {
      const kv = Math.floor(hq / groups);
      for (let i = 0; i < ids.length; i++) {
        // Keys: the prefix's p, then the tokens' (causal, within the window).
        const keys: number[][] = pre ? pre.key[kv].slice() : [];
        const vals: number[][] = pre ? pre.value[kv].slice() : [];
        for (let j = 0; j <= i; j++) {
          if (win !== undefined && i - j >= win) continue;
          keys.push(k[j].slice(kv * d, kv * d + d));
          vals.push(v[j].slice(kv * d, kv * d + d));
        }
        const scores = keys.map((key) => key.reduce((a, ke, e) => a + q[i][hq * d + e] * ke, 0) / Math.sqrt(d));
        const probs = softmax(scores);
        for (let e = 0; e < d; e++) ctx[i][hq * d + e] = vals.reduce((a, val, n) => a + probs[n] * val[e], 0);
      }
    }
    const attn = linear(ctx, W, `${L}.self_attn.o_proj`, false);
    h = h.map((row, t) => row.map((val, e) => val + attn[t][e]));
    const y = rmsNorm(h, w(W, `${L}.post_attention_layernorm.weight`).data, c.eps);
    const gate = linear(y, W, `${L}.mlp.gate_proj`, false);
    const up = linear(y, W, `${L}.mlp.up_proj`, false);
    const mlp = linear(gate.map((r, t) => r.map((g, e) => silu(g) * up[t][e])), W, `${L}.mlp.down_proj`, false);
    h = h.map((row, t) => row.map((val, e) => val + mlp[t][e]));
  }
  const hidden = rmsNorm(h, w(W, 'model.norm.weight').data, c.eps);
  const head = w(W, c.tied ? 'model.embed_tokens.weight' : 'lm_head.weight');
  const [vocab, dim] = head.shape;
  const logits = hidden.map((row) => Array.from({ length: vocab }, (_, t) => row.reduce((a, x, e) => a + x * head.data[t * dim + e], 0)));
  let loss = 0;
  for (let t = 0; t < ids.length - 1; t++) loss -= Math.log(softmax(logits[t])[ids[t + 1]]);
  return { logits, hidden, loss: loss / (ids.length - 1) };
}
