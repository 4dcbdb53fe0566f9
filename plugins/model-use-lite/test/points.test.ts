/**
 * use-lite's extension points: with nothing registered (or only no-ops) the outputs are the
 * bits of the code before the points; virtual tokens equal to real tokens' embeddings give
 * what those tokens give first in the input (positions and the mean pool include them);
 * padded rows; prefixes of each layer's head width; gradients; disposers; the tokenizer.
 */
import fs from 'node:fs';
import path from 'node:path';
import { requirePoints, ConfigError, type LoadedModel, type Logger } from '@leantune/core';
import { tf, variableGradients } from '@leantune/tensor';
import { createUseLiteModel, loadPretrainedUseLite, padBatch } from '../src';
import { GOLDEN_TEXTS, goldenOutputs } from './points-golden';

const golden = JSON.parse(fs.readFileSync(path.join(__dirname, 'fixtures', 'points-golden.json'), 'utf8')) as { backend: string; outputs: Record<string, number[]> };
const log: Logger = { info: () => undefined, warn: () => undefined };
const pretrained = loadPretrainedUseLite();
const model: LoadedModel = createUseLiteModel(pretrained.encoder, pretrained.tokenizer, { head: 'classification', labels: ['ham', 'spam'], maxLength: 128, log, tokenizerFiles: ['vocab.json'] });
const points = model.points!;
afterAll(() => pretrained.encoder.dispose());

const records = (texts: string[], labels?: string[]) => texts.map((text, i) => ({ id: `r${i}`, text, label: labels?.[i], meta: { source: 'test', row: i } }));

function pooledOf(texts: string[], first: number[] = []): number[][] {
  const { ids, attentionMask } = padBatch(texts.map((t) => [...first, ...pretrained.tokenizer.encode(t)]));
  pretrained.encoder.eval();
  const out = pretrained.encoder.forward(ids, attentionMask);
  return out.pooled.arraySync() as number[][];
}

const maxDiff = (a: number[], b: number[]) => Math.max(...a.map((v, i) => Math.abs(v - b[i])));

test('nothing registered: the bits of the code before the points', () => {
  expect(goldenOutputs(pretrained)).toEqual(golden.outputs);
  expect(tf.getBackend()).toBe(golden.backend);
});

test('no-ops on every point (zero-length prompt and prefixes, identity entry functions, taps) keep the bits; disposing a real prompt restores them', () => {
  const e = points.inputEmbeddings!;
  const hs = points.hiddenStates!;
  const ap = points.attentionPrefix!;
  const taps: number[][] = [];
  const offs = [
    e.addVirtualTokens((b) => tf.zeros([b, 0, e.dim])),
    ...[0, 1].flatMap((l) => {
      const { heads, headDim } = ap.shape(l);
      return [
        hs.atLayerEntry(l, (h) => h),
        hs.tapLayerOutput(l, (h) => void taps.push(h.shape)),
        ap.addPrefix(l, () => ({ key: tf.zeros([heads, 0, headDim]), value: tf.zeros([heads, 0, headDim]) })),
      ];
    }),
  ];
  expect(goldenOutputs(pretrained)).toEqual(golden.outputs);
  expect(taps.map((s) => s[2])).toEqual([512, 512]);
  offs.forEach((d) => d());
  const off = e.addVirtualTokens(() => tf.fill([2, e.dim], 0.1));
  expect(maxDiff(goldenOutputs(pretrained).embedding, golden.outputs.embedding)).toBeGreaterThan(1e-4);
  off();
  off();
  expect(goldenOutputs(pretrained)).toEqual(golden.outputs);
});

test('virtual tokens = embeddings of real tokens give what those tokens first in the input give; padded rows = each row alone', () => {
  const e = points.inputEmbeddings!;
  expect([e.dim, e.placement, e.offset, e.maxPositions, e.vocabulary!.size]).toEqual([256, 'prepend', 0, 128, 8002]);
  const soft = pretrained.tokenizer.encode('urgent offer');
  const asTokens = pooledOf(GOLDEN_TEXTS, soft);
  const off = e.addVirtualTokens(() => e.vocabulary!.embed(soft));
  const virtual = pooledOf(GOLDEN_TEXTS);
  for (let r = 0; r < GOLDEN_TEXTS.length; r++) {
    expect(maxDiff(virtual[r], asTokens[r])).toBeLessThan(1e-6);
    expect(maxDiff(pooledOf([GOLDEN_TEXTS[r]])[0], virtual[r])).toBeLessThan(2e-5);
  }
  off();
  expect(maxDiff(pooledOf(GOLDEN_TEXTS)[0], virtual[0])).toBeGreaterThan(1e-4);
});

test('prefixes take each layer\'s head width (64 at layer 0, 128 at layer 1) and a wrong one is named', () => {
  const ap = points.attentionPrefix!;
  expect([ap.shape(0), ap.shape(1)]).toEqual([{ heads: 4, headDim: 64 }, { heads: 4, headDim: 128 }]);
  expect(points.hiddenStates!.entryDims).toEqual([256, 512]);
  const off = ap.addPrefix(1, () => ({ key: tf.zeros([4, 2, 64]), value: tf.zeros([4, 2, 64]) }));
  expect(() => pooledOf(['hi'])).toThrow(/prefix provider 0 of layer 1 \(key\) gave a tensor of shape \[4,2,64\]; it must be \[4, n, 128\]/);
  off();
  expect(() => ap.addPrefix(2, () => ({ key: tf.zeros([1]), value: tf.zeros([1]) }))).toThrow(/use-lite: addPrefix layer must be an integer in \[0, 1\], got 2/);
});

test('gradients reach a prompt and a prefix through the frozen encoder; nothing is unfrozen', () => {
  pretrained.encoder.freeze();
  pretrained.encoder.child('classifier')!.unfreeze();
  const e = points.inputEmbeddings!;
  const prompt = tf.variable(tf.randomNormal([4, e.dim], 0, 0.1, 'float32', 1), true, 'use_lite_prompt');
  const { heads, headDim } = points.attentionPrefix!.shape(1);
  const key = tf.variable(tf.randomNormal([heads, 3, headDim], 0, 0.1, 'float32', 2), true, 'use_lite_key');
  const offs = [e.addVirtualTokens(() => prompt), points.attentionPrefix!.addPrefix(1, () => ({ key, value: key }))];
  const trainable = [...pretrained.encoder.namedParameters()].filter(([, p]) => p.requiresGrad).map(([n]) => n);
  const batch = model.encode!(records(['win money now', 'lunch at noon'], ['spam', 'ham']));
  const { grads } = variableGradients(() => model.loss!(batch, true), [prompt, key]);
  for (const name of ['use_lite_prompt', 'use_lite_key']) expect(Math.max(...Array.from(tf.abs(grads[name]).dataSync()))).toBeGreaterThan(1e-7);
  expect([...pretrained.encoder.namedParameters()].filter(([, p]) => p.requiresGrad).map(([n]) => n)).toEqual(trainable);
  expect(trainable.every((n) => n.startsWith('classifier.'))).toBe(true);
  offs.forEach((d) => d());
  pretrained.encoder.eval();
});

test('the tokenizer capability encodes as encode() does and decodes back; requirePoints names what use-lite lacks', () => {
  const tok = points.tokenizer!;
  expect(tok.encode('Hello there')).toEqual(pretrained.tokenizer.encode('Hello there'));
  expect(tok.decode(tok.encode('hello there friend'))).toBe('hello there friend');
  expect(tok.files).toEqual(['vocab.json']);
  expect(requirePoints(model, ['inputEmbeddings.vocabulary', 'attentionPrefix'], 'prompt-tuning')).toBe(points);
  expect(() => requirePoints(model, ['generate', 'textTokenEmbeddings'], 'coop')).toThrow(ConfigError);
  expect(() => requirePoints(model, ['generate'], 'coop')).toThrow(/Method "coop" needs "generate" from the model, which model "use-lite" \(arch use-lite\) does not offer \(it offers: inputEmbeddings, hiddenStates, attentionPrefix, tokenizer, inputEmbeddings.vocabulary\)/);
});
