/**
 * With nothing registered on model.points, every architecture computes bit for bit what it
 * computed before the points existed; zero-length prompts and prefixes and identity layer
 * functions change nothing; disposers restore the base exactly.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Disposer } from '@leantune/core';
import { tf } from '@leantune/tensor';
import type { HfLoadedModel } from '../src';
import { record, tempDir, testImage } from './helpers';
import { goldenOutputs } from './points-golden';

const golden = JSON.parse(fs.readFileSync(path.join(__dirname, 'fixtures', 'points-golden.json'), 'utf8')) as { backend: string; outputs: Record<string, number[]> };

/** Registers a no-op of every kind on every point the model has; returns the disposers. */
function registerNoOps(m: HfLoadedModel, calls: string[]): Disposer[] {
  const p = m.points!;
  const off: Disposer[] = [];
  const e = p.inputEmbeddings!;
  off.push(e.addVirtualTokens((batch) => (calls.push('virtual'), tf.zeros([batch, 0, e.dim]))));
  off.push(e.addVirtualTokens(() => tf.zeros([0, e.dim])));
  for (let i = 0; i < p.hiddenStates!.layers; i++) {
    off.push(p.hiddenStates!.atLayerEntry(i, (h) => (calls.push(`entry${i}`), h)));
    off.push(p.hiddenStates!.tapLayerOutput(i, () => void calls.push(`tap${i}`)));
    const { heads, headDim } = p.attentionPrefix!.shape(i);
    off.push(p.attentionPrefix!.addPrefix(i, () => (calls.push(`prefix${i}`), { key: tf.zeros([heads, 0, headDim]), value: tf.zeros([heads, 0, headDim]) })));
  }
  return off;
}

test('nothing registered: every architecture gives the outputs of the code before the points, bit for bit', async () => {
  const now = await goldenOutputs(tempDir('golden-now'));
  expect(tf.getBackend()).toBe(golden.backend); // the golden file was computed on the same backend
  expect(Object.keys(now).sort()).toEqual(Object.keys(golden.outputs).sort());
  for (const key of Object.keys(now)) expect([key, now[key]]).toEqual([key, golden.outputs[key]]);
});

test('zero-length prompts and prefixes and identity layer functions on every layer: the same bits, and they were called', async () => {
  const calls: string[] = [];
  const now = await goldenOutputs(tempDir('golden-noop'), (m) => void registerNoOps(m, calls));
  for (const key of Object.keys(now)) expect([key, now[key]]).toEqual([key, golden.outputs[key]]);
  for (const kind of ['virtual', 'entry0', 'entry1', 'tap1', 'prefix0', 'prefix1']) expect(calls).toContain(kind);
});

/** One output of `m` on fixed inputs, through its LoadedModel API. */
function probe(m: HfLoadedModel): number[] {
  const text = m.arch !== 'vit' && m.arch !== 'clip';
  const batch = m.encode!(
    text ? [record('a', { text: 'hello world', label: 'pos' }), record('b', { text: 'Good films!', label: 'neg' })] : [record('a', { image: testImage(4), label: 'cat' })],
  );
  const y = m.arch === 'gpt2' ? m.loss!(batch, false) : m.predict!(batch);
  return Array.from(y.dataSync());
}

test('disposers detach: a prompt, a prefix and a layer function change the outputs, and disposing them (twice) restores the bits', async () => {
  const changed: Record<string, boolean> = {};
  const now = await goldenOutputs(tempDir('golden-dispose'), (m) => {
    const before = probe(m);
    const p = m.points!;
    const e = p.inputEmbeddings!;
    const { heads, headDim } = p.attentionPrefix!.shape(0);
    const off = [
      e.addVirtualTokens(() => tf.fill([2, e.dim], 0.3)),
      p.hiddenStates!.atLayerEntry(1, (h) => tf.mul(h, 1.5)),
      p.attentionPrefix!.addPrefix(0, () => ({ key: tf.fill([heads, 3, headDim], 0.2), value: tf.fill([heads, 3, headDim], -0.4) })),
    ];
    changed[m.arch] = JSON.stringify(probe(m)) !== JSON.stringify(before);
    off.forEach((d) => d());
    off.forEach((d) => d());
    expect(probe(m)).toEqual(before);
  });
  expect(changed).toEqual({ bert: true, roberta: true, gpt2: true, vit: true, clip: true });
  for (const key of Object.keys(now)) expect([key, now[key]]).toEqual([key, golden.outputs[key]]);
});
