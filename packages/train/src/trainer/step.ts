import { tf, variableGradients } from '@leantune/tensor';
import { clipGradNorm, globalNorm, GradientAccumulator } from '../gradients';
import { IndexedDataset } from '../data';
import { Optimizer } from '../optim/optimizer';
import { deriveSeed } from '../random';
import { StepContext } from './types';

export interface StepInputs<B> {
  dataset: IndexedDataset<B>;
  loss: (batch: B, training: boolean, ctx: StepContext) => tf.Scalar;
  /** Trainable variables by dotted path. */
  params: Map<string, tf.Variable>;
  optimizer: Optimizer;
  microBatches: number[][];
  step: number;
  epoch: number;
  seed: number;
  lr: number;
  clipNorm?: number;
  seedRandomOps?: (seed: number) => void;
}

export interface StepOutcome {
  /** Mean of the micro-batch losses. */
  loss: number;
  gradNorm: number;
}

/**
 * One optimizer step: loss and gradients of each micro-batch (w.r.t. the trainable
 * variables only), their mean, clipping, update. Every tensor made here is freed here.
 */
export function trainStep<B>(inputs: StepInputs<B>): StepOutcome {
  const { params, step, epoch, seed } = inputs;
  const vars = [...params.values()];
  const pathOf = new Map([...params].map(([p, v]) => [v.name, p]));
  const accum = new GradientAccumulator();
  let lossSum = 0;
  try {
    inputs.microBatches.forEach((indices, microBatch) => {
      const ctx: StepContext = { step, epoch, microBatch, seed: deriveSeed(seed, step, microBatch) };
      // A separate stream for layer-drawn randomness (dropout), fixed by the same position.
      inputs.seedRandomOps?.(deriveSeed(seed, step, microBatch, 1));
      const { value, grads } = tf.tidy(() => {
        const batch = inputs.dataset.getBatch(indices);
        return variableGradients(() => inputs.loss(batch, true, ctx), vars);
      });
      const lossValue = value.dataSync()[0];
      value.dispose();
      const named = new Map<string, tf.Tensor>();
      for (const [varName, g] of Object.entries(grads)) named.set(pathOf.get(varName) as string, g);
      try {
        if (!Number.isFinite(lossValue)) {
          throw new Error(`Loss is ${lossValue} at step ${step} (epoch ${epoch}, micro-batch ${microBatch}); lower the learning rate, set clipNorm, or check the data`);
        }
        accum.add(named);
      } finally {
        tf.dispose([...named.values()]);
      }
      lossSum += lossValue;
    });
    const mean = accum.takeMean();
    let grads = mean;
    let gradNorm: number;
    if (inputs.clipNorm !== undefined) {
      const clipped = clipGradNorm(mean, inputs.clipNorm);
      tf.dispose([...mean.values()]);
      grads = clipped.grads;
      gradNorm = clipped.totalNorm;
    } else {
      gradNorm = globalNorm(mean);
    }
    try {
      inputs.optimizer.step(grads, inputs.lr);
    } finally {
      tf.dispose([...grads.values()]);
    }
    return { loss: lossSum / inputs.microBatches.length, gradNorm };
  } finally {
    accum.reset();
  }
}
