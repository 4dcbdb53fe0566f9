import { ATTENTION_NAMES, Linear, MultiHeadAttention, Module, setSeed, tf } from '@leantune/tensor';
import { expectGradientsMatchFiniteDifferences, weightedSum } from '../helpers/gradcheck';
import { expectClose, linearRef, setParameters, testValues } from '../helpers/reference';

const B = 2;
const S = 3;
const D = 4;
const H = 2;

interface RefOptions {
  keep?: number[][]; // [b][s] 1 = attend
  causal?: boolean;
}

/** Multi-head attention in plain JS; masked keys are left out of the softmax entirely. */
function attentionRef(x: number[], p: Record<string, number[]>, opts: RefOptions = {}): number[] {
  const proj = (n: string) => linearRef(x, p[`${n}.weight`], p[`${n}.bias`], B * S, D, D);
  const [q, k, v] = ['query', 'key', 'value'].map(proj);
  const hd = D / H;
  const ctx = new Array<number>(B * S * D).fill(0);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < S; i++) {
        const keys = [...Array(S).keys()].filter((j) => (opts.keep ? opts.keep[b][j] === 1 : true) && (!opts.causal || j <= i));
        const scores = keys.map((j) => {
          let s = 0;
          for (let t = 0; t < hd; t++) s += q[(b * S + i) * D + h * hd + t] * k[(b * S + j) * D + h * hd + t];
          return s / Math.sqrt(hd);
        });
        const max = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - max));
        const z = e.reduce((a, c) => a + c, 0);
        keys.forEach((j, n) => {
          for (let t = 0; t < hd; t++) ctx[(b * S + i) * D + h * hd + t] += (e[n] / z) * v[(b * S + j) * D + h * hd + t];
        });
      }
    }
  }
  return linearRef(ctx, p['output.weight'], p['output.bias'], B * S, D, D);
}

function fixedParams(): Record<string, number[]> {
  const p: Record<string, number[]> = {};
  ['query', 'key', 'value', 'output'].forEach((n, i) => {
    p[`${n}.weight`] = testValues(D * D, 10 + i);
    p[`${n}.bias`] = testValues(D, 20 + i).map((v) => v / 2);
  });
  return p;
}

describe('MultiHeadAttention', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  const x = testValues(B * S * D, 3);

  it('has Linear children named query/key/value/output (BERT) by default', () => {
    const mha = new MultiHeadAttention(D, H);
    expect([...mha.namedParameters()].map(([n]) => n)).toEqual([
      'query.weight', 'query.bias', 'key.weight', 'key.bias', 'value.weight', 'value.bias', 'output.weight', 'output.bias',
    ]);
    expect(mha.getSubmodule('query')).toBeInstanceOf(Linear);
    mha.dispose();
  });

  it('accepts a custom name map and no bias', () => {
    const mha = new MultiHeadAttention(D, H, { names: ATTENTION_NAMES.bart, bias: false });
    expect([...mha.namedParameters()].map(([n]) => n)).toEqual(['q_proj.weight', 'k_proj.weight', 'v_proj.weight', 'out_proj.weight']);
    expect(() => new MultiHeadAttention(D, H, { names: { q: 'a', k: 'a', v: 'b', o: 'c' } })).toThrow('names q, k, v, o must be distinct');
    expect(() => new MultiHeadAttention(D, 3)).toThrow('MultiHeadAttention: dim (4) must be divisible by numHeads (3)');
    mha.dispose();
  });

  it('matches a plain-JS reference without a mask', () => {
    const mha = new MultiHeadAttention(D, H);
    const p = fixedParams();
    setParameters(mha, p);
    const y = mha.forward(tf.tensor(x, [B, S, D]));
    expect(y.shape).toEqual([B, S, D]);
    expectClose(y.dataSync(), attentionRef(x, p), 1e-4);
    mha.dispose();
  });

  it('with a padding mask gives padded keys exactly zero weight and no influence', () => {
    const mha = new MultiHeadAttention(D, H);
    const p = fixedParams();
    setParameters(mha, p);
    const keep = [[1, 1, 0], [1, 1, 1]];
    const mask = tf.tensor2d(keep, [B, S], 'int32');
    const { output, weights } = mha.attend(tf.tensor(x, [B, S, D]), { attentionMask: mask });
    expectClose(output.dataSync(), attentionRef(x, p, { keep }), 1e-4);
    const w = weights.arraySync();
    for (let h = 0; h < H; h++) for (let i = 0; i < S; i++) expect(w[0][h][i][2]).toBe(0);
    // Changing the padded token's input leaves every other position's output unchanged.
    const changed = x.slice();
    for (let t = 0; t < D; t++) changed[2 * D + t] += 5;
    const y2 = mha.forward(tf.tensor(changed, [B, S, D]), { attentionMask: mask }).dataSync();
    expectClose(y2.slice(0, 2 * D), output.dataSync().slice(0, 2 * D), 1e-6);
    expect(() => mha.forward(tf.tensor(x, [B, S, D]), { attentionMask: tf.ones([B, S + 1]) })).toThrow(
      'attentionMask must be [batch, seq] = [2, 3] of 1 (keep) / 0 (pad), got [2,4]',
    );
    mha.dispose();
  });

  it('with a causal mask gives future keys exactly zero weight', () => {
    const mha = new MultiHeadAttention(D, H, { causal: true });
    const p = fixedParams();
    setParameters(mha, p);
    const { output, weights } = mha.attend(tf.tensor(x, [B, S, D]));
    expectClose(output.dataSync(), attentionRef(x, p, { causal: true }), 1e-4);
    const w = weights.arraySync();
    for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let i = 0; i < S; i++) for (let j = i + 1; j < S; j++) expect(w[b][h][i][j]).toBe(0);
    // Position 0 attends only to itself, so its weight row is [1, 0, 0].
    expect(w[1][0][0]).toEqual([1, 0, 0]);
    // The per-call option overrides the layer default.
    expectClose(mha.forward(tf.tensor(x, [B, S, D]), { causal: false }).dataSync(), attentionRef(x, p), 1e-4);
    mha.dispose();
  });

  it('uses a projection replaced through setSubmodule (as LoRA injection does)', () => {
    class Zero extends Module {
      forward(t: tf.Tensor): tf.Tensor {
        return tf.zerosLike(t);
      }
    }
    const mha = new MultiHeadAttention(D, H, { bias: false });
    mha.setSubmodule('value', new Zero());
    expect(Array.from(mha.forward(tf.tensor(x, [B, S, D])).dataSync())).toEqual(new Array(B * S * D).fill(0));
    mha.dispose();
  });

  it('has gradients that match finite differences (with padding and causal masks)', () => {
    setSeed(3);
    const mha = new MultiHeadAttention(D, H, { causal: true });
    const input = tf.variable(tf.tensor(x, [B, S, D]));
    const mask = tf.tensor2d([[1, 1, 1], [1, 1, 0]]);
    const vars = [...mha.trainableVariables().values(), input];
    expectGradientsMatchFiniteDifferences(() => weightedSum(mha.forward(input, { attentionMask: mask })), vars, { maxEntriesPerVariable: 8 });
    mha.dispose();
    input.dispose();
  });
});
