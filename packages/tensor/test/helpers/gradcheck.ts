import { tf } from '@leantune/tensor';

export interface GradientCheckOptions {
  /** Central-difference step; float32 needs a large one (round-off ~ 1e-7·|f| / eps). */
  eps?: number;
  rtol?: number;
  atol?: number;
  /** Checks at most this many entries per variable (spread evenly), to keep tests fast. */
  maxEntriesPerVariable?: number;
}

/**
 * Compares tfjs's analytic gradients of the scalar `fn` with respect to each variable
 * against central finite differences (f(v+eps) - f(v-eps)) / 2eps, entry by entry.
 * `fn` must be deterministic (seed any dropout inside it). Variables are restored after.
 */
export function expectGradientsMatchFiniteDifferences(
  fn: () => tf.Scalar,
  variables: tf.Variable[],
  options: GradientCheckOptions = {},
): void {
  const { eps = 1e-2, rtol = 5e-2, atol = 5e-3, maxEntriesPerVariable = 64 } = options;
  const evaluate = (): number => tf.tidy(() => fn().dataSync()[0]);
  const { grads, value } = tf.variableGrads(fn, variables);
  value.dispose();
  const mismatches: string[] = [];
  let checked = 0;
  for (const variable of variables) {
    const analytic = grads[variable.name] ? grads[variable.name].dataSync() : new Float32Array(variable.size);
    const original = variable.dataSync().slice();
    const stride = Math.max(1, Math.floor(original.length / maxEntriesPerVariable));
    for (let i = 0; i < original.length; i += stride) {
      const perturbed = original.slice();
      perturbed[i] = original[i] + eps;
      tf.tidy(() => variable.assign(tf.tensor(perturbed, variable.shape)));
      const plus = evaluate();
      perturbed[i] = original[i] - eps;
      tf.tidy(() => variable.assign(tf.tensor(perturbed, variable.shape)));
      const minus = evaluate();
      const numeric = (plus - minus) / (2 * eps);
      const diff = Math.abs(numeric - analytic[i]);
      checked++;
      if (diff > atol + rtol * Math.max(Math.abs(numeric), Math.abs(analytic[i]))) {
        mismatches.push(`${variable.name}[${i}]: analytic ${analytic[i]}, numeric ${numeric}`);
      }
    }
    tf.tidy(() => variable.assign(tf.tensor(original, variable.shape)));
  }
  tf.dispose(Object.values(grads));
  expect(checked).toBeGreaterThan(0);
  expect(mismatches).toEqual([]);
}

/** A scalar loss Σ y·w with fixed pseudo-random w, so no gradient cancels by symmetry. */
export function weightedSum(y: tf.Tensor, salt = 1): tf.Scalar {
  const w = new Float32Array(y.size);
  for (let i = 0; i < w.length; i++) w[i] = Math.sin(1.7 * i + salt) + 0.5;
  return tf.sum(tf.mul(y, tf.tensor(w, y.shape)));
}
