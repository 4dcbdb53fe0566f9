import { tf } from '@leantune/tensor';

/**
 * Optimizer state in the PyTorch layout: a step count, plus one tensor per (parameter,
 * field) keyed `<param path>.<field>` (e.g. `h.0.attn.c_attn.weight.exp_avg`).
 * `paramSteps` is PyTorch's per-parameter `state['step']`: a parameter that got no gradient
 * in some step was skipped, so its bias correction lags the global count.
 */
export interface OptimizerStateDict {
  step: number;
  paramSteps: Record<string, number>;
  tensors: Map<string, tf.Tensor>;
}

export interface Optimizer {
  readonly name: string;
  /** Number of `step` calls so far. */
  readonly stepCount: number;
  /** Applies one update; parameters absent from `grads` are skipped, as PyTorch skips `grad is None`. */
  step(grads: Map<string, tf.Tensor>, lr: number): void;
  /** The live state tensors (not copies): read or save them before the next step. */
  stateDict(): OptimizerStateDict;
  /** Replaces the whole state with copies of the given tensors, after validating every key. */
  loadStateDict(state: OptimizerStateDict, source?: string): void;
  dispose(): void;
}

function checkNonNegative(value: number, field: string, where: string): void {
  if (!(Number.isFinite(value) && value >= 0)) {
    throw new Error(`${where}: ${field} must be a finite number >= 0, got ${value}`);
  }
}

export function checkRange01(value: number, field: string, where: string): void {
  if (!(value >= 0 && value < 1)) throw new Error(`${where}: ${field} must be in [0, 1), got ${value}`);
}

/**
 * Shared bookkeeping: the parameter set, lazily created per-parameter state variables
 * (state exists only once a parameter got its first gradient, as in PyTorch), per-parameter
 * step counts, and the validation of gradients and loaded state.
 */
export abstract class ParamOptimizer implements Optimizer {
  abstract readonly name: string;
  protected abstract readonly stateFields: readonly string[];
  stepCount = 0;
  protected readonly paramSteps = new Map<string, number>();
  private readonly state = new Map<string, tf.Variable>();

  constructor(protected readonly params: Map<string, tf.Variable>) {
    if (params.size === 0) throw new Error(`${new.target.name}: no trainable parameters given; unfreeze some first`);
  }

  /** Updates one parameter in place; runs inside tf.tidy. `t` is its 1-based step. */
  protected abstract update(name: string, param: tf.Variable, grad: tf.Tensor, lr: number, t: number): void;

  step(grads: Map<string, tf.Tensor>, lr: number): void {
    checkNonNegative(lr, 'lr', `${this.name}.step`);
    for (const [name, grad] of grads) {
      const param = this.params.get(name);
      if (!param) throw new Error(`${this.name}.step: gradient for unknown parameter "${name}"; only trainable parameters given to the optimizer can be updated`);
      if (!tf.util.arraysEqual(param.shape, grad.shape)) {
        throw new Error(`${this.name}.step: gradient for "${name}" has shape [${grad.shape}], parameter has [${param.shape}]`);
      }
    }
    for (const [name, grad] of grads) {
      const t = (this.paramSteps.get(name) ?? 0) + 1;
      const param = this.params.get(name) as tf.Variable;
      tf.tidy(() => this.update(name, param, grad, lr, t));
      this.paramSteps.set(name, t);
    }
    this.stepCount++;
  }

  protected hasState(name: string, field: string): boolean {
    return this.state.has(`${name}.${field}`);
  }

  /** The state variable `<name>.<field>`, created as `init()` on first use. */
  protected stateVar(name: string, field: string, init: () => tf.Tensor): tf.Variable {
    const key = `${name}.${field}`;
    let v = this.state.get(key);
    if (!v) {
      // Outside any tidy: the variable must outlive the step that created it.
      v = tf.tidy(() => tf.variable(init(), false));
      this.state.set(key, v);
    }
    return v;
  }

  stateDict(): OptimizerStateDict {
    return { step: this.stepCount, paramSteps: Object.fromEntries(this.paramSteps), tensors: new Map(this.state) };
  }

  loadStateDict(state: OptimizerStateDict, source = 'optimizer state'): void {
    const where = `${this.name}.loadStateDict(${source})`;
    if (!Number.isInteger(state.step) || state.step < 0) throw new Error(`${where}: step must be an integer >= 0, got ${state.step}`);
    for (const [name, t] of Object.entries(state.paramSteps)) {
      if (!this.params.has(name)) throw new Error(`${where}: step count for unknown parameter "${name}"; was the state saved with other trainable parameters?`);
      if (!Number.isInteger(t) || t < 0) throw new Error(`${where}: step of "${name}" must be an integer >= 0, got ${t}`);
    }
    for (const [key, tensor] of state.tensors) {
      const cut = key.lastIndexOf('.');
      const name = key.slice(0, cut);
      const field = key.slice(cut + 1);
      const param = this.params.get(name);
      if (cut < 0 || !param || !this.stateFields.includes(field)) {
        throw new Error(`${where}: unexpected key "${key}"; expected <trainable param>.<${this.stateFields.join('|')}>`);
      }
      if (!tf.util.arraysEqual(param.shape, tensor.shape)) {
        throw new Error(`${where}: "${key}" has shape [${tensor.shape}], parameter "${name}" has [${param.shape}]`);
      }
      if (!(name in state.paramSteps)) throw new Error(`${where}: "${key}" is given but "${name}" has no step count`);
    }
    this.disposeState();
    for (const [key, tensor] of state.tensors) {
      this.state.set(key, tf.tidy(() => tf.variable(tf.cast(tensor, 'float32'), false)));
    }
    for (const [name, t] of Object.entries(state.paramSteps)) this.paramSteps.set(name, t);
    this.stepCount = state.step;
  }

  private disposeState(): void {
    for (const v of this.state.values()) v.dispose();
    this.state.clear();
    this.paramSteps.clear();
  }

  dispose(): void {
    this.disposeState();
  }
}
