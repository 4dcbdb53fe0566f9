import * as tf from '@tensorflow/tfjs-core';
import { checkpointBlock } from '../checkpoint';
import { Module } from '../module';

/** Children named '0', '1', … as in Hugging Face paths (`h.0`, `layer.3`). */
abstract class IndexedModules<M extends Module> extends Module {
  private count = 0;

  constructor(modules: readonly M[] = []) {
    super();
    for (const m of modules) this.append(m);
  }

  append(module: M): this {
    this.addModule(String(this.count++), module);
    return this;
  }

  get length(): number {
    return this.count;
  }

  /** The current item at `index` (it may have been replaced through setSubmodule). */
  at(index: number): M {
    if (!Number.isInteger(index) || index < 0 || index >= this.count) {
      throw new Error(`${this.constructor.name}: index ${index} out of range [0, ${this.count - 1}]`);
    }
    return this.getSubmodule(String(index)) as M;
  }

  /** Keeps the first `keep` items and frees the rest (layer truncation). */
  truncate(keep: number): this {
    if (!Number.isInteger(keep) || keep < 0 || keep > this.count) {
      throw new Error(`${this.constructor.name}: cannot keep ${keep} of ${this.count} items; keep must be an integer in [0, ${this.count}]`);
    }
    for (let i = keep; i < this.count; i++) this.removeModule(String(i))?.dispose();
    this.count = keep;
    return this;
  }

  *[Symbol.iterator](): IterableIterator<M> {
    for (let i = 0; i < this.count; i++) yield this.at(i);
  }

}

/** An indexed list with no forward of its own: the owner decides how to call the items. */
export class ModuleList<M extends Module = Module> extends IndexedModules<M> {
  forward(): never {
    throw new Error('ModuleList has no forward; iterate its items, or use Sequential to chain them');
  }
}

/**
 * The stack of transformer blocks a model runs one after the other. `chain` runs them, each
 * under activation checkpointing when `gradientCheckpointing` is on (Module.
 * setGradientCheckpointing turns it on for every block stack in a tree).
 */
export class BlockStack<M extends Module = Module> extends ModuleList<M> {
  gradientCheckpointing = false;

  /**
   * h ← step(block, h, context) for each block in order. `context`: other tensors the blocks
   * read (an attention mask); under checkpointing they are saved for the recompute, so
   * `step` must take them from its third argument, not from its closure.
   */
  chain(x: tf.Tensor, step: (block: M, h: tf.Tensor, context: tf.Tensor[]) => tf.Tensor, context: tf.Tensor[] = []): tf.Tensor {
    let h = x;
    for (const block of this) h = this.gradientCheckpointing ? checkpointBlock(block, h, (input, ctx) => step(block, input, ctx), context) : step(block, h, context);
    return h;
  }
}

/**
 * Turns activation checkpointing on or off for every block stack in `root`'s tree; returns
 * how many stacks there are (0: the model cannot checkpoint; its blocks are not in a BlockStack).
 */
export function setGradientCheckpointing(root: Module, on: boolean): number {
  let stacks = 0;
  for (const [, m] of root.namedModules()) {
    if (m instanceof BlockStack) {
      m.gradientCheckpointing = on;
      stacks++;
    }
  }
  return stacks;
}

/** Chains its items: forward(x) = items[n-1](…items[0](x)). */
export class Sequential extends IndexedModules<Module> {
  constructor(...modules: Module[]) {
    super(modules);
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      let h = x;
      for (const m of this) h = m.forward(h) as tf.Tensor;
      return h;
    });
  }
}
