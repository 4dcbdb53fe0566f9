/**
 * inputEmbeddings on the text architectures: virtual tokens equal to the embeddings of real
 * tokens give what those tokens give in the input (BERT, RoBERTa, GPT-2 alike: positions
 * and token types cover the full length, as PEFT's prompt learning gets from transformers
 * with inputs_embeds); padded batches give each row's unpadded result; gradients reach the
 * prompt.
 */
import { tf, variableGradients } from '@leantune/tensor';
import { loadHfCheckpoint, writeTinyHfCheckpoint, type HfLoadedModel } from '../src';
import { expectClose, record, recordingLogger, rows, tempDir } from './helpers';

const TEXTS = ['hello world', 'the good film is the day', 'Good films!'];

type Inputs = Record<string, tf.Tensor>;

function run(m: HfLoadedModel, i: Inputs): tf.Tensor {
  return m.arch === 'gpt2'
    ? (m.module.forward(i.input_ids, i.attention_mask) as tf.Tensor)
    : (m.module.forward({ inputIds: i.input_ids, attentionMask: i.attention_mask, tokenTypeIds: i.token_type_ids }) as tf.Tensor);
}

/** The batch with `ids` put before every row (mask 1, token type 0): the virtual tokens made real. */
function withTokensFirst(i: Inputs, ids: number[]): Inputs {
  const b = i.input_ids.shape[0]!;
  const n = ids.length;
  const out: Inputs = {
    input_ids: tf.concat([tf.tensor2d(new Array(b).fill(ids).flat(), [b, n], 'int32'), i.input_ids], 1),
    attention_mask: tf.concat([tf.ones([b, n], 'int32'), i.attention_mask], 1),
  };
  if (i.token_type_ids) out.token_type_ids = tf.concat([tf.zeros([b, n], 'int32'), i.token_type_ids], 1);
  return out;
}

async function load(arch: 'bert' | 'roberta' | 'gpt2', seed: number): Promise<HfLoadedModel> {
  const dir = tempDir(`virtual-${arch}`);
  writeTinyHfCheckpoint(arch, dir, { layers: 2, seed });
  return loadHfCheckpoint(dir, { log: recordingLogger(), labels: arch === 'gpt2' ? undefined : ['neg', 'pos'] });
}

/** Content ids of a text (no special tokens), from the model's own tokenizer capability. */
function contentIds(m: HfLoadedModel, text: string): number[] {
  const tok = m.points!.tokenizer!;
  const empty = tok.encode('');
  const ids = tok.encode(text);
  let start = 0;
  while (start < empty.length && empty[start] === ids[start]) start++;
  return ids.slice(start, ids.length - (empty.length - start));
}

describe.each([
  ['bert', 41],
  ['roberta', 42],
  ['gpt2', 43],
] as const)('%s', (arch, seed) => {
  test('virtual tokens = embeddings of real tokens give what those tokens give as input; a padded batch gives each row alone', async () => {
    const m = await load(arch, seed);
    const e = m.points!.inputEmbeddings!;
    expect(e.placement).toBe('prepend');
    expect(e.offset).toBe(0);
    const prompt = contentIds(m, 'good film day');
    expect(prompt.length).toBeGreaterThanOrEqual(2);
    const batch = m.encode!(TEXTS.map((text, k) => record(`r${k}`, { text })));
    const inputs = batch.inputs as Inputs;
    const asTokens = rows(tf.reshape(run(m, withTokensFirst(inputs, prompt)), [TEXTS.length, -1]));
    const off = e.addVirtualTokens(() => e.vocabulary!.embed(prompt));
    const y = run(m, inputs);
    const virtual = rows(tf.reshape(y, [TEXTS.length, -1]));
    const n = prompt.length;
    if (arch === 'gpt2') {
      // GPT-2 scores only the real tokens: drop the prompt positions of the as-tokens run.
      const vocab = y.shape[2]!;
      expect(y.shape).toEqual([TEXTS.length, inputs.input_ids.shape[1], vocab]);
      const sliced = asTokens.map((r) => r.slice(n * vocab));
      for (let r = 0; r < TEXTS.length; r++) expectClose(virtual[r], sliced[r], 1e-6);
    } else {
      for (let r = 0; r < TEXTS.length; r++) expectClose(virtual[r], asTokens[r], 1e-6);
    }
    // Each row alone (no padding) gives its row of the padded batch.
    for (let r = 0; r < TEXTS.length; r++) {
      const alone = run(m, m.encode!([record('x', { text: TEXTS[r] })]).inputs as Inputs);
      expectClose(Array.from(alone.dataSync()), virtual[r].slice(0, alone.size), 2e-5);
    }
    // The prompt matters: other tokens give other outputs.
    off();
    const other = e.addVirtualTokens(() => e.vocabulary!.embed(contentIds(m, 'hello')));
    const changed = rows(tf.reshape(run(m, inputs), [TEXTS.length, -1]));
    other();
    expect(Math.max(...changed[0].map((v, k) => Math.abs(v - virtual[0][k])))).toBeGreaterThan(1e-4);
  });

  // Not with gradient checkpointing: on this backend a checkpointed block's recompute reads
  // the attention mask after the forward freed it, with or without points (a bug before them).
  test('gradients reach the prompt; the base stays frozen', async () => {
    const m = await load(arch, seed);
    m.module.freeze();
    const e = m.points!.inputEmbeddings!;
    const prompt = tf.variable(tf.randomNormal([3, e.dim], 0, 0.5, 'float32', 3), true, `prompt_${arch}`);
    e.addVirtualTokens(() => prompt);
    const batch = m.encode!(TEXTS.map((text, k) => record(`r${k}`, { text, label: k % 2 ? 'pos' : 'neg' })));
    const { grads } = variableGradients(() => m.loss!(batch, true), [prompt]);
    expect(Object.keys(grads)).toEqual([prompt.name]);
    expect(Math.max(...Array.from(tf.abs(grads[prompt.name]).dataSync()))).toBeGreaterThan(1e-6);
    expect([...m.module.namedParameters()].filter(([, p]) => p.requiresGrad)).toEqual([]);
  });
}, 60000);

test('the vocabulary reads the live embedding table, and out-of-range ids and too-long prompts are named', async () => {
  const m = await load('bert', 44);
  const e = m.points!.inputEmbeddings!;
  const table = e.vocabulary!.table();
  expect(table).toBe(m.module.getParameter('bert.embeddings.word_embeddings.weight').variable);
  expect(e.vocabulary!.size).toBe(table.shape[0]);
  expect(() => e.vocabulary!.embed([e.vocabulary!.size])).toThrow(/bert\.embeddings\.word_embeddings\.weight: token id \d+ is outside the vocabulary/);
  e.addVirtualTokens(() => tf.zeros([e.maxPositions!, e.dim]));
  const batch = m.encode!([record('a', { text: 'hello' })]);
  expect(() => m.predict!(batch)).toThrow(/virtual tokens \+ \d+ tokens exceed the 16 positions of max_position_embeddings 16/);
});
