/**
 * ViT and CLIP's vision tower place virtual tokens after [CLS], once the position embeddings
 * are added (VPT), and pool [CLS]; a layer-entry function sees them at offset 1 (VPT-deep).
 * CLIP's textTokenEmbeddings builds CoOp's prompts [SOS][ctx…][name][.][EOS].
 */
import { tf, variableGradients, type Module } from '@leantune/tensor';
import { loadHfCheckpoint, writeTinyHfCheckpoint, type HfLoadedModel } from '../src';
import { expectClose, record, recordingLogger, tempDir, testImage } from './helpers';

const IMAGES = [testImage(1), testImage(2)];

async function load(arch: 'vit' | 'clip', labels?: string[]): Promise<HfLoadedModel> {
  const dir = tempDir(`vision-${arch}`);
  writeTinyHfCheckpoint(arch, dir, { layers: 2, seed: 61 });
  return loadHfCheckpoint(dir, { log: recordingLogger(), labels });
}

const sub = (m: HfLoadedModel, name: string, ...x: unknown[]) => (m.module.getSubmodule(name) as Module).forward(...x) as tf.Tensor;
const first = (h: tf.Tensor) => tf.squeeze(tf.slice(h, [0, 0, 0], [-1, 1, -1]), [1]);
const afterCls = (h: tf.Tensor, p: tf.Tensor) => tf.concat([tf.slice(h, [0, 0, 0], [-1, 1, -1]), tf.tile(tf.expandDims(p, 0), [h.shape[0]!, 1, 1]), tf.slice(h, [0, 1, 0], [-1, -1, -1])], 1);

test('ViT: the prompt goes after [CLS] with no position embedding; the classifier reads [CLS]', async () => {
  const m = await load('vit');
  const e = m.points!.inputEmbeddings!;
  expect([e.placement, e.offset, e.vocabulary]).toEqual(['after-cls', 1, undefined]);
  // 3 channels × 4² pixels per patch (VPT's Xavier fan).
  expect(e.patchFanIn).toBe(48);
  const pixels = (m.encode!(IMAGES.map((image, k) => record(`i${k}`, { image, label: 'cat' }))).inputs as Record<string, tf.Tensor>).pixel_values;
  const prompt = tf.randomNormal([3, e.dim], 0, 1, 'float32', 7);
  // By hand, from the model's own parts, before anything is registered.
  const h = afterCls(sub(m, 'vit.embeddings', pixels), prompt);
  const expected = sub(m, 'classifier', first(sub(m, 'vit.layernorm', sub(m, 'vit.encoder', h))));
  const base = m.module.forward(pixels) as tf.Tensor;
  const off = e.addVirtualTokens(() => prompt);
  const got = m.module.forward(pixels) as tf.Tensor;
  expect(Array.from(got.dataSync())).toEqual(Array.from(expected.dataSync()));
  expect(Math.max(...Array.from(tf.abs(tf.sub(got, base)).dataSync()))).toBeGreaterThan(1e-4);
  off();
  expect(Array.from((m.module.forward(pixels) as tf.Tensor).dataSync())).toEqual(Array.from(base.dataSync()));
});

test('ViT VPT-deep: replacing the prompt positions at layer 0 entry equals a shallow prompt of the new values; gradients reach the deep prompt', async () => {
  const m = await load('vit');
  const e = m.points!.inputEmbeddings!;
  const hs = m.points!.hiddenStates!;
  expect(hs.entryDims).toEqual([e.dim, e.dim]);
  const pixels = (m.encode!(IMAGES.map((image, k) => record(`i${k}`, { image, label: 'cat' }))).inputs as Record<string, tf.Tensor>).pixel_values;
  const shallow = tf.variable(tf.randomNormal([2, e.dim], 0, 1, 'float32', 8), true, 'vpt_shallow');
  const deep = tf.variable(tf.randomNormal([2, e.dim], 0, 1, 'float32', 9), true, 'vpt_deep');
  const offA = e.addVirtualTokens(() => deep);
  const expected = Array.from((m.module.forward(pixels) as tf.Tensor).dataSync());
  offA();
  e.addVirtualTokens(() => shallow);
  const shapes: number[][] = [];
  const replace = (h: tf.Tensor) => {
    shapes.push(h.shape);
    const b = h.shape[0]!;
    return tf.concat([tf.slice(h, [0, 0, 0], [-1, e.offset, -1]), tf.tile(tf.expandDims(deep, 0), [b, 1, 1]), tf.slice(h, [0, e.offset + 2, 0], [-1, -1, -1])], 1);
  };
  hs.atLayerEntry(0, replace);
  const taps: number[][] = [];
  hs.tapLayerOutput(1, (out) => void taps.push(out.shape));
  expect(Array.from((m.module.forward(pixels) as tf.Tensor).dataSync())).toEqual(expected);
  expect(shapes[0]).toEqual([2, 1 + 2 + 4, e.dim]);
  expect(taps[0]).toEqual([2, 1 + 2 + 4, e.dim]);
  // A replacement at layer 1 makes the deep prompt of that layer trainable too.
  hs.atLayerEntry(1, replace);
  m.module.freeze();
  const batch = m.encode!(IMAGES.map((image, k) => record(`i${k}`, { image, label: k ? 'dog' : 'cat' })));
  const { grads } = variableGradients(() => m.loss!(batch, true), [deep, shallow]);
  expect(Math.max(...Array.from(tf.abs(grads.vpt_deep).dataSync()))).toBeGreaterThan(1e-6);
  // The shallow prompt is overwritten at layer 0 entry before any layer reads it.
  expect(grads.vpt_shallow === undefined || Math.max(...Array.from(tf.abs(grads.vpt_shallow).dataSync())) === 0).toBe(true);
  expect(() => hs.atLayerEntry(0, (h) => tf.slice(h, [0, 0, 0], [-1, 2, -1]))).not.toThrow();
  expect(() => m.module.forward(pixels)).toThrow(/layer-entry function of layer 0 must return a tensor of the shape it got/);
});

test('CLIP vision: the prompt after [CLS] goes through pre_layrnorm; image features by hand match', async () => {
  const m = await load('clip', ['cat', 'dog']);
  const e = m.points!.inputEmbeddings!;
  expect([e.where, e.placement, e.patchFanIn]).toEqual(['vision_model.embeddings', 'after-cls', 48]);
  const meta = m.meta as { imageFeatures(i: unknown[]): tf.Tensor };
  const pixels = (m.encode!(IMAGES.map((image, k) => record(`i${k}`, { image, label: 'cat' }))).inputs as Record<string, tf.Tensor>).pixel_values;
  const prompt = tf.randomNormal([2, e.dim], 0, 1, 'float32', 11);
  const h = sub(m, 'vision_model.encoder', sub(m, 'vision_model.pre_layrnorm', afterCls(sub(m, 'vision_model.embeddings', pixels), prompt)));
  const expected = sub(m, 'visual_projection', sub(m, 'vision_model.post_layernorm', first(h)));
  e.addVirtualTokens(() => prompt);
  expect(Array.from(meta.imageFeatures(IMAGES).dataSync())).toEqual(Array.from(expected.dataSync()));
});

test('CLIP CoOp: context vectors equal to the embeddings of "a photo of a" give the features of "a photo of a <name>."; class-specific context; label context drives predict', async () => {
  const m = await load('clip', ['cat', 'dog']);
  const t = m.points!.textTokenEmbeddings!;
  const tok = m.points!.tokenizer!;
  const empty = tok.encode('');
  const words = tok.encode('a photo of a').slice(1, -1); // without SOS/EOS
  expect(empty).toHaveLength(2);
  const ctx = t.vocabulary.embed(words);
  const names = ['cat', 'dog', 'bird'];
  const viaContext = t.encodeWithContext(names, ctx);
  const viaText = t.encodeTexts(names.map((n) => `a photo of a ${n}.`));
  expectClose(Array.from(viaContext.dataSync()), Array.from(viaText.dataSync()), 1e-6);
  // Class-specific: row c uses context c (here: the first class's words for all but the last).
  const other = t.vocabulary.embed(tok.encode('the good film day').slice(1, -1).slice(0, words.length));
  const specific = t.encodeWithContext(names, tf.stack([ctx, ctx, other]));
  expectClose(Array.from(specific.dataSync()).slice(0, 8), Array.from(viaText.dataSync()).slice(0, 8), 1e-6);
  expect(Math.max(...Array.from(tf.abs(tf.sub(specific, viaText)).dataSync()).slice(8))).toBeGreaterThan(1e-4);
  // Gradients reach the context through the frozen text tower.
  m.module.freeze();
  const learn = tf.variable(ctx, true, 'coop_ctx');
  const { grads } = variableGradients(() => tf.sum(tf.square(t.encodeWithContext(names, learn))) as tf.Scalar, [learn]);
  expect(Math.max(...Array.from(tf.abs(grads.coop_ctx).dataSync()))).toBeGreaterThan(1e-6);
  // The model's own predict uses a label context once set (its template is "a photo of a {}.").
  const batch = m.encode!(IMAGES.map((image, k) => record(`i${k}`, { image, label: 'cat' })));
  const base = Array.from(m.predict!(batch).dataSync());
  const off = t.setLabelContext(() => other);
  const changed = Array.from(m.predict!(batch).dataSync());
  off();
  t.setLabelContext(() => ctx);
  expectClose(Array.from(m.predict!(batch).dataSync()), base, 1e-6);
  expect(Math.max(...changed.map((v, k) => Math.abs(v - base[k])))).toBeGreaterThan(1e-4);
  expect(() => t.setLabelContext(() => ctx)).toThrow(/already set/);
  expect(() => t.encodeWithContext(names, tf.zeros([2, 3]))).toThrow(/context must be \[n, \d+\] or \[3, n, \d+\]/);
});

test('CLIP CoOp class positions: the name in the middle or at the front of the context gives the features of that text written out', async () => {
  const m = await load('clip', ['cat', 'dog']);
  const t = m.points!.textTokenEmbeddings!;
  const tok = m.points!.tokenizer!;
  const ctx = t.vocabulary.embed(tok.encode('a photo of a').slice(1, -1));
  const names = ['cat', 'dog', 'bird'];
  const end = t.encodeWithContext(names, ctx, { classPosition: 'end' });
  expectClose(Array.from(end.dataSync()), Array.from(t.encodeWithContext(names, ctx).dataSync()), 0);
  // The name's tokens are those of "X X X X <name>." (CoOp's name_lens). On this byte-level
  // BPE a word's token carries its leading space (CLIP's own BPE marks word ends instead), so
  // the context here is " a photo of a", whose every word has one, and the texts written out
  // start with a space: then the tokens match one for one.
  const spaced = t.vocabulary.embed(tok.encode(' a photo of a').slice(1, -1));
  expect(spaced.shape[0]).toBe(4);
  // middle: ⌊4/2⌋ = 2 context vectors, the name, the other 2 (CoOp's half_n_ctx).
  const middle = t.encodeWithContext(names, spaced, { classPosition: 'middle' });
  expectClose(Array.from(middle.dataSync()), Array.from(t.encodeTexts(names.map((n) => ` a photo ${n} of a.`)).dataSync()), 1e-6);
  const front = t.encodeWithContext(names, spaced, { classPosition: 'front' });
  expectClose(Array.from(front.dataSync()), Array.from(t.encodeTexts(names.map((n) => ` ${n} a photo of a.`)).dataSync()), 1e-6);
  // Gradients reach the context in every position.
  m.module.freeze();
  const learn = tf.variable(ctx, true, 'coop_ctx_positions');
  for (const classPosition of ['middle', 'front'] as const) {
    const { grads } = variableGradients(() => tf.sum(tf.square(t.encodeWithContext(names, learn, { classPosition }))) as tf.Scalar, [learn]);
    expect(Math.min(...tf.max(tf.abs(grads.coop_ctx_positions), 1).arraySync() as number[])).toBeGreaterThan(1e-7);
  }
  expect(() => t.encodeWithContext(names, ctx, { classPosition: 'start' as never })).toThrow(/classPosition must be one of end, middle, front/);
});

test('CLIP label features: the model\'s predict uses the features given, and refuses them beside a label context', async () => {
  const m = await load('clip', ['cat', 'dog']);
  const t = m.points!.textTokenEmbeddings!;
  const batch = m.encode!(IMAGES.map((image, k) => record(`i${k}`, { image, label: 'cat' })));
  const base = Array.from(m.predict!(batch).dataSync());
  const same = t.encodeTexts(['a photo of a cat.', 'a photo of a dog.']);
  const off = t.setLabelFeatures(() => same);
  expectClose(Array.from(m.predict!(batch).dataSync()), base, 1e-6);
  expect(() => t.setLabelContext(() => tf.zeros([2, 8]))).toThrow(/label features are set/);
  off();
  const swapped = t.encodeTexts(['a photo of a dog.', 'a photo of a cat.']);
  t.setLabelFeatures(() => swapped);
  expectClose(Array.from(m.predict!(batch).dataSync()), [base[1], base[0], base[3], base[2]], 1e-6);
});
