import * as tf from '@tensorflow/tfjs-core';
import type { Module } from './module';
import { customOp } from './ops/fused';
import { restoreSeedState, seedState } from './random';

interface EngineState {
  state: { gradientDepth: number };
  gradients(f: () => tf.Tensor, xs: tf.Tensor[], dy?: tf.Tensor, allowNoGradients?: boolean): { value: tf.Tensor; grads: Array<tf.Tensor | null> };
}

function recording(): boolean {
  return (tf.engine() as unknown as EngineState).state.gradientDepth > 0;
}

/**
 * Activation checkpointing of one block (torch.utils.checkpoint, transformers'
 * gradient_checkpointing): the forward keeps only the block's input; the backward runs the
 * block again, with the same dropout seeds, and differentiates that. Trades one extra
 * forward per block for the block's activations. `block`'s trainable parameters get their
 * gradients through this op; outside a gradient computation it is a plain call.
 *
 * `context` holds the other tensors the block reads (an attention mask): they are saved with
 * the input and handed to `run` again in the backward, because the caller's own copies are
 * freed once the forward's scope ends. `run` must read them from its second argument.
 */
export function checkpointBlock(block: Module, x: tf.Tensor, run: (input: tf.Tensor, context: tf.Tensor[]) => tf.Tensor, context: tf.Tensor[] = []): tf.Tensor {
  if (!recording()) return run(x, context);
  const params = [...block.namedParameters()].filter(([, p]) => p.requiresGrad).map(([, p]) => p.variable);
  const seeds = seedState();
  return customOp([x, ...params], ([input], save) => {
    save([input, ...context]);
    return {
      value: run(input, context),
      gradFunc: (dy, saved) => {
        const resume = seedState();
        restoreSeedState(seeds);
        try {
          const engine = tf.engine() as unknown as EngineState;
          const { value, grads } = engine.gradients(() => run(saved[0], saved.slice(1)), [saved[0], ...params], dy, true);
          value.dispose();
          return grads.map((g, i) => g ?? tf.zerosLike(i === 0 ? saved[0] : params[i - 1]));
        } finally {
          restoreSeedState(resume);
        }
      },
    };
  });
}
