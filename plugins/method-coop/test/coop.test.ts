/**
 * CoOp through the method on a Hub-layout tiny CLIP: a context initialised from "a photo of
 * a" is the hand-written prompt exactly (class features and predictions), class-specific
 * contexts are per class, the class name goes at the end, middle or front, the PEFT-style
 * folder reloads to the same outputs, and a frozen context trains nothing.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Batch, LoadedModel } from '@leantune/core';
import { loadHfCheckpoint, writeTinyHfCheckpoint } from '@leantune/plugin-hf';
import { quietLog } from '@leantune/testing';
import { loadSafetensors, tf, variableGradients } from '@leantune/tensor';
import { COOP_DEFAULTS, injectCoop, loadCoop, textTokenIds, type CoopConfig } from '../src';

beforeAll(() => tf.setBackend('cpu'));

const LABELS = ['cat', 'dog', 'bird'];
const tmp = (label: string) => mkdtempSync(join(tmpdir(), `lt-coop-${label}-`));
const config = (over: Partial<CoopConfig>): CoopConfig => ({ ...COOP_DEFAULTS, ...over });
const values = (t: tf.Tensor) => Array.from(t.dataSync());
const maxDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);

let checkpoint = '';
async function clip(promptTemplate?: string): Promise<LoadedModel> {
  if (!checkpoint) {
    checkpoint = tmp('clip');
    writeTinyHfCheckpoint('clip', checkpoint, { layers: 2, seed: 61 });
  }
  return loadHfCheckpoint(checkpoint, { log: quietLog, labels: LABELS, promptTemplate });
}

function image(seed: number) {
  return { width: 8, height: 8, data: new Uint8Array(8 * 8 * 3).map((_, i) => (i * 37 + seed * 101) % 256) };
}
function batchOf(m: LoadedModel): Batch {
  return m.encode!([0, 1, 2, 3].map((k) => ({ id: `i${k}`, image: image(k), label: LABELS[k % 3], meta: { source: 't', row: k } })));
}

describe('CoOp', () => {
  it('a context initialised from "a photo of a" gives exactly the hand-written prompt\'s class features and predictions', async () => {
    const m = await clip();
    const b = batchOf(m);
    m.module.eval();
    const zeroShot = m.predict!(b);
    const handle = injectCoop(m, config({ ctx_init: 'a photo of a' }), 1);
    // n_ctx comes from the phrase: 4 tokens.
    expect(handle.config.n_ctx).toBe(4);
    expect(handle.parameters.ctx.shape).toEqual([4, 8]);
    const point = m.points!.textTokenEmbeddings!;
    const viaMethod = point.encodeWithContext(LABELS, handle.parameters.ctx, { classPosition: handle.config.class_token_position });
    const handWritten = point.encodeTexts(LABELS.map((c) => `a photo of a ${c}.`));
    expect(maxDiff(viaMethod, handWritten)).toBeLessThanOrEqual(1e-6);
    // The model's own predict now goes through the context, and gives the zero-shot predictions.
    expect(maxDiff(m.predict!(b), zeroShot)).toBeLessThanOrEqual(1e-6);
    handle.parameters.ctx.assign(tf.add(handle.parameters.ctx, tf.randomNormal([4, 8], 0, 0.5, 'float32', 3)));
    expect(maxDiff(m.predict!(b), zeroShot)).toBeGreaterThan(1e-4);
    handle.unload!();
    expect(values(m.predict!(b))).toEqual(values(zeroShot));
  });

  it('random init is N(0, 0.02) with n_ctx vectors, and the loss reaches the context through the frozen towers', async () => {
    const m = await clip();
    // The tiny CLIP's text tower takes 16 positions: 8 context vectors leave room for the names.
    const handle = injectCoop(m, config({ n_ctx: 8 }), 5);
    const v = values(handle.parameters.ctx);
    expect(handle.parameters.ctx.shape).toEqual([8, 8]);
    const mean = v.reduce((a, x) => a + x, 0) / v.length;
    const std = Math.sqrt(v.reduce((a, x) => a + (x - mean) ** 2, 0) / v.length);
    expect(std).toBeGreaterThan(0.015);
    expect(std).toBeLessThan(0.025);
    m.module.freeze();
    handle.parameters.unfreeze();
    const { grads } = variableGradients(() => m.loss!(batchOf(m), true), [handle.parameters.ctx]);
    expect(tf.tidy(() => tf.min(tf.max(tf.abs(grads[handle.parameters.ctx.name]), 1)).dataSync()[0])).toBeGreaterThan(1e-9);
  });

  it('csc: one context per class; class c\'s features depend on its own context only', async () => {
    const m = await clip();
    const handle = injectCoop(m, config({ ctx_init: 'a photo of a', csc: true }), 1);
    const ctx = handle.parameters.ctx;
    expect(ctx.shape).toEqual([3, 4, 8]);
    const point = m.points!.textTokenEmbeddings!;
    const before = point.encodeWithContext(LABELS, ctx);
    // Change the dog's context only (by noise: a constant shift would vanish in the layer norms).
    const noise = tf.randomNormal([1, 4, 8], 0, 0.5, 'float32', 4);
    ctx.assign(tf.concat([tf.slice(ctx, [0, 0, 0], [1, -1, -1]), tf.add(tf.slice(ctx, [1, 0, 0], [1, -1, -1]), noise), tf.slice(ctx, [2, 0, 0], [1, -1, -1])], 0));
    const after = point.encodeWithContext(LABELS, ctx);
    const rows = (t: tf.Tensor) => t.arraySync() as number[][];
    expect(rows(after)[0]).toEqual(rows(before)[0]);
    expect(rows(after)[2]).toEqual(rows(before)[2]);
    expect(Math.max(...rows(after)[1].map((x, i) => Math.abs(x - rows(before)[1][i])))).toBeGreaterThan(1e-4);
    // The model's loss reaches every class's context.
    const { grads } = variableGradients(() => m.loss!(batchOf(m), true), [ctx]);
    const perClass = tf.max(tf.abs(grads[ctx.name]), [1, 2]).arraySync() as number[];
    for (const g of perClass) expect(g).toBeGreaterThan(1e-9);
  });

  // Each position against the same prompt written as a template: the tokens must match one
  // for one. On the tiny byte-level BPE a word's token carries its leading space, so the
  // context phrase and the templates start with a space (CLIP's own BPE marks word ends).
  it.each([
    ['end', ' a photo of a {}.'],
    ['middle', ' a photo {} of a.'],
    ['front', ' {} a photo of a.'],
  ] as const)('class_token_position %s: the prompt is the template "%s" token for token', async (position, template) => {
    const written = await clip(template);
    const b = batchOf(written);
    written.module.eval();
    const expected = written.predict!(b);
    const m = await clip();
    expect(textTokenIds(m, ' a photo of a')).toHaveLength(4);
    injectCoop(m, config({ ctx_init: ' a photo of a', class_token_position: position }), 1);
    m.module.eval();
    expect(maxDiff(m.predict!(batchOf(m)), expected)).toBeLessThanOrEqual(1e-6);
  });

  it('frozen: the hand-written prompt through the same code, and nothing trains', async () => {
    const m = await clip();
    const b = batchOf(m);
    m.module.eval();
    const zeroShot = m.predict!(b);
    const handle = injectCoop(m, config({ ctx_init: 'a photo of a', frozen: true }), 1);
    expect([...m.module.namedParameters()].filter(([p, param]) => handle.trains(p, param))).toEqual([]);
    expect(handle.parameters.ctx.trainable === false || !handle.parameters.getParameter('ctx').requiresGrad).toBe(true);
    expect(maxDiff(m.predict!(b), zeroShot)).toBeLessThanOrEqual(1e-6);
  });

  it.each([false, true])('save → load into a fresh model reproduces the outputs (csc %s); the folder is PEFT-shaped', async (csc) => {
    const m = await clip();
    const handle = injectCoop(m, config({ n_ctx: 3, csc, class_token_position: 'middle' }), 7);
    handle.parameters.ctx.assign(tf.randomNormal(handle.parameters.ctx.shape, 0, 0.5, 'float32', 9));
    const expected = m.predict!(batchOf(m));
    const out = tmp('adapter');
    handle.save!(out);
    const json = JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8'));
    expect(json).toMatchObject({ peft_type: 'COOP', num_virtual_tokens: 3, token_dim: 8, num_transformer_submodules: 1, n_ctx: 3, ctx_init: null, csc, class_token_position: 'middle', frozen: false, class_names: LABELS });
    const { tensors } = loadSafetensors(join(out, 'adapter_model.safetensors'));
    expect([...tensors.keys()]).toEqual(['prompt_embeddings']);
    expect(tensors.get('prompt_embeddings')!.shape).toEqual([csc ? 9 : 3, 8]);
    const fresh = await clip();
    expect(maxDiff(fresh.predict!(batchOf(fresh)), expected)).toBeGreaterThan(1e-4);
    const loaded = loadCoop(fresh, out);
    expect(loaded.config).toEqual({ ...COOP_DEFAULTS, n_ctx: 3, csc, class_token_position: 'middle' });
    expect(values(fresh.predict!(batchOf(fresh)))).toEqual(values(expected));
  });

  it('refuses class-specific contexts for other classes, and a model without the text point', async () => {
    const m = await clip();
    const out = tmp('refuse');
    injectCoop(m, config({ n_ctx: 2, csc: true }), 1).save!(out);
    const other = await loadHfCheckpoint(checkpoint, { log: quietLog, labels: ['dog', 'cat', 'bird'] });
    expect(() => loadCoop(other, out)).toThrow(/class-specific contexts are for classes \["cat","dog","bird"\], the model's labels are \["dog","cat","bird"\]/);
    expect(other.module.child('coop_prompt')).toBeUndefined();
    const vit = tmp('vit');
    writeTinyHfCheckpoint('vit', vit, { layers: 1 });
    const vitModel = await loadHfCheckpoint(vit, { log: quietLog });
    expect(() => injectCoop(vitModel, config({}), 1)).toThrow(/Method "coop" needs "textTokenEmbeddings"/);
  });
});
