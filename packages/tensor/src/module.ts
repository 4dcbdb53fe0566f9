import * as tf from '@tensorflow/tfjs-core';
import { QuantizedWeight, quantizeWeight, type QuantizeSpec, type WeightLayout } from './quant/quantized-weight';

/**
 * A named weight of a Module. `requiresGrad` is ours, not tfjs's `trainable` flag: the
 * trainer passes exactly the parameters that require a gradient to the optimizer, so
 * freezing never depends on when a graph was built.
 */
export class Parameter {
  private grad: boolean;
  private stored: tf.Variable | undefined;
  private packed: QuantizedWeight | undefined;

  /** `variable`: the live fp32 variable, or a packed weight (then frozen: requiresGrad is false). */
  constructor(
    variable: tf.Variable | QuantizedWeight,
    requiresGrad = true,
    readonly buffer = false,
  ) {
    if (variable instanceof QuantizedWeight) this.packed = variable;
    else this.stored = variable;
    this.grad = requiresGrad && !buffer && !this.packed;
  }

  /**
   * The live variable. A quantized parameter (`model.quantize`) has none: its fp32 values
   * exist only transiently (`dequantize()`), so asking for it is an error that says so.
   */
  get variable(): tf.Variable {
    if (!this.stored) {
      throw new Error(
        `A frozen weight of shape [${this.shape}] is stored quantized (${this.packed!.format}, model.quantize) and has no fp32 variable; ` +
          'use param.dequantize() for a transient fp32 copy, or load the model without model.quantize',
      );
    }
    return this.stored;
  }

  set variable(value: tf.Variable) {
    this.stored = value;
    this.packed = undefined;
  }

  /** The packed weight when this parameter is stored quantized, else undefined. */
  get quantized(): QuantizedWeight | undefined {
    return this.packed;
  }

  get requiresGrad(): boolean {
    return this.grad;
  }

  /** Ignored (stays false) for a buffer; an error for a quantized weight, which cannot train. */
  set requiresGrad(value: boolean) {
    if (value && this.packed) {
      throw new Error(`A quantized weight of shape [${this.shape}] (${this.packed.format}, model.quantize) cannot train: only frozen weights are quantized. Train an adapter over it, or load without model.quantize`);
    }
    this.grad = value && !this.buffer;
  }

  get shape(): number[] {
    return this.packed ? this.packed.shape : this.stored!.shape;
  }

  get size(): number {
    return this.packed ? this.packed.size : this.stored!.size;
  }

  /** Bytes the stored values take (4 a float32 element; a quantized weight's packed bytes). */
  get bytes(): number {
    return this.packed ? this.packed.bytes : this.stored!.size * 4;
  }

  /**
   * Stores this frozen 2-D weight quantized (`layout`: how the module holds it, Linear's
   * [out, in] or Conv1D's [in, out]) and frees the fp32 variable.
   */
  quantize(spec: QuantizeSpec, layout: WeightLayout): QuantizedWeight {
    if (this.grad) throw new Error(`Only a frozen weight can be quantized; this one of shape [${this.shape}] requires a gradient`);
    if (this.packed) throw new Error(`This weight of shape [${this.shape}] is already quantized (${this.packed.format})`);
    this.packed = quantizeWeight(this.stored!, spec, layout);
    this.stored!.dispose();
    this.stored = undefined;
    return this.packed;
  }

  /** Gives a quantized weight back an fp32 variable holding its dequantized values; returns the packed weight it was (undefined when not quantized). */
  dequantizeInPlace(): QuantizedWeight | undefined {
    const q = this.packed;
    if (!q) return undefined;
    this.variable = tf.tidy(() => tf.variable(q.toTensor(), false, `lt_${++variableCounter}_dequantized`));
    return q;
  }

  /** The values as a fresh fp32 tensor (the caller disposes it): dequantized, or a copy of the variable. */
  dequantize(): tf.Tensor {
    return this.packed ? this.packed.toTensor() : tf.clone(this.stored!);
  }

  /** Sets the values: assigned to the variable, or quantized again in this weight's format. */
  assign(value: tf.Tensor): void {
    if (this.packed) {
      const p = this.packed;
      const spec = { type: p.format, doubleQuant: p.doubleQuant != null };
      const f32 = value.dtype === 'float32' ? value : tf.cast(value, 'float32');
      try {
        this.packed = quantizeWeight(f32, spec, p.sourceLayout);
      } finally {
        if (f32 !== value) f32.dispose();
      }
      return;
    }
    const v = this.stored!;
    tf.tidy(() => v.assign(value.dtype === v.dtype ? value : tf.cast(value, v.dtype)));
  }

  dispose(): void {
    this.stored?.dispose();
    this.packed = undefined;
  }

  /** A copy sharing no storage (used by Module.clone); `name` names the new variable. */
  copy(name: string): Parameter {
    if (this.packed) return new Parameter(this.packed.clone(), false, this.buffer);
    return new Parameter(tf.tidy(() => tf.variable(tf.clone(this.stored!), true, name)), this.grad, this.buffer);
  }
}

/** Selects parameters by exact dotted path (list), by full-match regex, or by predicate. */
export type ParamSelector = readonly string[] | RegExp | ((path: string, param: Parameter) => boolean);

export interface ParameterCounts {
  total: number;
  trainable: number;
}

export interface LoadStateDictOptions {
  /** strict: every key of the module must be present and no unknown key may be given. */
  strict?: boolean;
  /** Names the source in error messages, e.g. the checkpoint file. */
  source?: string;
}

export interface LoadStateDictResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}

let variableCounter = 0;

function matches(selector: ParamSelector, path: string, param: Parameter): boolean {
  if (typeof selector === 'function') return selector(path, param);
  if (selector instanceof RegExp) {
    const anchored = new RegExp(`^(?:${selector.source})$`, selector.flags.replace('g', ''));
    return anchored.test(path);
  }
  return (selector as readonly string[]).includes(path);
}

/**
 * A PyTorch-like module: named children and parameters with dotted paths that match
 * Hugging Face checkpoint keys (`transformer.h.0.attn.c_attn.weight`), so adapters and
 * weights interoperate by name.
 */
export abstract class Module {
  private readonly params = new Map<string, Parameter>();
  private readonly children = new Map<string, Module>();
  training = true;

  abstract forward(...inputs: unknown[]): unknown;

  /** Registers (or replaces) a parameter; the tensor is copied into a fresh variable. */
  protected addParameter(name: string, value: tf.Tensor, requiresGrad = true, buffer = false): tf.Variable {
    if (name.includes('.')) throw new Error(`Parameter name "${name}" must not contain '.'`);
    const old = this.params.get(name);
    if (old) old.variable.dispose();
    // Unique variable names: tfjs keeps a global registry and rejects duplicates.
    const variable = tf.variable(value, true, `lt_${++variableCounter}_${name}`);
    this.params.set(name, new Parameter(variable, requiresGrad, buffer));
    return variable;
  }

  /** Registers (or replaces) a buffer: a Parameter that never requires a gradient (see Parameter.buffer). */
  protected addBuffer(name: string, value: tf.Tensor): tf.Variable {
    return this.addParameter(name, value, false, true);
  }

  /**
   * Registers (or replaces) a child module; returns it for chaining in constructors. Public,
   * as PyTorch's add_module is: a method whose parameters live beside the model (a prompt
   * method's virtual tokens) attaches them to the root, and removeModule takes them out.
   */
  addModule<M extends Module>(name: string, child: M): M {
    if (name.includes('.')) throw new Error(`Module name "${name}" must not contain '.'`);
    this.children.set(name, child);
    return child;
  }

  /**
   * Removes the child `name` and returns it (undefined when there is none). Its parameters
   * stay alive: dispose the returned module if nothing else holds it.
   */
  removeModule(name: string): Module | undefined {
    const child = this.children.get(name);
    this.children.delete(name);
    return child;
  }

  /**
   * Deep copy of this subtree, as PyTorch's copy.deepcopy: same classes and fields, fresh
   * variables with the same values and requiresGrad, and fields that pointed at a module of
   * the subtree point at that module's copy. The copy shares no variable with the original.
   */
  clone(): this {
    const copies = new Map<Module, Module>();
    const copy = (src: Module): Module => {
      const params = new Map<string, Parameter>();
      for (const [name, p] of src.params) params.set(name, p.copy(`lt_${++variableCounter}_${name}`));
      const children = new Map<string, Module>();
      for (const [name, child] of src.children) children.set(name, copy(child));
      const dst = Object.assign(Object.create(Object.getPrototypeOf(src)) as Module, src, { params, children });
      copies.set(src, dst);
      return dst;
    };
    const root = copy(this);
    for (const dst of copies.values()) {
      const fields = dst as unknown as Record<string, unknown>;
      for (const [key, value] of Object.entries(fields)) {
        if (value instanceof Module && copies.has(value)) fields[key] = copies.get(value);
      }
    }
    return root as this;
  }

  /** The parameter's current value, for use inside forward. */
  protected param(name: string): tf.Variable {
    const p = this.params.get(name);
    if (!p) throw new Error(`${this.constructor.name} has no parameter "${name}"`);
    return p.variable;
  }

  hasParameter(name: string): boolean {
    return this.params.has(name);
  }

  child<M extends Module = Module>(name: string): M | undefined {
    return this.children.get(name) as M | undefined;
  }

  *namedChildren(): IterableIterator<[string, Module]> {
    yield* this.children.entries();
  }

  *namedParameters(prefix = '', recurse = true): IterableIterator<[string, Parameter]> {
    for (const [name, p] of this.params) yield [prefix + name, p];
    if (!recurse) return;
    for (const [name, c] of this.children) yield* c.namedParameters(`${prefix}${name}.`);
  }

  /** Every module in the tree, depth first, the root first with path ''. */
  *namedModules(prefix = ''): IterableIterator<[string, Module]> {
    yield [prefix, this];
    for (const [name, c] of this.children) yield* c.namedModules(prefix ? `${prefix}.${name}` : name);
  }

  getSubmodule(path: string): Module {
    if (path === '') return this;
    let current: Module = this;
    const walked: string[] = [];
    for (const part of path.split('.')) {
      const next = current.children.get(part);
      if (!next) {
        const where = walked.length ? walked.join('.') : '(root)';
        const options = [...current.children.keys()].join(', ') || 'none';
        throw new Error(`No submodule "${path}": ${where} has no child "${part}" (children: ${options})`);
      }
      walked.push(part);
      current = next;
    }
    return current;
  }

  /** Replaces the module at `path` in place, as injection does (e.g. Linear → LoraLinear). */
  setSubmodule(path: string, replacement: Module): void {
    const cut = path.lastIndexOf('.');
    const parent = cut < 0 ? this : this.getSubmodule(path.slice(0, cut));
    const name = path.slice(cut + 1);
    if (!parent.children.has(name)) {
      throw new Error(`No submodule "${path}" to replace; use addModule for a new child`);
    }
    parent.children.set(name, replacement);
  }

  getParameter(path: string): Parameter {
    const cut = path.lastIndexOf('.');
    const owner = cut < 0 ? this : this.getSubmodule(path.slice(0, cut));
    const p = owner.params.get(path.slice(cut + 1));
    if (!p) throw new Error(`No parameter "${path}"`);
    return p;
  }

  /** Freezes the selected parameters, or every parameter when no selector is given. */
  freeze(selector?: ParamSelector): number {
    return this.setRequiresGrad(false, selector);
  }

  unfreeze(selector?: ParamSelector): number {
    return this.setRequiresGrad(true, selector);
  }

  private setRequiresGrad(value: boolean, selector?: ParamSelector): number {
    let n = 0;
    for (const [path, p] of this.namedParameters()) {
      if (selector === undefined || matches(selector, path, p)) {
        p.requiresGrad = value;
        n++;
      }
    }
    return n;
  }

  countParameters(): ParameterCounts {
    let total = 0;
    let trainable = 0;
    for (const [, p] of this.namedParameters()) {
      total += p.size;
      if (p.requiresGrad) trainable += p.size;
    }
    return { total, trainable };
  }

  /** The variables to hand to an optimizer, keyed by dotted path. */
  trainableVariables(): Map<string, tf.Variable> {
    const out = new Map<string, tf.Variable>();
    for (const [path, p] of this.namedParameters()) if (p.requiresGrad) out.set(path, p.variable);
    return out;
  }

  /** Sets training mode (dropout on) for the whole tree. */
  train(on = true): this {
    for (const [, m] of this.namedModules()) m.training = on;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /**
   * Current values by dotted path. The tensors are the live variables: clone to keep. A
   * quantized weight (model.quantize) has no variable and makes this throw, saying so;
   * dequantize those parameters yourself (Parameter.dequantize) where fp32 copies are wanted.
   */
  stateDict(): Map<string, tf.Tensor> {
    const out = new Map<string, tf.Tensor>();
    for (const [path, p] of this.namedParameters()) out.set(path, p.variable);
    return out;
  }

  /**
   * Assigns values by dotted path. Shapes are checked before anything is assigned, so a
   * failed load leaves the module untouched.
   */
  loadStateDict(
    values: Map<string, tf.Tensor> | Record<string, tf.Tensor>,
    options: LoadStateDictOptions = {},
  ): LoadStateDictResult {
    const entries = values instanceof Map ? values : new Map(Object.entries(values));
    const own = new Map(this.namedParameters());
    const source = options.source ? ` from ${options.source}` : '';
    const missingKeys = [...own.keys()].filter((k) => !entries.has(k));
    const unexpectedKeys = [...entries.keys()].filter((k) => !own.has(k));
    if (options.strict && (missingKeys.length || unexpectedKeys.length)) {
      const parts = [];
      if (missingKeys.length) parts.push(`missing keys: ${missingKeys.slice(0, 10).join(', ')}`);
      if (unexpectedKeys.length) parts.push(`unexpected keys: ${unexpectedKeys.slice(0, 10).join(', ')}`);
      throw new Error(`Strict state dict load${source} failed; ${parts.join('; ')}`);
    }
    for (const [key, value] of entries) {
      const p = own.get(key);
      if (p && !tf.util.arraysEqual(p.shape, value.shape)) {
        throw new Error(
          `Shape mismatch for "${key}"${source}: module expects [${p.shape}], got [${value.shape}]`,
        );
      }
    }
    for (const [key, value] of entries) {
      const p = own.get(key);
      if (p) p.assign(value);
    }
    return { missingKeys, unexpectedKeys };
  }

  dispose(): void {
    for (const [, p] of this.namedParameters()) p.dispose();
  }
}
