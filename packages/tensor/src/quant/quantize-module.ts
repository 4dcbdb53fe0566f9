import * as tf from '@tensorflow/tfjs-core';
import { Conv1D, Linear } from '../layers/linear';
import type { Module } from '../module';
import type { QuantFormat, QuantizeSpec } from './quantized-weight';

export interface QuantizeModuleReport {
  format: QuantFormat;
  doubleQuant: boolean;
  /** Dotted paths of the weights now stored quantized. */
  quantized: string[];
  /** Elements in those weights. */
  elements: number;
  /** Their bytes as fp32 before, and packed after (codes + scales). */
  bytesBefore: number;
  bytesAfter: number;
  /** Frozen Linear/Conv1D weights left in fp32, with the reason (e.g. the variable is shared). */
  skipped: Array<{ path: string; reason: string }>;
}

/**
 * Stores every frozen Linear and Conv1D weight of the tree quantized (`model.quantize`):
 * embeddings, norms, biases and every parameter that requires a gradient stay fp32. A
 * weight whose variable another parameter also holds (tied weights) is left as it is and
 * reported, since freeing it would free the other one too. Run it after the trainable set
 * is chosen: the weights of LoRA's base layers are frozen then, its A/B matrices are not.
 */
export function quantizeModule(root: Module, spec: QuantizeSpec): QuantizeModuleReport {
  const report: QuantizeModuleReport = { format: spec.type, doubleQuant: spec.doubleQuant === true, quantized: [], elements: 0, bytesBefore: 0, bytesAfter: 0, skipped: [] };
  const holders = new Map<tf.Variable, number>();
  for (const [, p] of root.namedParameters()) {
    if (!p.quantized) holders.set(p.variable, (holders.get(p.variable) ?? 0) + 1);
  }
  for (const [path, m] of root.namedModules()) {
    if (!(m instanceof Linear) && !(m instanceof Conv1D)) continue;
    const p = m.getParameter('weight');
    const where = path ? `${path}.weight` : 'weight';
    if (p.requiresGrad || p.quantized) continue;
    if ((holders.get(p.variable) ?? 0) > 1) {
      report.skipped.push({ path: where, reason: 'its variable is shared with another parameter (tied weights)' });
      continue;
    }
    const before = p.bytes;
    p.quantize(spec, m instanceof Conv1D ? 'in-out' : 'out-in');
    report.quantized.push(where);
    report.elements += p.size;
    report.bytesBefore += before;
    report.bytesAfter += p.bytes;
  }
  return report;
}
