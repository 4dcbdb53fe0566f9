/**
 * hard-prompt trains nothing, so it is tested directly: on a Hub-layout tiny CLIP its
 * predictions are softmax(exp(logit_scale) · cos(image, text)) computed by hand, ensembling
 * averages the normalised text features, its file reproduces it, and a run only evaluates;
 * on use-lite's embedding head (real pretrained weights) a text's scores are its cosines to
 * the ensembled class-name embeddings.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createToolkit, type Batch, type LoadedModel } from '@leantune/core';
import hfPlugin, { loadHfCheckpoint, writeTinyHfCheckpoint } from '@leantune/plugin-hf';
import { createUseLiteModel, loadPretrainedUseLite } from '@leantune/plugin-use-lite';
import { quietLog } from '@leantune/testing';
import { tf } from '@leantune/tensor';
import { createTrainDriver } from '@leantune/train';
import hardPromptPlugin, { EmbeddingZeroShot, ensembleClassEmbeddings, injectHardPrompt, loadHardPrompt } from '../src';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const images = require('../../method-vpt/test/fixtures/tiny-images.js');

beforeAll(() => tf.setBackend('cpu'));

const LABELS = ['cat', 'dog', 'bird'];
const tmp = (label: string) => mkdtempSync(join(tmpdir(), `lt-hard-prompt-${label}-`));
const maxDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
const unit = (x: tf.Tensor) => tf.div(x, tf.norm(x, 'euclidean', -1, true));

let checkpoint = '';
async function clip(): Promise<LoadedModel> {
  if (!checkpoint) {
    checkpoint = tmp('clip');
    writeTinyHfCheckpoint('clip', checkpoint, { layers: 2, seed: 61 });
  }
  return loadHfCheckpoint(checkpoint, { log: quietLog, labels: LABELS });
}

interface ClipMeta {
  imageFeatures(images: unknown[]): tf.Tensor2D;
}

/** softmax(exp(logit_scale) · cos(image, class)) by hand, from the model's own features and scale. */
function byHand(m: LoadedModel, classFeatures: tf.Tensor, records: Array<{ image: unknown }>): tf.Tensor {
  return tf.tidy(() => {
    const image = (m.meta as unknown as ClipMeta).imageFeatures(records.map((r) => r.image));
    const scale = Math.exp(m.module.getParameter('logit_scale').variable.dataSync()[0]);
    const cos = tf.matMul(unit(image), unit(classFeatures), false, true);
    return tf.softmax(tf.mul(cos, scale));
  });
}

describe('hard-prompt on CLIP', () => {
  const records = images.tinyImages(5);

  it('one template: predictions are softmax(logit_scale · cos(image, text)) by hand, and equal the model\'s own zero-shot ("a photo of a {}.")', async () => {
    const m = await clip();
    const b: Batch = m.encode!(records);
    m.module.eval();
    const zeroShot = m.predict!(b);
    const handle = injectHardPrompt(m, { templates: ['a photo of a {}.'] });
    const text = m.points!.textTokenEmbeddings!.encodeTexts(LABELS.map((c) => `a photo of a ${c}.`));
    expect(maxDiff(m.predict!(b), byHand(m, text, records))).toBeLessThanOrEqual(1e-6);
    expect(maxDiff(m.predict!(b), zeroShot)).toBeLessThanOrEqual(1e-6);
    expect(handle.trains('logit_scale', m.module.getParameter('logit_scale'))).toBe(false);
    handle.unload!();
    expect(handle.classFeatures.isDisposed).toBe(true);
  });

  it('ensembling: class features are the mean of the templates\' normalised text features; predictions follow them', async () => {
    const m = await clip();
    const templates = ['a photo of a {}.', 'a blurry photo of the {}.', 'a {} in a video game.'];
    const handle = injectHardPrompt(m, { templates });
    const point = m.points!.textTokenEmbeddings!;
    const perTemplate = templates.map((t) => unit(point.encodeTexts(LABELS.map((c) => t.replace('{}', c)))));
    const mean = tf.div(tf.addN(perTemplate), 3);
    expect(maxDiff(handle.classFeatures, mean)).toBeLessThanOrEqual(1e-6);
    // Not the mean of the raw features (the normalisation matters), nor any one template's.
    const raw = tf.div(tf.addN(templates.map((t) => point.encodeTexts(LABELS.map((c) => t.replace('{}', c))))), 3);
    expect(maxDiff(unit(handle.classFeatures), unit(raw))).toBeGreaterThan(1e-4);
    const b = m.encode!(records);
    expect(maxDiff(m.predict!(b), byHand(m, mean, records))).toBeLessThanOrEqual(1e-6);
    expect(maxDiff(m.predict!(b), byHand(m, perTemplate[0], records))).toBeGreaterThan(1e-4);
    // ensembleClassEmbeddings is the same for any embedder: here, unit rows of a fixed table.
    const table = tf.tensor2d([[3, 4], [1, 0]]);
    const e = ensembleClassEmbeddings(['a'], ['{}', 'x {}'], (texts) => (texts[0] === 'a' ? tf.slice(table, [0, 0], [1, -1]) : tf.slice(table, [1, 0], [1, -1])) as tf.Tensor2D);
    expect(Array.from(e.dataSync())).toEqual([(0.6 + 1) / 2, (0.8 + 0) / 2].map(Math.fround));
  });

  it('saves its templates; loading them reproduces the predictions; other classes are refused', async () => {
    const m = await clip();
    const templates = ['a photo of a {}.', 'itap of a {}.'];
    const handle = injectHardPrompt(m, { templates });
    const expected = m.predict!(m.encode!(records));
    const dir = tmp('saved');
    handle.save!(dir);
    expect(JSON.parse(readFileSync(join(dir, 'hard_prompt.json'), 'utf8'))).toEqual({ method: 'hard-prompt', templates, class_names: LABELS, ensemble: 'mean of L2-normalised text features over templates' });
    const fresh = await clip();
    const loaded = loadHardPrompt(fresh, dir);
    expect(loaded.config).toEqual({ templates, class_names: LABELS });
    expect(maxDiff(fresh.predict!(fresh.encode!(records)), expected)).toBeLessThanOrEqual(1e-6);
    const other = await loadHfCheckpoint(checkpoint, { log: quietLog, labels: ['dog', 'cat', 'bird'] });
    expect(() => loadHardPrompt(other, dir)).toThrow(/saved for classes \["cat","dog","bird"\]; the model's labels are \["dog","cat","bird"\]/);
  });

  it('in a run: nothing trains, the driver evaluates the validation split, and the config is validated', async () => {
    const toolkit = await createToolkit({ plugins: [hfPlugin, hardPromptPlugin, images], log: quietLog, trainer: createTrainDriver() });
    expect(toolkit.methods.get('hard-prompt')).toMatchObject({ family: 'baseline', trainsNothing: true });
    const config = (templates: unknown) => ({
      name: 'zero-shot',
      model: { name: 'hf', path: checkpoint, labels: LABELS },
      methods: { 'hard-prompt': { templates } },
      data: { name: 'tiny-images' },
      train: { epochs: 1, batchSize: 8 },
      runtime: { backend: 'cpu', seed: 1 },
    });
    const run = toolkit.createRun(config(['a photo of a {}.', 'a drawing of a {}.']));
    const model = await run.loadModel();
    expect(model.module.trainableVariables().size).toBe(0);
    const result = (await run.fit()) as unknown as { steps: number; accuracy: number };
    expect(result.steps).toBe(0);
    expect(result.accuracy).toBeGreaterThanOrEqual(0);
    expect(() => toolkit.createRun(config(['no placeholder']))).toThrow(/\/methods\/hard-prompt\/templates\/0: must match pattern/);
  });
});

describe('hard-prompt on an embedding model (use-lite, pretrained)', () => {
  const pretrained = loadPretrainedUseLite();
  afterAll(() => pretrained.encoder.dispose());
  const model = createUseLiteModel(pretrained.encoder, pretrained.tokenizer, { head: 'embedding', maxLength: 64, log: quietLog });

  it('scores are cosines to the ensembled class-name embeddings, computed by hand', () => {
    const classes = ['sports', 'cooking'];
    const templates = ['{}', 'a text about {}.'];
    const zs = new EmbeddingZeroShot(model, classes, templates);
    const texts = ['the team won the football match', 'stir the onions into the pan'];
    const embed = (t: string[]) => model.predict!(model.encode!(t.map((text, i) => ({ id: `t${i}`, text, meta: { source: 't', row: i } }))));
    const classEmb = tf.div(tf.add(unit(embed(classes)), unit(embed(classes.map((c) => `a text about ${c}.`)))), 2);
    const expected = tf.matMul(unit(embed(texts)), unit(classEmb), false, true);
    expect(maxDiff(zs.scores(texts), expected)).toBeLessThanOrEqual(1e-5);
    const rows = zs.scores(texts).arraySync() as number[][];
    expect(zs.classify(texts)).toEqual(rows.map((r) => classes[r.indexOf(Math.max(...r))]));
    zs.dispose();
    expect(zs.classEmbeddings.isDisposed).toBe(true);
  });
});
