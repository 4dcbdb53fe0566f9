import { tf } from '@leantune/tensor';
import {
  TIMING_RATES_NAME,
  USE_LITE_WEIGHT_MAP,
  createUseLiteModel,
  loadPretrainedUseLite,
  locateUseLiteFiles,
  readGraphWeights,
  timingSignal,
  type UseLiteInputs,
} from '@leantune/plugin-use-lite';
import type { DataRecord, Logger } from '@leantune/core';

const records = (texts: string[], labels?: string[]): DataRecord[] =>
  texts.map((text, i) => ({ id: `r${i}`, text, label: labels?.[i], meta: { source: 'test', row: i } }));

function memoryLog(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  return { warnings, info: () => undefined, warn: (m: string) => void warnings.push(m) };
}

const graph = readGraphWeights(locateUseLiteFiles().modelJson);
const pretrained = loadPretrainedUseLite();
afterAll(() => pretrained.encoder.dispose());

describe('weights from the shipped graph', () => {
  it('maps every float32 matrix/vector constant of the graph, and nothing twice', () => {
    const mapped = new Set(USE_LITE_WEIGHT_MAP.map((m) => m.graph));
    expect(mapped.size).toBe(USE_LITE_WEIGHT_MAP.length);
    const floats = [...graph.values()].filter((w) => w.dtype === 'float32' && w.shape.length > 0 && w.name !== TIMING_RATES_NAME);
    expect(floats.map((w) => w.name).sort()).toEqual([...mapped].sort());
    const own = [...pretrained.encoder.namedParameters()].reduce((n, [, p]) => n + p.size, 0);
    expect(own).toBe(floats.reduce((n, w) => n + w.data.length, 0));
    expect(own).toBeGreaterThan(6.5e6);
  });

  it('has stable, documented parameter names and shapes', () => {
    const shapes = Object.fromEntries([...pretrained.encoder.namedParameters()].map(([k, p]) => [k, p.shape]));
    expect(shapes).toMatchObject({
      'embeddings.word_embeddings.weight': [8002, 256],
      'encoder.layer.0.attention_norm.weight': [256],
      'encoder.layer.0.attention.q.weight': [256, 256],
      'encoder.layer.0.attention.v.bias': [256],
      'encoder.layer.0.attention.o.weight': [512, 256],
      'encoder.layer.0.residual_proj.weight': [512, 256],
      'encoder.layer.0.ffn_norm.weight': [512],
      'encoder.layer.0.ffn.fc1.weight': [1536, 512],
      'encoder.layer.1.attention.k.weight': [512, 512],
      'encoder.layer.1.attention.o.weight': [512, 512],
      'encoder.layer.1.ffn.fc2.weight': [512, 1536],
      'pooler.dense.weight': [512, 512],
    });
    // embeddings 1; layer 0: 2 norms, q/k/v/o, residual_proj, fc1/fc2 (9 modules × 2); layer 1: 8 × 2; pooler 2.
    expect(Object.keys(shapes)).toHaveLength(1 + 18 + 16 + 2);
  });

  it('splits the fused qkv kernel column-wise and transposes to [out, in]', () => {
    const kernel = graph.get('module/Encoder_en/KonaTransformer/Encode/Layer_1/TransformerLayer/MultiheadAttention/qkv_transform_single/kernel/part_0')!;
    const v = pretrained.encoder.getParameter('encoder.layer.1.attention.v.weight').variable.arraySync() as number[][];
    // kernel[0,0,i,j] with j in the third block is v's weight[j - 1024][i].
    for (const [i, j] of [[0, 1024], [7, 1500], [511, 1535]]) expect(v[j - 1024][i]).toBe(kernel.data[i * 1536 + j]);
  });

  it('computes the same sinusoid rates as the graph constant', () => {
    const rates = graph.get(TIMING_RATES_NAME)!.data;
    const table = timingSignal(101, 256);
    const row = (table.arraySync() as number[][])[100];
    table.dispose();
    for (let i = 0; i < 128; i++) {
      expect(row[i]).toBeCloseTo(Math.sin(100 * rates[i]), 4);
      expect(row[128 + i]).toBeCloseTo(Math.cos(100 * rates[i]), 4);
    }
  });

  it('loads without leaking tensors, and dispose frees everything it made', () => {
    const before = tf.memory().numTensors;
    const { encoder } = loadPretrainedUseLite();
    const params = [...encoder.namedParameters()].length;
    expect(tf.memory().numTensors - before).toBe(params + 1); // + the timing table
    encoder.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('names the missing file when the weights folder is wrong', () => {
    expect(() => loadPretrainedUseLite('/nonexistent/use-lite')).toThrow(/use-lite: cannot read \/nonexistent\/use-lite\/vocab\.json/);
  });
});

describe('the loaded model', () => {
  it('encodes with padding, an attention mask, label targets, and one truncation warning', () => {
    const log = memoryLog();
    const model = createUseLiteModel(pretrained.encoder, pretrained.tokenizer, { head: 'classification', labels: ['neg', 'pos'], maxLength: 4, log });
    const batch = model.encode!(records(['Hello world.', 'I love 42 cats, 3.14 pies', 'ok', 'one two three four five'], ['pos', 'neg', 'pos', 'neg']));
    const { ids, attentionMask } = batch.inputs as unknown as UseLiteInputs;
    expect(ids.shape).toEqual([4, 4]);
    expect(ids.dtype).toBe('int32');
    expect(ids.arraySync()[0]).toEqual([341, 4125, 311, 6]);
    expect(attentionMask.arraySync()[2]).toEqual([1, 0, 0, 0]);
    expect(batch.targets!.arraySync()).toEqual([1, 0, 1, 0]);
    expect(log.warnings).toHaveLength(1);
    expect(log.warnings[0]).toMatch(/2 of 4 texts are longer than maxLength 4 tokens .* truncated: r1, r3/);
    tf.dispose([ids, attentionMask, batch.targets!]);
    expect(() => model.encode!(records(['x'], ['maybe']))).toThrow(/record "r0" has label "maybe", not one of the model's labels: neg, pos/);
  });

  it('counts truncation over every batch: the first warns, the model\'s total counts them all', () => {
    const log = memoryLog();
    const model = createUseLiteModel(pretrained.encoder, pretrained.tokenizer, { head: 'embedding', maxLength: 4, log });
    const dispose = (b: { inputs: unknown }) => tf.dispose(Object.values(b.inputs as Record<string, tf.Tensor>));
    dispose(model.encode!(records(['ok', 'one two three four five'])));
    dispose(model.encode!(records(['a b c d e f', 'six seven eight nine ten eleven', 'fine'])));
    expect(log.warnings).toHaveLength(1);
    expect(log.warnings[0]).toMatch(/1 of 2 texts are longer than maxLength 4 tokens/);
    // Distinct texts: 5 seen, 3 of them cut.
    expect(model.truncation!()).toEqual({ texts: 3, of: 5, maxLength: 4, longest: expect.any(Number) });
  });

  it('cuts a text longer than maxLength × 32 characters before tokenising: same ids as the whole text, counted in the total', () => {
    const log = memoryLog();
    const model = createUseLiteModel(pretrained.encoder, pretrained.tokenizer, { head: 'embedding', maxLength: 8, log });
    const long = 'The quick brown fox jumps over the lazy dog. '.repeat(20); // 900 characters, over 8 × 32
    const whole = pretrained.tokenizer.encode(long).slice(0, 8);
    const batch = model.encode!(records([long, 'short']));
    expect((batch.inputs as unknown as UseLiteInputs).ids.arraySync()[0]).toEqual(whole);
    tf.dispose(Object.values(batch.inputs as Record<string, tf.Tensor>));
    expect(log.warnings[0]).toMatch(/1 of 2 texts are longer than maxLength 8 tokens .* \(1 of them longer than 256 characters, cut to that before tokenising\): r0/);
    expect(model.truncation!()).toEqual({ texts: 1, of: 2, maxLength: 8, longest: expect.any(Number), cutBeforeTokenising: 1, charLimit: 256 });
  });

  it('embedding head: predict gives unit vectors; padding does not change a text\'s embedding', () => {
    const model = createUseLiteModel(pretrained.encoder, pretrained.tokenizer, { head: 'embedding', maxLength: 128, log: memoryLog() });
    expect(model.loss).toBeUndefined();
    const alone = model.encode!(records(['Hello world.']));
    const padded = model.encode!(records(['Hello world.', 'a much longer sentence that forces padding of the first']));
    const a = model.predict!(alone);
    const b = model.predict!(padded);
    expect(b.shape).toEqual([2, 512]);
    const rowA = (a.arraySync() as number[][])[0];
    const rowB = (b.arraySync() as number[][])[0];
    expect(Math.hypot(...rowA)).toBeCloseTo(1, 5);
    rowA.forEach((v, i) => expect(rowB[i]).toBeCloseTo(v, 5));
    tf.dispose([a, b, ...Object.values(alone.inputs), ...Object.values(padded.inputs)]);
  });

  it('classification head: softmax probabilities and a cross-entropy loss with gradients for q, v and the classifier', () => {
    const model = createUseLiteModel(pretrained.encoder, pretrained.tokenizer, { head: 'classification', labels: ['a', 'b', 'c'], maxLength: 16, log: memoryLog() });
    const batch = model.encode!(records(['good film', 'bad day'], ['a', 'c']));
    const probs = model.predict!(batch);
    const p = probs.arraySync() as number[][];
    expect(probs.shape).toEqual([2, 3]);
    p.forEach((row) => expect(row.reduce((s, x) => s + x, 0)).toBeCloseTo(1, 5));
    // Cross-entropy from those very probabilities, computed here independently.
    const expected = -(Math.log(p[0][0]) + Math.log(p[1][2])) / 2;
    const before = tf.memory().numTensors;
    const paths = ['encoder.layer.1.attention.q.weight', 'encoder.layer.0.attention.v.weight', 'classifier.weight'];
    const vars = paths.map((k) => pretrained.encoder.getParameter(k).variable);
    const { value, grads } = tf.variableGrads(() => model.loss!(batch, true), vars);
    expect(value.dataSync()[0]).toBeCloseTo(expected, 4);
    for (const path of paths) {
      const g = grads[pretrained.encoder.getParameter(path).variable.name];
      const norm = tf.tidy(() => tf.norm(g).dataSync()[0]);
      expect({ path, ok: Number.isFinite(norm) && norm > 0 }).toEqual({ path, ok: true });
    }
    tf.dispose([value, ...Object.values(grads)]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([probs, ...Object.values(batch.inputs), batch.targets!]);
  });
});
