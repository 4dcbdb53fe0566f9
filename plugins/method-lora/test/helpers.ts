import { Conv1D, Linear, Module, ModuleList, tf } from '@leantune/tensor';

/** A module whose forward is given: enough to build small named trees for tests. */
export class Node extends Module {
  constructor(
    children: Record<string, Module>,
    private readonly run: (self: Node, x: tf.Tensor) => tf.Tensor = () => {
      throw new Error('no forward');
    },
  ) {
    super();
    for (const [name, child] of Object.entries(children)) this.addModule(name, child);
  }
  /** Looks the child up on every call, so an injected replacement is used. */
  call(path: string, x: tf.Tensor): tf.Tensor {
    return this.getSubmodule(path).forward(x) as tf.Tensor;
  }
  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => this.run(this, x));
  }
}

/** in → hidden → out MLP with children `fc1`, `fc2` (Linear). */
export function mlp(inF = 6, hidden = 8, out = 4): Node {
  return new Node({ fc1: new Linear(inF, hidden), fc2: new Linear(hidden, out) }, (s, x) => s.call('fc2', tf.relu(s.call('fc1', x))));
}

/** GPT-2 naming: transformer.h.<i>.attn.{c_attn,c_proj}, transformer.h.<i>.mlp.{c_fc,c_proj} (Conv1D), lm_head (Linear). */
export function gpt2Like(dim = 8, layers = 2, vocab = 5): Node {
  const blocks = new ModuleList<Node>();
  for (let i = 0; i < layers; i++) {
    const attn = new Node({ c_attn: new Conv1D(3 * dim, dim), c_proj: new Conv1D(dim, dim) }, (s, x) =>
      s.call('c_proj', tf.slice(s.call('c_attn', x), [0, 0], [-1, dim])),
    );
    const mlpBlock = new Node({ c_fc: new Conv1D(2 * dim, dim), c_proj: new Conv1D(dim, 2 * dim) }, (s, x) => s.call('c_proj', tf.tanh(s.call('c_fc', x))));
    blocks.append(new Node({ attn, mlp: mlpBlock }, (s, x) => tf.add(x, s.call('mlp', tf.add(x, s.call('attn', x))))));
  }
  const transformer = new Node({ h: blocks }, (s, x) => {
    let h = x;
    for (let i = 0; i < layers; i++) h = s.call(`h.${i}`, h);
    return h;
  });
  return new Node({ transformer, lm_head: new Linear(dim, vocab, { bias: false }) }, (s, x) => s.call('lm_head', s.call('transformer', x)));
}

export function values(t: tf.Tensor): number[] {
  return Array.from(t.dataSync());
}

export function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

/** Plain-JS matrix helpers, independent of the code under test. */
export function toRows(t: tf.Tensor): number[][] {
  const [r, c] = t.shape;
  const v = values(t);
  return Array.from({ length: r }, (_, i) => v.slice(i * c, (i + 1) * c));
}

export function mm(a: number[][], b: number[][]): number[][] {
  return a.map((row) => b[0].map((_, j) => row.reduce((acc, x, k) => acc + x * b[k][j], 0)));
}

export function tr(a: number[][]): number[][] {
  return a[0].map((_, j) => a.map((row) => row[j]));
}

export function randn(shape: number[], seed: number): tf.Tensor {
  return tf.randomNormal(shape, 0, 1, 'float32', seed);
}
