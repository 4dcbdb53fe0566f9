/**
 * P-tuning on tiny Hub-layout BERT and GPT-2: PEFT's PromptEncoder (names and shapes), the
 * bidirectional LSTM against a loop written out on plain arrays (torch.nn.LSTM's gates), the
 * encoder dropped at save (prompt_embeddings = its output), PEFT's files, refusals.
 */
import fs from 'node:fs';
import path from 'node:path';
import { readSafetensorsHeader, tf } from '@leantune/tensor';
import { BiLstm, injectPTuning, loadPTuning, P_TUNING_CHILD, type PTuningConfig } from '../src';
import { argmax, logits, maxDiff, patchedLoads, peftPromptHeader, record, tempDir, tinyHf } from '../../method-prompt-tuning/test/helpers';

const TEXTS = ['hello world', 'the good day', 'Good films!'];

function config(partial: Partial<PTuningConfig> = {}): PTuningConfig {
  return { num_virtual_tokens: 3, encoder_reparameterization_type: 'MLP', encoder_hidden_size: null, encoder_num_layers: 2, encoder_dropout: 0, modules_to_save: null, ...partial };
}

beforeAll(() => tf.setBackend('cpu'));

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/** torch.nn.LSTM(bidirectional=True) on one sequence, loop by loop on plain arrays. */
function lstmByHand(lstm: BiLstm, x: number[][]): number[][] {
  const H = lstm.hiddenSize;
  const p = (name: string) => lstm.getParameter(name).variable.arraySync() as number[][] & number[];
  let seq = x;
  for (let l = 0; l < lstm.numLayers; l++) {
    const outs = ['', '_reverse'].map((suffix) => {
      const [wih, whh, bih, bhh] = [p(`weight_ih_l${l}${suffix}`), p(`weight_hh_l${l}${suffix}`), p(`bias_ih_l${l}${suffix}`), p(`bias_hh_l${l}${suffix}`)];
      let h = new Array<number>(H).fill(0);
      let c = new Array<number>(H).fill(0);
      const out: number[][] = new Array(seq.length);
      const order = seq.map((_, t) => t);
      if (suffix) order.reverse();
      for (const t of order) {
        const gate = (k: number) => (wih[k] as number[]).reduce((a, w, j) => a + w * seq[t][j], 0) + (whh[k] as number[]).reduce((a, w, j) => a + w * h[j], 0) + (bih[k] as number) + (bhh[k] as number);
        const g = Array.from({ length: 4 * H }, (_, k) => gate(k));
        c = c.map((cv, j) => sigmoid(g[H + j]) * cv + sigmoid(g[j]) * Math.tanh(g[2 * H + j]));
        h = c.map((cv, j) => sigmoid(g[3 * H + j]) * Math.tanh(cv));
        out[t] = h;
      }
      return out;
    });
    seq = seq.map((_, t) => [...outs[0][t], ...outs[1][t]]);
  }
  return seq;
}

test('the bidirectional LSTM computes torch.nn.LSTM\'s recurrence (2 layers, both directions)', () => {
  const lstm = new BiLstm(5, 3, 2, 0);
  const x = Array.from({ length: 4 }, (_, t) => Array.from({ length: 5 }, (_, j) => Math.sin(t * 5 + j)));
  const got = lstm.forward(tf.tensor2d(x)).arraySync() as number[][];
  const want = lstmByHand(lstm, x);
  expect(got.length).toBe(4);
  for (let t = 0; t < 4; t++) for (let j = 0; j < 6; j++) expect(Math.abs(got[t][j] - want[t][j])).toBeLessThan(1e-5);
});

describe.each(['bert', 'gpt2'] as const)('%s', (arch) => {
  const hf = tinyHf(arch, 43);

  test('PEFT\'s PromptEncoder parameters, MLP and LSTM', async () => {
    const m = await hf.load();
    const D = m.points!.inputEmbeddings!.dim;
    const shapes = (h: ReturnType<typeof injectPTuning>) => [...h.encoder.namedParameters()].map(([p, v]) => `${p} [${v.shape}]`);
    const mlp = injectPTuning(m, config({ encoder_hidden_size: 5 }));
    expect(shapes(mlp)).toEqual(['embedding.weight [3,8]', 'mlp_head.0.weight [5,8]', 'mlp_head.0.bias [5]', 'mlp_head.2.weight [5,5]', 'mlp_head.2.bias [5]', 'mlp_head.4.weight [8,5]', 'mlp_head.4.bias [8]'].map((s) => s.replace(/8/g, String(D))));
    mlp.unload();
    const lstm = injectPTuning(m, config({ encoder_reparameterization_type: 'LSTM', encoder_hidden_size: 4, encoder_num_layers: 1 }));
    expect(shapes(lstm).filter((s) => !s.includes('_reverse'))).toEqual([
      `embedding.weight [3,${D}]`,
      `lstm_head.weight_ih_l0 [16,${D}]`,
      'lstm_head.weight_hh_l0 [16,4]',
      'lstm_head.bias_ih_l0 [16]',
      'lstm_head.bias_hh_l0 [16]',
      'mlp_head.0.weight [8,8]',
      'mlp_head.0.bias [8]',
      `mlp_head.2.weight [${D},8]`,
      `mlp_head.2.bias [${D}]`,
    ]);
    lstm.unload();
    expect(m.module.child(P_TUNING_CHILD)).toBeUndefined();
  });

  test.each(['MLP', 'LSTM'] as const)('%s: saves PEFT\'s P_TUNING files with the encoder dropped; a fresh model reproduces the outputs', async (type) => {
    const m = await hf.load();
    const handle = injectPTuning(m, config({ num_virtual_tokens: 4, encoder_reparameterization_type: type, encoder_hidden_size: 6 }));
    const batch = m.encode!(TEXTS.map((t, k) => record(`r${k}`, t)));
    const before = logits(m, batch);
    const dir = tempDir('p-save');
    handle.save!(dir);
    const D = m.points!.inputEmbeddings!.dim;
    const json = JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8'));
    expect(json).toEqual({
      ...peftPromptHeader(m, 'P_TUNING', 4),
      encoder_reparameterization_type: type,
      encoder_hidden_size: 6,
      encoder_num_layers: 2,
      encoder_dropout: 0,
    });
    const header = readSafetensorsHeader(path.join(dir, 'adapter_model.safetensors'));
    expect([...header.tensors].map(([k, t]) => [k, t.shape])).toEqual([['prompt_embeddings', [4, D]]]);
    const fresh = await hf.load();
    const loaded = loadPTuning(fresh, dir);
    expect([...loaded.encoder.namedParameters()].map(([p, v]) => [p, v.shape, v.requiresGrad])).toEqual([['weight', [4, D], false]]);
    expect(maxDiff(logits(fresh, batch), before)).toBeLessThan(1e-6);
  });

  test('warns that the MLP ignores encoder_num_layers (as PEFT); load refuses another peft_type and shape', async () => {
    const m = await hf.load();
    const warnings: string[] = [];
    const handle = injectPTuning(m, config({ encoder_num_layers: 3 }), { info: () => undefined, warn: (w) => void warnings.push(w) });
    expect(warnings).toEqual(['p-tuning: for MLP, encoder_num_layers (3) is ignored; exactly 2 MLP layers are used (as PEFT)']);
    const dir = tempDir('p-refuse');
    handle.save!(dir);
    const fresh = await hf.load();
    const attempt = patchedLoads(dir, () => loadPTuning(fresh, dir));
    expect(attempt({ peft_type: 'PROMPT_TUNING' })).toThrow(/peft_type "PROMPT_TUNING" is not supported; @leantune\/plugin-p-tuning loads "P_TUNING"/);
    expect(attempt({ encoder_reparameterization_type: 'GRU' })).toThrow(/encoder_reparameterization_type "GRU" is not one of MLP, LSTM/);
    expect(attempt({ num_virtual_tokens: 5 })).toThrow(/tensor "prompt_embeddings" has shape \[3,\d+\], the model needs \[5,\d+\]/);
    expect(fresh.module.child(P_TUNING_CHILD)).toBeUndefined();
  });
});

test('GPT-2 generates with a P-tuned prompt: the same tokens with and without the cache, and after save → load', async () => {
  const hf = tinyHf('gpt2', 44);
  const m = await hf.load();
  const generate = (model: typeof m, cache: boolean) => model.points!.generate!(model.points!.tokenizer!.encode('the day'), { maxTokens: 6, pick: argmax, cache });
  const handle = injectPTuning(m, config({ num_virtual_tokens: 4, encoder_reparameterization_type: 'LSTM' }));
  const cached = generate(m, true);
  expect(generate(m, false)).toEqual(cached);
  const dir = tempDir('p-gen');
  handle.save!(dir);
  const fresh = await hf.load();
  loadPTuning(fresh, dir);
  expect(generate(fresh, true)).toEqual(cached);
});
