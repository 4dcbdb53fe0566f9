import fs from 'node:fs';
import { Node, gpt2Like, linear, mm, randn, snapshot, tempDir, textRecords, toRows, tr, values } from '@leantune/testing';
import { Linear, tf } from '@leantune/tensor';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('test fixtures', () => {
  it('gpt2Like names its parameters as GPT-2 does, with c_attn only when asked', () => {
    const plain = gpt2Like(4, 1);
    expect([...plain.namedParameters()].map(([p, v]) => `${p}:${v.shape}`)).toEqual([
      'transformer.h.0.attn.c_proj.weight:4,4',
      'transformer.h.0.attn.c_proj.bias:4',
      'transformer.h.0.mlp.c_fc.weight:4,8',
      'transformer.h.0.mlp.c_fc.bias:8',
      'transformer.h.0.mlp.c_proj.weight:8,4',
      'transformer.h.0.mlp.c_proj.bias:4',
      'lm_head.weight:3,4',
    ]);
    const fused = gpt2Like(4, 2, { vocab: 5, fusedQkv: true });
    expect(fused.getParameter('transformer.h.1.attn.c_attn.weight').shape).toEqual([4, 12]);
    expect(fused.getParameter('lm_head.weight').shape).toEqual([5, 4]);
    const out = fused.forward(tf.ones([2, 4]));
    expect(out.shape).toEqual([2, 5]);
    tf.dispose(out);
    plain.dispose();
    fused.dispose();
  });

  it('Node forwards through children looked up at call time, and has no forward by default', () => {
    const dense = new Linear(2, 2);
    const node = new Node({ dense }, (s, x) => s.call('dense', x));
    const replacement = new Linear(2, 2, { bias: false });
    replacement.loadStateDict({ weight: tf.tensor2d([[0, 1], [1, 0]]) });
    node.setSubmodule('dense', replacement);
    const out = node.forward(tf.tensor2d([[3, 4]]));
    expect(toRows(out)).toEqual([[4, 3]]);
    tf.dispose(out);
    expect(() => new Node({}).forward(tf.zeros([1]))).toThrow('no forward');
    node.dispose();
    dense.dispose();
  });

  it('the plain-JS matrix helpers compute by hand-checked values', () => {
    expect(mm([[1, 2], [3, 4]], [[5], [6]])).toEqual([[17], [39]]);
    expect(tr([[1, 2, 3]])).toEqual([[1], [2], [3]]);
    // x·Wᵀ + b: [1,2]·[[1,0],[1,1]]ᵀ + [10,20] = [1+10, 3+20]
    expect(linear([[1, 2]], [[1, 0], [1, 1]], [10, 20])).toEqual([[11, 23]]);
    const t = tf.tensor2d([[1, 2, 3], [4, 5, 6]]);
    expect(toRows(t)).toEqual([[1, 2, 3], [4, 5, 6]]);
    expect(values(t)).toEqual([1, 2, 3, 4, 5, 6]);
    t.dispose();
  });

  it('randn is seeded, snapshot copies values out, tempDir makes a fresh folder', () => {
    const a = randn([3], 1);
    const b = randn([3], 1);
    expect(values(a)).toEqual(values(b));
    tf.dispose([a, b]);
    const layer = new Linear(1, 1);
    layer.loadStateDict({ weight: tf.tensor2d([[2]]), bias: tf.tensor1d([3]) });
    const before = snapshot(layer);
    layer.loadStateDict({ bias: tf.tensor1d([5]) });
    expect(before).toEqual([['weight', [2]], ['bias', [3]]]);
    layer.dispose();
    const dir = tempDir('fixtures');
    expect(fs.readdirSync(dir)).toEqual([]);
    expect(dir).toMatch(/leantune-fixtures-/);
    fs.rmSync(dir, { recursive: true });
    expect(textRecords().map((r) => r.label)).toEqual(['neg', 'pos', 'neg', 'pos']);
  });
});
