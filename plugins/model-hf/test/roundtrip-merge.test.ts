/**
 * Issue 14's "done means" for the encoder and vision architectures the CLI round trips do not
 * cover (BERT, GPT-2 and the Llama family have theirs in roundtrip-sharded and
 * llama-train-generate): a sharded Hub folder of RoBERTa, ViT or CLIP takes a LoRA (B not
 * zero, so the adapter changes the outputs), merges and unloads, exports to a Hub folder
 * through the model's exportMerged, and that folder loads again with the adapted outputs.
 */
import fs from 'node:fs';
import path from 'node:path';
import { injectLora } from '@leantune/plugin-lora';
import { tf } from '@leantune/tensor';
import { loadHfCheckpoint, writeTinyHfCheckpoint, type HfLoadedModel } from '../src';
import { record, recordingLogger, tempDir, testImage } from './helpers';

const CASES = [
  { arch: 'roberta', targets: ['query', 'value'], output: 'logits', records: () => ['good film', 'a bad day out'].map((text, i) => record(`t${i}`, { text, label: 'pos' })) },
  { arch: 'vit', targets: ['query', 'value'], output: 'logits', records: () => [1, 2].map((s) => record(`i${s}`, { image: testImage(s), label: 'cat' })) },
  { arch: 'clip', targets: ['q_proj', 'v_proj'], output: 'image_embeds', records: () => [1, 2].map((s) => record(`i${s}`, { image: testImage(s), label: 'cat' })) },
] as const;

const out = (m: HfLoadedModel, name: string, recs: ReturnType<(typeof CASES)[number]['records']>) =>
  tf.tidy(() => {
    const o = m.outputs(m.encode!([...recs]), [name as never]);
    return Array.from((o[name as keyof typeof o] as tf.Tensor).dataSync());
  });

test.each(CASES)('sharded $arch: LoRA on $targets merges and exports to a Hub folder that loads with the adapted outputs', async ({ arch, targets, output, records }) => {
  const dir = tempDir(`rt-merge-${arch}`);
  const ckpt = path.join(dir, 'base');
  writeTinyHfCheckpoint(arch, ckpt, { layers: 2, maxShardBytes: 2000, seed: 21 });
  expect(fs.existsSync(path.join(ckpt, 'model.safetensors.index.json'))).toBe(true);
  const m = await loadHfCheckpoint(ckpt, { log: recordingLogger(), ...(arch === 'clip' ? { labels: ['cat', 'dog'] } : {}) });
  const recs = records();
  const base = out(m, output, recs);
  const lora = injectLora(m.module, { r: 2, lora_alpha: 4, target_modules: [...targets], init_lora_weights: false });
  // Two layers with two targets each; CLIP has two towers of two layers.
  expect(lora.layers().length).toBe(arch === 'clip' ? 8 : 4);
  const adapted = out(m, output, recs);
  const moved = Math.max(...adapted.map((v, i) => Math.abs(v - base[i])));
  expect(moved).toBeGreaterThan(1e-3);
  lora.mergeAndUnload();
  fs.mkdirSync(path.join(dir, 'merged'));
  m.points!.exportMerged!(path.join(dir, 'merged'), { module: m.module, labels: m.labels });
  const merged = await loadHfCheckpoint(path.join(dir, 'merged'), { log: recordingLogger(), ...(arch === 'clip' ? { labels: ['cat', 'dog'] } : {}) });
  expect([...merged.module.stateDict().keys()].some((k) => /lora_/.test(k))).toBe(false);
  const again = out(merged, output, recs);
  expect(Math.max(...again.map((v, i) => Math.abs(v - adapted[i])))).toBeLessThan(1e-5);
  m.module.dispose();
  merged.module.dispose();
}, 60_000);
