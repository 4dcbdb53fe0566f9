/** transformers' forward passes for one unpadded example, on plain arrays (see plain.ts). */
import { add, attention, conv1d, embed, gelu, geluNew, layerNorm, linear, map, patchEmbed, quickGelu, softmax, vec, w, type M, type Weights } from './plain';

const all = () => true;

/** BertForSequenceClassification / RobertaForSequenceClassification logits (eval mode). */
export function bertLogits(W: Weights, ids: number[], o: { roberta: boolean; layers: number; heads: number; eps: number; padId: number }): number[] {
  const p = o.roberta ? 'roberta' : 'bert';
  // RoBERTa: positions padding_idx+1, padding_idx+2, ... for non-pad tokens.
  const positions = ids.map((_, i) => (o.roberta ? o.padId + 1 + i : i));
  let h = add(add(embed(W, `${p}.embeddings.word_embeddings.weight`, ids), embed(W, `${p}.embeddings.token_type_embeddings.weight`, ids.map(() => 0))), embed(W, `${p}.embeddings.position_embeddings.weight`, positions));
  h = layerNorm(h, W, `${p}.embeddings.LayerNorm`, o.eps);
  for (let l = 0; l < o.layers; l++) {
    const L = `${p}.encoder.layer.${l}`;
    const ctx = attention(linear(h, W, `${L}.attention.self.query`), linear(h, W, `${L}.attention.self.key`), linear(h, W, `${L}.attention.self.value`), o.heads, all);
    const a = layerNorm(add(linear(ctx, W, `${L}.attention.output.dense`), h), W, `${L}.attention.output.LayerNorm`, o.eps);
    const inter = map(linear(a, W, `${L}.intermediate.dense`), gelu);
    h = layerNorm(add(linear(inter, W, `${L}.output.dense`), a), W, `${L}.output.LayerNorm`, o.eps);
  }
  if (o.roberta) {
    const x = map(linear([h[0]], W, 'classifier.dense'), Math.tanh);
    return linear(x, W, 'classifier.out_proj')[0];
  }
  const pooled = map(linear([h[0]], W, `${p}.pooler.dense`), Math.tanh);
  return linear(pooled, W, 'classifier')[0];
}

/** GPT2LMHeadModel logits [s, vocab] (lm_head = wte) and the labels=input_ids loss. */
export function gpt2Forward(W: Weights, ids: number[], o: { prefix: string; layers: number; heads: number; eps: number }): { logits: M; loss: number } {
  const p = o.prefix;
  let h = add(embed(W, `${p}wte.weight`, ids), embed(W, `${p}wpe.weight`, ids.map((_, i) => i)));
  const causal = (i: number, j: number) => j <= i;
  for (let l = 0; l < o.layers; l++) {
    const L = `${p}h.${l}`;
    const qkv = conv1d(layerNorm(h, W, `${L}.ln_1`, o.eps), W, `${L}.attn.c_attn`);
    const d = h[0].length;
    const ctx = attention(qkv.map((r) => r.slice(0, d)), qkv.map((r) => r.slice(d, 2 * d)), qkv.map((r) => r.slice(2 * d)), o.heads, causal);
    h = add(h, conv1d(ctx, W, `${L}.attn.c_proj`));
    const m = conv1d(map(conv1d(layerNorm(h, W, `${L}.ln_2`, o.eps), W, `${L}.mlp.c_fc`), geluNew), W, `${L}.mlp.c_proj`);
    h = add(h, m);
  }
  h = layerNorm(h, W, `${p}ln_f`, o.eps);
  const wte = w(W, `${p}wte.weight`);
  const vocab = wte.shape[0];
  const d = wte.shape[1];
  const logits = h.map((row) => Array.from({ length: vocab }, (_, v) => row.reduce((a, x, c) => a + x * wte.data[v * d + c], 0)));
  let loss = 0;
  for (let t = 0; t < ids.length - 1; t++) loss -= Math.log(softmax(logits[t])[ids[t + 1]]);
  return { logits, loss: loss / (ids.length - 1) };
}

/** ViTForImageClassification logits for CHW normalised pixels. */
export function vitLogits(W: Weights, pixels: number[][][], o: { layers: number; heads: number; eps: number }): number[] {
  const cls = vec(W, 'vit.embeddings.cls_token');
  const pos = w(W, 'vit.embeddings.position_embeddings');
  const d = cls.length;
  let h: M = [cls, ...patchEmbed(pixels, W, 'vit.embeddings.patch_embeddings.projection', true)];
  h = h.map((row, i) => row.map((v, c) => v + pos.data[i * d + c]));
  for (let l = 0; l < o.layers; l++) {
    const L = `vit.encoder.layer.${l}`;
    const x = layerNorm(h, W, `${L}.layernorm_before`, o.eps);
    const ctx = attention(linear(x, W, `${L}.attention.attention.query`), linear(x, W, `${L}.attention.attention.key`), linear(x, W, `${L}.attention.attention.value`), o.heads, all);
    h = add(linear(ctx, W, `${L}.attention.output.dense`), h);
    const y = map(linear(layerNorm(h, W, `${L}.layernorm_after`, o.eps), W, `${L}.intermediate.dense`), gelu);
    h = add(linear(y, W, `${L}.output.dense`), h);
  }
  h = layerNorm(h, W, 'vit.layernorm', o.eps);
  return linear([h[0]], W, 'classifier')[0];
}

function clipEncoder(W: Weights, prefix: string, h0: M, o: { layers: number; heads: number; eps: number }, causal: boolean): M {
  let h = h0;
  for (let l = 0; l < o.layers; l++) {
    const L = `${prefix}.encoder.layers.${l}`;
    const x = layerNorm(h, W, `${L}.layer_norm1`, o.eps);
    const ctx = attention(linear(x, W, `${L}.self_attn.q_proj`), linear(x, W, `${L}.self_attn.k_proj`), linear(x, W, `${L}.self_attn.v_proj`), o.heads, causal ? (i, j) => j <= i : all);
    h = add(h, linear(ctx, W, `${L}.self_attn.out_proj`));
    const m = linear(map(linear(layerNorm(h, W, `${L}.layer_norm2`, o.eps), W, `${L}.mlp.fc1`), quickGelu), W, `${L}.mlp.fc2`);
    h = add(h, m);
  }
  return h;
}

/** CLIPModel.get_text_features for one sequence; pooled at the first eos token. */
export function clipTextFeatures(W: Weights, ids: number[], eos: number, o: { layers: number; heads: number; eps: number }): number[] {
  let h = add(embed(W, 'text_model.embeddings.token_embedding.weight', ids), embed(W, 'text_model.embeddings.position_embedding.weight', ids.map((_, i) => i)));
  h = layerNorm(clipEncoder(W, 'text_model', h, o, true), W, 'text_model.final_layer_norm', o.eps);
  return linear([h[ids.indexOf(eos)]], W, 'text_projection', false)[0];
}

/** CLIPModel.get_image_features for CHW normalised pixels. */
export function clipImageFeatures(W: Weights, pixels: number[][][], o: { layers: number; heads: number; eps: number }): number[] {
  const cls = vec(W, 'vision_model.embeddings.class_embedding');
  let h: M = [cls, ...patchEmbed(pixels, W, 'vision_model.embeddings.patch_embedding', false)];
  h = add(h, embed(W, 'vision_model.embeddings.position_embedding.weight', h.map((_, i) => i)));
  h = clipEncoder(W, 'vision_model', layerNorm(h, W, 'vision_model.pre_layrnorm', o.eps), o, false);
  const pooled = layerNorm([h[0]], W, 'vision_model.post_layernorm', o.eps);
  return linear(pooled, W, 'visual_projection', false)[0];
}

/** logits_per_image[i][t] = exp(logit_scale) · cos(image_i, text_t). */
export function clipLogitsPerImage(W: Weights, images: number[][], texts: number[][]): M {
  const scale = Math.exp(vec(W, 'logit_scale')[0]);
  const unit = (v: number[]) => {
    const n = Math.sqrt(v.reduce((a, x) => a + x * x, 0));
    return v.map((x) => x / n);
  };
  return images.map(unit).map((img) => texts.map(unit).map((t) => scale * img.reduce((a, x, c) => a + x * t[c], 0)));
}
