import fs from 'node:fs';
import path from 'node:path';
import { loadHfCheckpoint, writeTinyHfCheckpoint } from '@leantune/plugin-hf';
import { createMobileNetV2 } from '@leantune/plugin-mobilenet-v2';
import { Conv2d, Embedding, loadSafetensors, readSafetensorsHeader, saveSafetensors, setSeed, tf, type Module } from '@leantune/tensor';
import { maxAbsDiff, quietLog as quiet, randn, snapshot, tempDir } from '@leantune/testing';
import { injectLora, loadAdapter, LoraConv2d, LoraEmbedding, saveAdapter } from '../src';

function perturbAdapters(model: Module, seed: number): void {
  for (const [p, param] of model.namedParameters()) {
    if (p.includes('.lora_')) param.variable.assign(tf.add(param.variable, tf.mul(randn(param.shape, seed++), 0.2)));
  }
}

const ids = (rows: number[][]) => tf.tensor2d(rows, [rows.length, rows[0].length], 'int32');

describe('LoRA on Embedding and Conv2d (PEFT\'s lora.Embedding, lora.Conv2d)', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
    setSeed(21);
  });

  it('GPT-2 (Hub layout) wte: lora_embedding_A/B with PEFT\'s shapes and init; forward = base + embed(ids, Aᵀ)·Bᵀ·s; merge, unmerge, save, load', async () => {
    const dir = tempDir('lora-gpt2-wte');
    writeTinyHfCheckpoint('gpt2', dir, { layers: 1, seed: 5 });
    const m = await loadHfCheckpoint(dir, { log: quiet });
    const wtePath = [...m.module.namedModules()].find(([p, mod]) => mod instanceof Embedding && p.endsWith('wte'))![0];
    const base = m.module.getSubmodule(wtePath) as Embedding;
    const [vocab, dim] = base.weight.shape;
    const x = ids([[1, 2, 3, 0], [4, 4, 1, 2]]);
    // The GPT2Model body (hidden states); the tied lm_head with LoRA on wte is the next test's.
    const body = () => m.module.getSubmodule(wtePath.replace(/\.?wte$/, '')).forward(x) as tf.Tensor;
    const before = body();
    const lora = injectLora(m.module, { target_modules: ['wte', 'c_attn'], r: 2, lora_alpha: 6 });
    const layer = m.module.getSubmodule(wtePath) as LoraEmbedding;
    expect(layer).toBeInstanceOf(LoraEmbedding);
    const shapes = Object.fromEntries([...layer.namedParameters()].map(([p, v]) => [p, v.shape]));
    expect(shapes).toEqual({ 'base_layer.weight': [vocab, dim], 'lora_embedding_A.default': [2, vocab], 'lora_embedding_B.default': [dim, 2] });
    // PEFT's init for embeddings: A zeros, B normal, so the model starts unchanged.
    expect(maxAbsDiff(layer.getParameter('lora_embedding_A.default').variable, tf.zeros([2, vocab]))).toBe(0);
    expect(maxAbsDiff(body(), before)).toBe(0);
    perturbAdapters(m.module, 1);
    const a = layer.getParameter('lora_embedding_A.default').variable;
    const b = layer.getParameter('lora_embedding_B.default').variable;
    const expected = tf.add(tf.gather(base.weight, x), tf.mul(tf.reshape(tf.matMul(tf.reshape(tf.gather(tf.transpose(a), x), [-1, 2]), b, false, true), [2, 4, dim]), 6 / 2));
    expect(maxAbsDiff(layer.forward(x), expected)).toBeLessThan(1e-5);
    const unmerged = layer.forward(x);
    const weights = snapshot(layer.baseLayer);
    lora.merge();
    expect(maxAbsDiff(layer.forward(x), unmerged)).toBeLessThan(1e-5);
    lora.unmerge();
    snapshot(layer.baseLayer).forEach(([, v], i) => v.forEach((w, j) => expect(w).toBeCloseTo(weights[i][1][j], 5)));

    const out = saveAdapter(lora, tempDir('lora-gpt2-wte-out'));
    const header = readSafetensorsHeader(path.join(out, 'adapter_model.safetensors'));
    expect(header.tensors.get(`base_model.model.${wtePath}.lora_embedding_A`)?.shape).toEqual([2, vocab]);
    expect(header.tensors.get(`base_model.model.${wtePath}.lora_embedding_B`)?.shape).toEqual([dim, 2]);
    const fresh = await loadHfCheckpoint(dir, { log: quiet });
    loadAdapter(fresh.module, out);
    expect(fresh.module.getSubmodule(wtePath)).toBeInstanceOf(LoraEmbedding);
    const freshBody = fresh.module.getSubmodule(wtePath.replace(/\.?wte$/, '')).forward(x) as tf.Tensor;
    expect(maxAbsDiff(freshBody, body())).toBeLessThan(1e-5);
    expect(maxAbsDiff(body(), before)).toBeGreaterThan(1e-4);
    expect(lora.unload()).toBe(m.module);
    expect(m.module.getSubmodule(wtePath)).toBe(base);
  });

  it.each([
    ['gpt2', 'Gpt2LMHeadModel', 'transformer', 'wte'],
    ['llama', 'LlamaForCausalLM', 'model', 'embed_tokens'],
  ] as const)('%s: with LoRA on the tied embedding, %s\'s lm_head uses the base table unmerged and the merged table once merged (transformers + PEFT share the Parameter)', async (arch, className, body, embedding) => {
    const dir = tempDir(`lora-${arch}-lmhead`);
    writeTinyHfCheckpoint(arch, dir, { layers: 1, seed: 8 });
    const m = await loadHfCheckpoint(dir, { log: quiet });
    expect(m.module.constructor.name).toBe(className);
    const x = ids([[5, 2, 9, 1], [7, 7, 3, 0]]);
    const path = `${body}.${embedding}`;
    const w = tf.clone(m.module.getParameter(`${path}.weight`).variable);
    const lora = injectLora(m.module, { target_modules: [embedding], r: 2, lora_alpha: 6 });
    perturbAdapters(m.module, 40);
    const layer = m.module.getSubmodule(path) as LoraEmbedding;
    const a = layer.getParameter('lora_embedding_A.default').variable;
    const b = layer.getParameter('lora_embedding_B.default').variable;
    // Independent of the model: lm_head(h) = h·Wᵀ over the hidden states, with W the base table
    // unmerged and W + s·AᵀBᵀ merged (PEFT's Embedding.get_delta_weight, written into the shared weight).
    const head = (h: tf.Tensor, table: tf.Tensor) => tf.einsum('bsd,vd->bsv', h, table);
    const merged = tf.add(w, tf.mul(tf.matMul(a, b, true, true), 3));
    const hidden = () => m.module.getSubmodule(body).forward(x) as tf.Tensor;
    const h = hidden();
    const unmergedLogits = m.module.forward(x) as tf.Tensor;
    expect(maxAbsDiff(unmergedLogits, head(h, w))).toBeLessThan(1e-5);
    expect(maxAbsDiff(unmergedLogits, head(h, merged))).toBeGreaterThan(1e-3);
    lora.merge();
    // The lookup is the same merged or not; the head now multiplies by the merged table.
    expect(maxAbsDiff(hidden(), h)).toBeLessThan(1e-5);
    expect(maxAbsDiff(m.module.forward(x) as tf.Tensor, head(h, merged))).toBeLessThan(1e-5);
    lora.unmerge();
    expect(maxAbsDiff(m.module.forward(x) as tf.Tensor, unmergedLogits)).toBeLessThan(1e-5);
    // merge-and-unload: the embedding is an Embedding again, holding the merged table, and the head uses it.
    lora.mergeAndUnload();
    expect(m.module.getSubmodule(path)).toBeInstanceOf(Embedding);
    expect(maxAbsDiff(m.module.forward(x) as tf.Tensor, head(h, merged))).toBeLessThan(1e-5);
  });

  it('a folder with PEFT\'s saved embed_tokens table (save_embedding_layers="auto": <path>.base_layer.weight) loads the table into the base layer, as PEFT; a wrong shape is refused before anything changes', async () => {
    const dir = tempDir('lora-llama-table');
    writeTinyHfCheckpoint('llama', dir, { layers: 1, seed: 9 });
    const m = await loadHfCheckpoint(dir, { log: quiet });
    const lora = injectLora(m.module, { target_modules: ['embed_tokens', 'q_proj'], r: 2, lora_alpha: 4 });
    perturbAdapters(m.module, 50);
    const out = saveAdapter(lora, tempDir('lora-llama-table-out'));
    const weights = path.join(out, 'adapter_model.safetensors');
    const key = 'base_model.model.model.embed_tokens.base_layer.weight';
    const base = m.module.getParameter('model.embed_tokens.base_layer.weight').variable;
    // As PEFT writes it: the adapter's tensors plus the whole table (here a changed one, to see it is read).
    const table = tf.add(base, 0.5);
    const saved = loadSafetensors(weights).tensors;
    saveSafetensors(weights, new Map([...saved, [key, table]]), { format: 'pt' });
    const x = ids([[3, 1, 4, 1]]);
    const fresh = await loadHfCheckpoint(dir, { log: quiet });
    loadAdapter(fresh.module, out);
    expect(maxAbsDiff(fresh.module.getParameter('model.embed_tokens.base_layer.weight').variable, table)).toBe(0);
    base.assign(table);
    expect(maxAbsDiff(fresh.module.forward(x) as tf.Tensor, m.module.forward(x) as tf.Tensor)).toBeLessThan(1e-5);
    // A table of another vocabulary size does not fit: refused naming the key, the model untouched.
    saveSafetensors(weights, new Map([...saved, [key, tf.zeros([7, base.shape[1]])]]), { format: 'pt' });
    const other = await loadHfCheckpoint(dir, { log: quiet });
    const before = snapshot(other.module);
    expect(() => loadAdapter(other.module, out)).toThrow(new RegExp(`${key.replace(/\./g, '\\.')}`));
    expect(snapshot(other.module)).toEqual(before);
  });

  describe('MobileNetV2 convolutions', () => {
    const image = () => tf.mul(tf.add(randn([1, 32, 32, 3], 9), 1), 0.5);
    // eval(): the head's dropout off, batch norm on its running statistics.
    const make = () => createMobileNetV2({ name: 'mobilenet-v2', inputSize: 32, labels: ['a', 'b'] }).module.eval();

    it('names its convolutions; LoRA on the 3×3 stem and the 1×1 expand/project convs: PEFT\'s shapes, merge = unmerged, save → load', () => {
      const model = make();
      const stem = 'features.0.conv';
      const x = image();
      const before = model.forward(x) as tf.Tensor;
      // MobileNetV2's module names: features.<i>.{conv | expand.conv | depthwise.conv | project.conv}.
      const lora = injectLora(model, { target_modules: 'features\\.[0-3]\\.(conv|expand\\.conv|project\\.conv)', r: 2, lora_alpha: 4 });
      expect(lora.layers().map(([p, l]) => [p, l.constructor.name, (l.baseLayer as Conv2d).kernelSize, (l.baseLayer as Conv2d).stride])).toEqual([
        ['features.0.conv', 'LoraConv2d', [3, 3], 2],
        ['features.1.project.conv', 'LoraConv2d', [1, 1], 1],
        ['features.2.expand.conv', 'LoraConv2d', [1, 1], 1],
        ['features.2.project.conv', 'LoraConv2d', [1, 1], 1],
        ['features.3.expand.conv', 'LoraConv2d', [1, 1], 1],
        ['features.3.project.conv', 'LoraConv2d', [1, 1], 1],
      ]);
      // B = 0: the adapters add nothing (up to the base conv's filter cache: same sums, other order).
      expect(maxAbsDiff(model.forward(x) as tf.Tensor, before)).toBeLessThan(1e-6);
      const stemLayer = model.getSubmodule(stem) as LoraConv2d;
      expect(stemLayer).toBeInstanceOf(LoraConv2d);
      const c = stemLayer.baseLayer;
      // lora_A: the base's kernel, stride and padding, r outputs; lora_B: 1×1, r inputs.
      const la = stemLayer.getSubmodule('lora_A.default') as Conv2d;
      expect([la.kernelSize, la.stride, la.padding, la.getParameter('weight').shape]).toEqual([c.kernelSize, c.stride, c.padding, [2, c.inChannels, ...c.kernelSize]]);
      expect(stemLayer.getParameter('lora_B.default.weight').shape).toEqual([c.outChannels, 2, 1, 1]);
      perturbAdapters(model, 30);
      const unmerged = model.forward(x) as tf.Tensor;
      expect(maxAbsDiff(unmerged, before)).toBeGreaterThan(1e-4);
      lora.merge();
      expect(maxAbsDiff(model.forward(x) as tf.Tensor, unmerged)).toBeLessThan(1e-4);
      lora.unmerge();
      expect(maxAbsDiff(model.forward(x) as tf.Tensor, unmerged)).toBeLessThan(1e-4);

      const out = saveAdapter(lora, tempDir('lora-mnv2'));
      const header = readSafetensorsHeader(path.join(out, 'adapter_model.safetensors'));
      expect(header.tensors.get(`base_model.model.${stem}.lora_A.weight`)?.shape).toEqual([2, c.inChannels, ...c.kernelSize]);
      expect(header.tensors.get(`base_model.model.${stem}.lora_B.weight`)?.shape).toEqual([c.outChannels, 2, 1, 1]);
      const fresh = make();
      // Same backbone (nsfwjs's weights); the 2-label classifier is freshly drawn: copy it.
      for (const [p, param] of fresh.namedParameters()) if (p.startsWith('classifier.')) param.variable.assign(model.getParameter(p).variable);
      loadAdapter(fresh, out);
      expect(maxAbsDiff(fresh.forward(x) as tf.Tensor, unmerged)).toBeLessThan(1e-4);
      const merged = lora.mergeAndUnload();
      expect(merged.getSubmodule(stem)).toBeInstanceOf(Conv2d);
      expect(maxAbsDiff(merged.forward(x) as tf.Tensor, unmerged)).toBeLessThan(1e-4);
    });

    it('refuses depthwise convolutions, DoRA and PiSSA on Conv2d, naming the layer; the model is untouched', () => {
      const model = make();
      const depthwise = 'features.1.depthwise.conv';
      expect((model.getSubmodule(depthwise) as Conv2d).depthwise).toBe(true);
      const before = snapshot(model);
      expect(() => injectLora(model, { target_modules: [depthwise], r: 2 })).toThrow(/"features\.1\.depthwise\.conv": LoRA on a Conv2d with groups=32 \(depthwise\) is not supported: PEFT accepts it only when r is a multiple of groups and cannot merge it/);
      expect(() => injectLora(model, { target_modules: '.*expand\\.conv', use_dora: true })).toThrow(/\(Conv2d\): use_dora is supported on Linear\/Conv1D layers only here/);
      expect(() => injectLora(model, { target_modules: '.*expand\\.conv', init_lora_weights: 'pissa' })).toThrow(/\(Conv2d\): init_lora_weights "pissa" is supported on Linear\/Conv1D layers only/);
      expect(snapshot(model)).toEqual(before);
    });
  });
});
