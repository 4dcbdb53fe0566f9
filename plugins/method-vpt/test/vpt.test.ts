/**
 * VPT on Hub-layout tiny ViT and CLIP checkpoints: where the prompts go (after [CLS], at the
 * input and at each layer's entry), deep equals shallow when each layer's prompts are what the
 * previous layer made at those positions, the PEFT-style folder reloads to the same outputs,
 * and through a run only the prompts (and a head made trainable) train.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createToolkit, type Batch, type LoadedModel } from '@leantune/core';
import { loadSafetensors, tf, variableGradients, type Module } from '@leantune/tensor';
import hfPlugin, { loadHfCheckpoint, writeTinyHfCheckpoint } from '@leantune/plugin-hf';
import { quietLog } from '@leantune/testing';
import { createTrainDriver } from '@leantune/train';
import vptPlugin, { injectVpt, loadVpt, replacePrompts, vptInitBound, VPT_DEFAULTS, type VptConfig } from '../src';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const images = require('./fixtures/tiny-images.js');

beforeAll(() => tf.setBackend('cpu'));

const tmp = (label: string) => mkdtempSync(join(tmpdir(), `lt-vpt-${label}-`));
const config = (over: Partial<VptConfig>): VptConfig => ({ ...VPT_DEFAULTS, ...over });

async function tiny(arch: 'vit' | 'clip', layers = 2, dir = tmp(arch)): Promise<LoadedModel> {
  writeTinyHfCheckpoint(arch, dir, { layers, seed: 61 });
  return loadHfCheckpoint(dir, { log: quietLog, labels: arch === 'clip' ? ['cat', 'dog', 'bird'] : undefined });
}

function batchOf(model: LoadedModel, count = 3): Batch {
  return model.encode!(images.tinyImages(count));
}

const pixels = (b: Batch) => (b.inputs as Record<string, tf.Tensor>).pixel_values;
const values = (t: tf.Tensor) => Array.from(t.dataSync());
const sub = (m: LoadedModel, name: string, ...x: unknown[]) => (m.module.getSubmodule(name) as Module).forward(...x) as tf.Tensor;

function maxDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

describe('VPT shallow', () => {
  it('puts n prompts after [CLS], with no position embedding, and the classifier reads [CLS]', async () => {
    const m = await tiny('vit');
    const b = batchOf(m);
    const handle = injectVpt(m, config({ num_prompts: 3 }), 5);
    const table = handle.parameters.table;
    expect(table.shape).toEqual([3, 8]);
    // By hand from the model's own parts: [CLS] + pos, the prompts as they are, the patches + pos.
    const h = sub(m, 'vit.embeddings', pixels(b));
    const joined = tf.concat([tf.slice(h, [0, 0, 0], [-1, 1, -1]), tf.tile(tf.expandDims(table, 0), [3, 1, 1]), tf.slice(h, [0, 1, 0], [-1, -1, -1])], 1);
    const cls = tf.squeeze(tf.slice(sub(m, 'vit.layernorm', sub(m, 'vit.encoder', joined)), [0, 0, 0], [-1, 1, -1]), [1]);
    const expected = sub(m, 'classifier', cls);
    const shapes: number[][] = [];
    m.points!.hiddenStates!.tapLayerOutput(1, (out) => void shapes.push(out.shape));
    m.module.eval();
    expect(values(m.module.forward(pixels(b)) as tf.Tensor)).toEqual(values(expected));
    // [batch, [CLS] + 3 prompts + 4 patches, hidden]
    expect(shapes).toEqual([[3, 1 + 3 + 4, 8]]);
  });

  it('initialises uniform in ±sqrt(6 / (3 · patch area + dim)), as the paper and its code do', async () => {
    const m = await tiny('vit');
    const handle = injectVpt(m, config({ num_prompts: 50 }), 9);
    // The tiny ViT: patch 4, 3 channels, hidden 8.
    const bound = Math.sqrt(6 / (3 * 4 * 4 + 8));
    expect(vptInitBound(8, m.points!.inputEmbeddings!.patchFanIn, 50)).toBeCloseTo(bound, 12);
    const v = values(handle.parameters.table);
    expect(Math.max(...v.map(Math.abs))).toBeLessThanOrEqual(bound);
    // 400 draws from U(−b, b): the largest is near b, the mean near 0.
    expect(Math.max(...v.map(Math.abs))).toBeGreaterThan(0.95 * bound);
    expect(Math.abs(v.reduce((a, x) => a + x, 0) / v.length)).toBeLessThan(0.05);
  });

  it('drops prompt values only while training', async () => {
    const m = await tiny('vit');
    const handle = injectVpt(m, config({ num_prompts: 20, dropout: 0.5 }), 3);
    const eval1 = handle.parameters.prompts(0, false);
    expect(values(eval1)).toEqual(values(handle.parameters.table));
    const trained = values(handle.parameters.prompts(0, true));
    const zeros = trained.filter((x) => x === 0).length;
    expect(zeros).toBeGreaterThan(40);
    expect(zeros).toBeLessThan(120);
  });

  it('on CLIP, prompts join the vision tower after [CLS] (before pre_layrnorm) and change the zero-shot logits', async () => {
    const m = await tiny('clip');
    const b = batchOf(m);
    m.module.eval();
    const base = m.predict!(b);
    const handle = injectVpt(m, config({ num_prompts: 2, mode: 'deep' }), 4);
    expect(handle.parameters.table.shape).toEqual([2 * 2, 8]);
    const seen: number[][] = [];
    m.points!.hiddenStates!.atLayerEntry(1, (h) => (seen.push(values(tf.slice(h, [0, 1, 0], [1, 2, -1]))), h));
    const withPrompts = m.predict!(b);
    expect(maxDiff(base, withPrompts)).toBeGreaterThan(1e-4);
    // Layer 1 reads its own prompts (rows 2–3 of the table), not what layer 0 made there.
    expect(seen[0]).toEqual(values(tf.slice(handle.parameters.table, [2, 0], [2, -1])));
    handle.unload!();
    expect(values(m.predict!(b))).toEqual(values(base));
  });
});

describe('VPT deep', () => {
  it('each layer reads fresh prompts at positions 1…n; the patches and [CLS] pass through', async () => {
    const m = await tiny('vit', 3);
    const handle = injectVpt(m, config({ num_prompts: 2, mode: 'deep' }), 6);
    const table = handle.parameters.table;
    expect(table.shape).toEqual([3 * 2, 8]);
    const hs = m.points!.hiddenStates!;
    const atEntry: Record<number, tf.Tensor> = {};
    const outputs: Record<number, tf.Tensor> = {};
    for (const layer of [1, 2]) hs.atLayerEntry(layer, (h, i) => ((atEntry[i] = tf.keep(tf.clone(h))), h));
    for (const layer of [0, 1]) hs.tapLayerOutput(layer, (out, i) => void (outputs[i] = tf.keep(tf.clone(out))));
    const b = batchOf(m, 2);
    m.module.eval();
    m.module.forward(pixels(b));
    for (const layer of [1, 2]) {
      const h = atEntry[layer];
      expect(h.shape).toEqual([2, 1 + 2 + 4, 8]);
      // Prompt positions hold layer i's own rows for every image…
      for (const row of [0, 1]) expect(values(tf.slice(h, [row, 1, 0], [1, 2, -1]))).toEqual(values(tf.slice(table, [layer * 2, 0], [2, -1])));
      // …[CLS] and the patches are the previous layer's output.
      const prev = outputs[layer - 1];
      expect(values(tf.slice(h, [0, 0, 0], [-1, 1, -1]))).toEqual(values(tf.slice(prev, [0, 0, 0], [-1, 1, -1])));
      expect(values(tf.slice(h, [0, 3, 0], [-1, -1, -1]))).toEqual(values(tf.slice(prev, [0, 3, 0], [-1, -1, -1])));
    }
  });

  it('with each layer\'s prompts equal to what the previous layer made at those positions, equals shallow exactly', async () => {
    const dir = tmp('deep-eq');
    const shallow = await tiny('vit', 3, dir);
    const deep = await loadHfCheckpoint(dir, { log: quietLog });
    const n = 3;
    const s = injectVpt(shallow, config({ num_prompts: n }), 21);
    // One image at a time: the prompts' outputs depend on the image they attend to.
    for (const record of images.tinyImages(3)) {
      const b = shallow.encode!([record]);
      const made: tf.Tensor[] = [];
      const hs = shallow.points!.hiddenStates!;
      const offs = [0, 1].map((layer) => hs.tapLayerOutput(layer, (out) => void made.push(tf.keep(tf.squeeze(tf.slice(out, [0, 1, 0], [1, n, -1]), [0])))));
      shallow.module.eval();
      const expected = shallow.module.forward(pixels(b)) as tf.Tensor;
      offs.forEach((off) => off());
      const d = injectVpt(deep, config({ num_prompts: n, mode: 'deep' }), 99);
      d.parameters.table.assign(tf.concat([s.parameters.table, ...made], 0));
      deep.module.eval();
      const got = deep.module.forward(pixels(deep.encode!([record]))) as tf.Tensor;
      expect(values(got)).toEqual(values(expected));
      // And different prompts at layer 1 give a different output (the replacement is live; a
      // constant shift would not do: layernorm_before removes it on the way to the keys).
      d.parameters.table.assign(tf.concat([s.parameters.table, tf.add(made[0], tf.randomNormal(made[0].shape, 0, 1, 'float32', 2)), made[1]], 0));
      expect(maxDiff(deep.module.forward(pixels(deep.encode!([record]))) as tf.Tensor, expected)).toBeGreaterThan(1e-4);
      d.unload!();
    }
  });

  it('replacePrompts keeps the shape and refuses a sequence too short for the prompts', () => {
    const h = tf.zeros([2, 5, 4]);
    const p = tf.ones([3, 4]);
    const out = replacePrompts(h, p, 1);
    expect(out.shape).toEqual([2, 5, 4]);
    expect(values(tf.sum(out, [0, 2]))).toEqual([0, 8, 8, 8, 0]);
    expect(() => replacePrompts(h, tf.ones([5, 4]), 1)).toThrow(/fewer than the 1 before the prompts and the 5 prompts/);
  });
});

describe('VPT files', () => {
  it.each(['shallow', 'deep'] as const)('%s: save → load into a fresh model reproduces the outputs; the folder is PEFT-shaped', async (mode) => {
    const dir = tmp(`files-${mode}`);
    const m = await tiny('vit', 2, dir);
    const handle = injectVpt(m, config({ num_prompts: 4, mode, dropout: 0.1 }), 8);
    handle.parameters.table.assign(tf.randomNormal(handle.parameters.table.shape, 0, 1, 'float32', 3));
    const b = batchOf(m);
    const expected = m.predict!(b);
    const out = tmp(`adapter-${mode}`);
    handle.save!(out);
    const json = JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8'));
    expect(json).toMatchObject({ peft_type: 'VPT', num_virtual_tokens: 4, token_dim: 8, num_layers: 2, num_transformer_submodules: 1, mode, num_prompt_layers: mode === 'deep' ? 2 : 1, prompt_dropout: 0.1, prompt_init: 'xavier_uniform', patch_fan_in: 48, placement: 'after-cls' });
    const { tensors } = loadSafetensors(join(out, 'adapter_model.safetensors'));
    expect([...tensors.keys()]).toEqual(['prompt_embeddings']);
    expect(tensors.get('prompt_embeddings')!.shape).toEqual([mode === 'deep' ? 8 : 4, 8]);
    const fresh = await loadHfCheckpoint(dir, { log: quietLog });
    expect(maxDiff(fresh.predict!(fresh.encode!(images.tinyImages(3))), expected)).toBeGreaterThan(1e-4);
    const loaded = loadVpt(fresh, out);
    expect(loaded.config).toEqual({ ...VPT_DEFAULTS, mode, num_prompts: 4, dropout: 0.1 });
    expect(values(fresh.predict!(fresh.encode!(images.tinyImages(3))))).toEqual(values(expected));
  });

  it('refuses a folder of another peft_type, one made for a model of another depth, and a missing folder', async () => {
    const dir = tmp('refuse');
    const m = await tiny('vit', 2, dir);
    const out = tmp('refuse-out');
    injectVpt(m, config({ num_prompts: 2, mode: 'deep' }), 1).save!(out);
    const deeper = await tiny('vit', 3);
    expect(() => loadVpt(deeper, out)).toThrow(/num_prompt_layers 2, the model has 3 layers/);
    // Nothing was attached by the refused load.
    expect(deeper.module.child('vpt_prompts')).toBeUndefined();
    const json = JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8'));
    writeFileSync(join(out, 'adapter_config.json'), JSON.stringify({ ...json, peft_type: 'PROMPT_TUNING' }));
    const other = await tiny('vit');
    expect(() => loadVpt(other, out)).toThrow(/peft_type "PROMPT_TUNING" is not supported; @leantune\/plugin-vpt loads "VPT" adapters/);
    expect(() => loadVpt(m, tmp('empty'))).toThrow(/adapter_config\.json does not exist/);
  });
});

describe('VPT in a run', () => {
  async function runModel(extra: Record<string, unknown>) {
    const dir = tmp('run');
    writeTinyHfCheckpoint('vit', dir, { layers: 2, seed: 61 });
    const toolkit = await createToolkit({ plugins: [hfPlugin, vptPlugin, images], log: quietLog, trainer: createTrainDriver() });
    const run = toolkit.createRun({
      name: 'vpt',
      model: { name: 'hf', path: dir },
      methods: { vpt: { num_prompts: 2, mode: 'deep' } },
      data: { name: 'tiny-images' },
      train: { epochs: 1, batchSize: 8, learningRate: 0.05 },
      runtime: { backend: 'cpu', seed: 1 },
      ...extra,
    });
    return run.loadModel();
  }

  it('trains the prompts only; the base and the head stay frozen, and gradients reach the prompts of every layer', async () => {
    const model = await runModel({});
    expect([...model.module.trainableVariables().keys()]).toEqual(['vpt_prompts.prompt_embeddings']);
    const table = model.module.getParameter('vpt_prompts.prompt_embeddings').variable;
    const { grads } = variableGradients(() => model.loss!(model.encode!(images.tinyImages(6)), true), [table]);
    const g = grads[table.name];
    // Rows 0–1 (input) and 2–3 (layer 1) both get a gradient.
    for (const rows of [[0, 2], [2, 2]]) expect(tf.tidy(() => tf.max(tf.abs(tf.slice(g, [rows[0], 0], [rows[1], -1]))).dataSync()[0])).toBeGreaterThan(1e-7);
  });

  it('with the head made trainable ("trainable": ["classifier\\\\..*"]), trains the prompts and the head', async () => {
    const model = await runModel({ trainable: ['classifier\\..*'] });
    expect([...model.module.trainableVariables().keys()].sort()).toEqual(['classifier.bias', 'classifier.weight', 'vpt_prompts.prompt_embeddings']);
  });
});
