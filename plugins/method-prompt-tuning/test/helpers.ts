import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Batch, DataRecord } from '@leantune/core';
import type { CheckResult } from '@leantune/testing';
import { loadHfCheckpoint, writeTinyHfCheckpoint, type HfLoadedModel } from '@leantune/plugin-hf';
import { tf } from '@leantune/tensor';

export type TextArch = 'bert' | 'roberta' | 'gpt2';
const quiet = { info: () => undefined, warn: () => undefined };

export function tempDir(label: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `lt-prompt-${label}-`));
}

/** A tiny Hub-layout checkpoint folder (written once per call) and a loader of fresh models from it. */
export function tinyHf(arch: TextArch, seed = 11): { dir: string; load: () => Promise<HfLoadedModel> } {
  const dir = tempDir(arch);
  writeTinyHfCheckpoint(arch, dir, { layers: 2, seed });
  return { dir, load: () => loadHfCheckpoint(dir, { log: quiet, labels: arch === 'gpt2' ? undefined : ['neg', 'pos'] }) };
}

type Inputs = Record<string, tf.Tensor>;

/** Logits: BERT's class scores, GPT-2's next-token scores at the real tokens. */
export function logits(m: { arch: string; module: { forward(...a: unknown[]): unknown } }, batch: Batch): tf.Tensor {
  const i = batch.inputs as Inputs;
  return tf.tidy(() =>
    m.arch === 'gpt2'
      ? (m.module.forward(i.input_ids, i.attention_mask) as tf.Tensor)
      : (m.module.forward({ inputIds: i.input_ids, attentionMask: i.attention_mask, tokenTypeIds: i.token_type_ids }) as tf.Tensor),
  );
}

/** The batch with `ids` before every row (mask 1, token type 0): virtual tokens made real. */
export function withTokensFirst(batch: Batch, ids: number[]): Batch {
  const i = batch.inputs as Inputs;
  const b = i.input_ids.shape[0]!;
  const n = ids.length;
  const out: Inputs = {
    input_ids: tf.concat([tf.tensor2d(new Array(b).fill(ids).flat(), [b, n], 'int32'), i.input_ids], 1),
    attention_mask: tf.concat([tf.ones([b, n], 'int32'), i.attention_mask], 1),
  };
  if (i.token_type_ids) out.token_type_ids = tf.concat([tf.zeros([b, n], 'int32'), i.token_type_ids], 1);
  return { ...batch, inputs: out };
}

export function record(id: string, text: string, label?: string): DataRecord {
  return { id, text, label, meta: { source: 'test', row: 0 } };
}

export function maxDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

export const argmax = (logits: Float32Array): number => logits.reduce((best, v, i) => (v > logits[best] ? i : best), 0);

/** Collects contract results and prints the loss fall and save/load diff after the file's tests (tf on cpu before). */
export function contractReport(): (result: CheckResult) => void {
  const results: CheckResult[] = [];
  beforeAll(() => tf.setBackend('cpu'));
  afterAll(() => {
    for (const r of results) {
      const m = r.measured;
      if (r.check === 'loss') process.stdout.write(`${r.method}: loss ${Number(m.first3).toFixed(3)} → ${Number(m.last3).toFixed(3)}\n`);
      if (r.check === 'save-load' && !r.skipped) process.stdout.write(`${r.method}: save-load max abs diff ${m.maxAbsDiff} (${m.files})\n`);
    }
  });
  return (r) => void results.push(r);
}

/** The fields every prompt-learning adapter_config.json starts with, for `m` (tiny checkpoints: 2 layers). */
export function peftPromptHeader(m: { arch: string; name: string; points?: import('@leantune/core').ModelPoints }, peftType: string, numVirtualTokens: number, tokenDim = m.points!.inputEmbeddings!.dim): Record<string, unknown> {
  return {
    peft_type: peftType,
    task_type: m.arch === 'gpt2' ? 'CAUSAL_LM' : 'SEQ_CLS',
    base_model_name_or_path: m.name,
    revision: null,
    inference_mode: true,
    auto_mapping: null,
    peft_version: '0.18.0',
    num_virtual_tokens: numVirtualTokens,
    token_dim: tokenDim,
    num_transformer_submodules: 1,
    num_attention_heads: m.points!.attentionPrefix!.shape(0).heads,
    num_layers: 2,
    modules_to_save: null,
  };
}

/** `attempt(patch)`: a thunk that loads `dir` after writing its adapter_config.json with `patch` over the saved fields. */
export function patchedLoads(dir: string, load: () => unknown): (patch: Record<string, unknown>) => () => unknown {
  const file = path.join(dir, 'adapter_config.json');
  const good = JSON.parse(fs.readFileSync(file, 'utf8'));
  return (patch) => {
    fs.writeFileSync(file, JSON.stringify({ ...good, ...patch }));
    return load;
  };
}
