import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { DataRecord } from '@leantune/core';
import { Conv1D, Linear, Module, ModuleList, tf } from '@leantune/tensor';

export const quiet = { info: () => {}, warn: () => {} };

export function tempDir(name: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `leantune-${name}-`));
}

/** A module whose forward is given; children are looked up per call so a wrapper takes effect. */
export class Node extends Module {
  constructor(children: Record<string, Module>, private readonly run: (self: Node, x: tf.Tensor) => tf.Tensor) {
    super();
    for (const [name, child] of Object.entries(children)) this.addModule(name, child);
  }
  call(p: string, x: tf.Tensor): tf.Tensor {
    return this.getSubmodule(p).forward(x) as tf.Tensor;
  }
  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => this.run(this, x));
  }
}

/** GPT-2 naming: transformer.h.<i>.attn.c_proj, transformer.h.<i>.mlp.{c_fc,c_proj} (Conv1D). */
export function gpt2Like(dim = 8, layers = 2): Node {
  const blocks = new ModuleList<Node>();
  for (let i = 0; i < layers; i++) {
    const attn = new Node({ c_proj: new Conv1D(dim, dim) }, (s, x) => s.call('c_proj', tf.tanh(x)));
    const mlp = new Node({ c_fc: new Conv1D(2 * dim, dim), c_proj: new Conv1D(dim, 2 * dim) }, (s, x) => s.call('c_proj', tf.tanh(s.call('c_fc', x))));
    blocks.append(new Node({ attn, mlp }, (s, x) => tf.add(x, s.call('mlp', tf.add(x, s.call('attn', x))))));
  }
  const transformer = new Node({ h: blocks }, (s, x) => {
    let h = x;
    for (let i = 0; i < layers; i++) h = s.call(`h.${i}`, h);
    return h;
  });
  return new Node({ transformer, lm_head: new Linear(dim, 3, { bias: false }) }, (s, x) => s.call('lm_head', s.call('transformer', x)));
}

export function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

export function randn(shape: number[], seed: number): tf.Tensor {
  return tf.randomNormal(shape, 0, 1, 'float32', seed);
}

export function snapshot(m: Module): Array<[string, number[]]> {
  return [...m.namedParameters()].map(([p, v]) => [p, Array.from(v.variable.dataSync())]);
}

export function textRecords(): DataRecord[] {
  return ['good film', 'bad day', 'hello world', 'the dog'].map((text, i) => ({ id: `r${i}`, text, label: ['neg', 'pos'][i % 2], meta: { source: 'test', row: i } }));
}

/** Plain-JS matrix helpers, independent of the code under test. */
export function rows(t: tf.Tensor): number[][] {
  const [r, c] = t.shape;
  const v = Array.from(t.dataSync());
  return Array.from({ length: r }, (_, i) => v.slice(i * c, (i + 1) * c));
}

/** x·Wᵀ + b with W [out, in] (PyTorch Linear layout). */
export function linear(x: number[][], w: number[][], b?: number[]): number[][] {
  return x.map((row) => w.map((wr, o) => wr.reduce((acc, wv, k) => acc + wv * row[k], b ? b[o] : 0)));
}
