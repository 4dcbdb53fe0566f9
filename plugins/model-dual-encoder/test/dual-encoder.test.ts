/**
 * The dual encoder on its real towers (USE-lite, MobileNetV2): features and logits as CLIP
 * computes them, the textTokenEmbeddings point (a context from the template's own words is
 * the hand-written prompt), the whole state saved and loaded back by `weights`, and CoOp,
 * hard-prompt and an alignment run through `leantune` on tiny images.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { saveSafetensorsAtomic, type LoadedModel } from '@leantune/core';
import { tf } from '@leantune/tensor';
import { loadDualEncoder, FRESH_PARAMETERS, type DualEncoder } from '@leantune/plugin-dual-encoder';
import { leantune } from '../../method-vpt/test/fixtures/cli';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { tinyImages } = require('../../method-vpt/test/fixtures/tiny-images.js');

const LABELS = ['cat', 'dog', 'bird'];
const spec = { name: 'dual-encoder', labels: LABELS, inputSize: 32, projectionDim: 16 };
const dir = mkdtempSync(join(tmpdir(), 'lt-dual-'));

describe('dual-encoder', () => {
  let model: LoadedModel;
  beforeAll(async () => {
    tf.setBackend('cpu');
    model = await loadDualEncoder(spec, { configDir: dir });
  });
  afterAll(() => model?.module.dispose());

  it('is CLIP-shaped: both towers, fresh projections, logits = exp(logit_scale) · cos', () => {
    const module = model.module as DualEncoder;
    expect(model.freshParameters).toEqual([...FRESH_PARAMETERS]);
    const names = [...module.stateDict().keys()];
    expect(names).toEqual(expect.arrayContaining(['text_model.embeddings.word_embeddings.weight', 'vision_model.features.0.conv.weight', 'text_projection.weight', 'visual_projection.weight', 'logit_scale']));
    expect(names.some((n) => n.startsWith('vision_model.classifier'))).toBe(false);
    const batch = model.encode!(tinyImages(4));
    tf.tidy(() => {
      const pixels = (batch.inputs as Record<string, tf.Tensor>).pixel_values;
      expect(pixels.shape).toEqual([4, 32, 32, 3]);
      const image = module.imageFeatures(pixels);
      const text = (model.meta!.textFeatures as (t: string[]) => tf.Tensor2D)(LABELS.map((l) => `a photo of a ${l}.`));
      expect(image.shape).toEqual([4, 16]);
      expect(text.shape).toEqual([3, 16]);
      const unit = (x: tf.Tensor) => tf.div(x, tf.norm(x, 'euclidean', -1, true));
      const expected = tf.mul(tf.matMul(unit(image), unit(text), false, true), 1 / 0.07);
      const probs = model.predict!(batch);
      expect(tf.max(tf.abs(tf.sub(probs, tf.softmax(expected)))).dataSync()[0]).toBeLessThan(1e-5);
    });
    tf.dispose([batch.inputs as tf.TensorContainer, batch.targets!]);
  });

  it("offers textTokenEmbeddings: a context of the template's own word embeddings gives the hand-written prompt's features", () => {
    const point = model.points!.textTokenEmbeddings!;
    const ids = model.points!.tokenizer!.encode('a photo of a');
    expect(ids.length).toBeGreaterThan(1);
    tf.tidy(() => {
      const context = point.vocabulary.embed(ids);
      const viaContext = point.encodeWithContext(LABELS, context);
      const written = point.encodeTexts(LABELS.map((l) => `a photo of a ${l}.`));
      expect(tf.max(tf.abs(tf.sub(viaContext, written))).dataSync()[0]).toBeLessThan(1e-5);
      // Class-specific context and the other class positions have their own shapes and rows.
      const csc = point.encodeWithContext(LABELS, tf.stack([context, context, context]), { classPosition: 'middle' });
      expect(csc.shape).toEqual([3, 16]);
      expect(() => point.encodeWithContext(LABELS, tf.zeros([2, 7]))).toThrow(/context must be \[n, 256\] or \[3, n, 256\]/);
    });
  });

  it('loads its whole state back from weights (a file or its folder); a wrong file is refused by name before anything changes', async () => {
    const file = join(dir, 'model.safetensors');
    saveSafetensorsAtomic(file, model.module.stateDict(), { format: 'pt' });
    const again = await loadDualEncoder({ ...spec, weights: '.' }, { configDir: dir });
    try {
      expect(again.freshParameters).toEqual([]);
      const batch = model.encode!(tinyImages(3));
      const [a, b] = [model.predict!(batch), again.predict!(batch)];
      expect(tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]).toBe(0);
      tf.dispose([a, b, batch.inputs as tf.TensorContainer, batch.targets!]);
    } finally {
      again.module.dispose();
    }
    await expect(loadDualEncoder({ ...spec, projectionDim: 8, weights: file }, { configDir: dir })).rejects.toThrow(/model\.weights: .*model\.safetensors does not fit this dual encoder \(projectionDim 8\): Shape mismatch for "text_projection\.weight".*expects \[8,512\], got \[16,512\]\. Use the model options the weights were trained with/);
    await expect(loadDualEncoder({ ...spec, weights: 'nowhere' }, { configDir: dir })).rejects.toThrow(/model\.weights: .*nowhere does not exist/);
  });
});

describe('dual-encoder without class names', () => {
  it("trains on image–text pairs with CLIP's symmetric loss; a record without text is reported by checkRecord", async () => {
    const model = await loadDualEncoder({ name: 'dual-encoder', inputSize: 32, projectionDim: 16 }, { configDir: dir });
    try {
      expect(model.labels).toBeUndefined();
      expect(model.predict).toBeUndefined();
      const records = tinyImages(4).map((r: { label: string }, i: number) => ({ ...r, text: `a picture of the ${r.label} number ${i}` }));
      expect(model.checkRecord!(records[0])).toBeUndefined();
      expect(model.checkRecord!({ ...records[0], text: undefined })).toMatch(/has no "text": without class names this model trains on image–text pairs/);
      const batch = model.encode!(records);
      const inputs = batch.inputs as Record<string, tf.Tensor>;
      const module = model.module as DualEncoder;
      tf.tidy(() => {
        const logits = module.logits(module.imageFeatures(inputs.pixel_values), module.textFeatures(inputs.input_ids, inputs.attention_mask));
        const diagonal = tf.range(0, 4, 1, 'int32');
        const ce = (x: tf.Tensor) => tf.losses.softmaxCrossEntropy(tf.oneHot(diagonal, 4), x);
        const expected = tf.div(tf.add(ce(logits), ce(tf.transpose(logits))), 2);
        expect(Math.abs(model.loss!(batch, false).dataSync()[0] - expected.dataSync()[0])).toBeLessThan(1e-5);
      });
      tf.dispose(Object.values(inputs));
    } finally {
      model.module.dispose();
    }
  });
});

describe('leantune with the dual encoder', () => {
  const cwd = mkdtempSync(join(tmpdir(), 'lt-dual-cli-'));
  const fixture = { name: join(__dirname, '..', '..', 'method-vpt', 'test', 'fixtures', 'tiny-images.js'), allowOutside: true };
  const write = (name: string, config: Record<string, unknown>) => {
    const file = join(cwd, `${name}.json`);
    writeFileSync(file, JSON.stringify({ name, data: { name: 'tiny-images', count: 48 }, runtime: { backend: 'cpu', seed: 3 }, output: { dir: 'runs' }, ...config }));
    return file;
  };
  const model = { name: 'dual-encoder', inputSize: 32, projectionDim: 16 };

  it('aligns the projections, merges, and CoOp and hard-prompt run on the aligned model', async () => {
    // Alignment: the towers stay locked; the projections and the temperature train.
    const align = write('align', {
      plugins: ['dual-encoder', 'baselines', fixture],
      model,
      methods: { 'linear-probe': { head: 'visual_projection' } },
      trainable: ['text_projection\\..*', 'logit_scale'],
      train: { epochs: 3, batchSize: 12, learningRate: 0.01 },
    });
    const trained = await leantune(cwd, 'train', '-c', align, '--quiet');
    expect(trained.code).toBe(0);
    const { dir: run } = JSON.parse(trained.out);
    const losses = readFileSync(join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((l) => l.type === 'step').map((l) => l.loss as number);
    expect(losses.slice(-3).reduce((a, b) => a + b) / 3).toBeLessThan(losses.slice(0, 3).reduce((a, b) => a + b) / 3);
    const merged = await leantune(cwd, 'merge', run, '-o', 'aligned');
    expect(merged.code).toBe(0);

    const coop = write('coop', {
      plugins: ['dual-encoder', 'coop', fixture],
      model: { ...model, weights: 'aligned' },
      methods: { coop: { ctx_init: 'a photo of a' } },
      train: { epochs: 2, batchSize: 12, learningRate: 0.02 },
    });
    const c = await leantune(cwd, 'train', '-c', coop, '--quiet');
    expect(c.code).toBe(0);
    expect(JSON.parse(c.out).metrics.accuracy).toBeGreaterThanOrEqual(0);
    const adapter = JSON.parse(readFileSync(join(JSON.parse(c.out).dir, 'adapters', 'coop', 'adapter_config.json'), 'utf8'));
    expect(adapter).toMatchObject({ peft_type: 'COOP', token_dim: 256, class_names: LABELS });

    const zero = write('zero', { plugins: ['dual-encoder', 'hard-prompt', fixture], model: { ...model, weights: 'aligned' }, methods: { 'hard-prompt': {} } });
    const z = await leantune(cwd, 'train', '-c', zero, '--quiet');
    expect(z.code).toBe(0);
    expect(JSON.parse(z.out).metrics.accuracy).toBeGreaterThanOrEqual(0);
  }, 300_000);
});
