/**
 * Outputs of every tiny architecture on fixed inputs, through APIs that existed before the
 * extension points: `fixtures/points-golden.json` holds them as computed by the code before
 * the points were added (commit 14726d1), and points-base.test.ts checks today's code gives
 * the same float32 values bit for bit when nothing is registered.
 */
import path from 'node:path';
import { tf } from '@leantune/tensor';
import { loadHfCheckpoint, writeTinyHfCheckpoint, type HfLoadedModel } from '../src';
import { record, recordingLogger, testImage } from './helpers';

export const GOLDEN_TEXTS = ['hello world', 'the good film is the day', 'Good films!'];

const flat = (t: tf.Tensor) => Array.from(t.dataSync());

/** `onLoad` (absent when the golden file was written) sees each model right after loading. */
export async function goldenOutputs(root: string, onLoad: (m: HfLoadedModel) => void = () => undefined): Promise<Record<string, number[]>> {
  const out: Record<string, number[]> = {};
  for (const arch of ['bert', 'roberta', 'gpt2'] as const) {
    const dir = path.join(root, arch);
    writeTinyHfCheckpoint(arch, dir, { layers: 2, seed: 21 });
    const m = await loadHfCheckpoint(dir, { log: recordingLogger(), labels: arch === 'gpt2' ? undefined : ['neg', 'pos'] });
    onLoad(m);
    const batch = m.encode!(GOLDEN_TEXTS.map((text, i) => record(`r${i}`, { text, label: i % 2 ? 'pos' : 'neg' })));
    const i = batch.inputs as Record<string, tf.Tensor>;
    const y = arch === 'gpt2' ? (m.module.forward(i.input_ids, i.attention_mask) as tf.Tensor) : (m.module.forward({ inputIds: i.input_ids, attentionMask: i.attention_mask, tokenTypeIds: i.token_type_ids }) as tf.Tensor);
    out[`${arch}/logits`] = flat(y);
    out[`${arch}/loss`] = flat(m.loss!(batch, false));
    y.dispose();
    m.module.dispose();
  }
  const images = [testImage(1), testImage(2), testImage(3)];
  {
    const dir = path.join(root, 'vit');
    writeTinyHfCheckpoint('vit', dir, { layers: 2, seed: 22 });
    const m = await loadHfCheckpoint(dir, { log: recordingLogger() }); // the checkpoint's own head: nothing random
    onLoad(m);
    const batch = m.encode!(images.map((image, k) => record(`i${k}`, { image, label: 'cat' })));
    out['vit/logits'] = flat(m.module.forward((batch.inputs as Record<string, tf.Tensor>).pixel_values) as tf.Tensor);
    m.module.dispose();
  }
  {
    const dir = path.join(root, 'clip');
    writeTinyHfCheckpoint('clip', dir, { layers: 2, seed: 23 });
    const m = await loadHfCheckpoint(dir, { log: recordingLogger(), labels: ['cat', 'dog'] });
    onLoad(m);
    const meta = m.meta as { textFeatures(t: string[]): tf.Tensor; imageFeatures(i: unknown[]): tf.Tensor };
    out['clip/text'] = flat(meta.textFeatures(GOLDEN_TEXTS));
    out['clip/image'] = flat(meta.imageFeatures(images));
    out['clip/predict'] = flat(m.predict!(m.encode!(images.map((image, k) => record(`i${k}`, { image, label: 'cat' })))));
    m.module.dispose();
  }
  return out;
}
