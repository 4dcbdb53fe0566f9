import * as tf from '@tensorflow/tfjs-core';
import { Conv1D, Linear } from '../layers/linear';
import type { Module, Parameter } from '../module';
import { quantizeWeight, type QuantFormat, type QuantizeSpec, type WeightLayout } from './quantized-weight';

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

/** How a weight was stored before dequantizeModule gave it back its fp32 variable. */
export interface QuantizedOrigin {
  spec: QuantizeSpec;
  layout: WeightLayout;
}

/**
 * Gives every quantized weight of the tree an fp32 variable again, holding its dequantized
 * values (for a merge: LoRA deltas then add to exact fp32 values). Returns how each one was
 * stored, keyed by Parameter (paths change when a method unloads), for requantizeModule.
 */
export function dequantizeModule(root: Module): Map<Parameter, QuantizedOrigin> {
  const origins = new Map<Parameter, QuantizedOrigin>();
  for (const [, p] of root.namedParameters()) {
    const q = p.dequantizeInPlace();
    if (q) origins.set(p, { spec: { type: q.format, doubleQuant: q.doubleQuant != null }, layout: q.sourceLayout });
  }
  return origins;
}

export interface RequantizeReport {
  /** Each weight's ‖Q(W) − W‖ / ‖W‖, by dotted path. */
  weights: Array<{ path: string; relativeError: number }>;
  /** Over all of them: √(Σ‖Q(W) − W‖²) / √(Σ‖W‖²). */
  relativeError: number;
  maxRelativeError: number;
}

/**
 * Quantizes again, in its original format, each weight dequantizeModule restored (e.g. after
 * a merge), leaving it an fp32 variable that holds the requantized values (what a reload
 * with the same model.quantize gives), and reports the error the requantization added.
 */
export function requantizeModule(root: Module, origins: ReadonlyMap<Parameter, QuantizedOrigin>): RequantizeReport {
  const report: RequantizeReport = { weights: [], relativeError: 0, maxRelativeError: 0 };
  let num = 0;
  let den = 0;
  for (const [path, p] of root.namedParameters()) {
    const origin = origins.get(p);
    if (!origin || p.quantized) continue;
    const v = p.variable;
    const requantized = quantizeWeight(v, origin.spec, origin.layout);
    const [d2, w2] = tf.tidy(() => {
      const back = requantized.toTensor();
      const d = tf.sum(tf.square(tf.sub(back, v))).dataSync()[0];
      const w = tf.sum(tf.square(v)).dataSync()[0];
      v.assign(back);
      return [d, w];
    });
    const relativeError = w2 > 0 ? Math.sqrt(d2 / w2) : 0;
    report.weights.push({ path, relativeError });
    report.maxRelativeError = Math.max(report.maxRelativeError, relativeError);
    num += d2;
    den += w2;
  }
  report.relativeError = den > 0 ? Math.sqrt(num / den) : 0;
  return report;
}

/** Fresh fp32 tensors of every quantized weight's dequantized values, by dotted path (the caller disposes them). */
export function dequantizedStateDict(root: Module): Map<string, tf.Tensor> {
  const out = new Map<string, tf.Tensor>();
  for (const [path, p] of root.namedParameters()) if (p.quantized) out.set(path, p.dequantize());
  return out;
}
