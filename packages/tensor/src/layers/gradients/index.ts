import * as tf from '@tensorflow/tfjs-core';
import { elementwiseGradients } from './elementwise';
import { structuralGradients } from './structural';

/**
 * tfjs-core's CommonJS build (the one Node loads) registers kernels but no gradients:
 * the `@tensorflow/tfjs` union package registers them from tfjs-core's ESM-only files,
 * which Node cannot `require`. Without this, every tf.grad/variableGrads fails with
 * "gradient function not found for <Kernel>". These are ports of the configs our layers,
 * losses and optimizers need; a kernel not listed still fails with that message.
 * Existing registrations are kept, so loading the real ones first wins.
 */
export function registerLayerGradients(): number {
  let added = 0;
  for (const config of [...elementwiseGradients, ...structuralGradients]) {
    if (tf.getGradient(config.kernelName) != null) continue;
    tf.registerGradient(config);
    added++;
  }
  return added;
}

registerLayerGradients();
