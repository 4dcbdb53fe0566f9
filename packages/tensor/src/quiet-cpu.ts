import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';

/**
 * The cpu backend prints "looks like you are running TensorFlow.js in Node.js … install our
 * node backend" on its first tensor. Backend choice is ours (initBackend records and
 * prints it), so the advice is noise in every log; mark the backend as already used.
 */
export function silenceCpuBanner(): void {
  const cpu = tf.findBackend('cpu') as { firstUse?: boolean } | null;
  if (cpu && 'firstUse' in cpu) cpu.firstUse = false;
}

silenceCpuBanner();
