import { Module, tf } from '@leantune/tensor';

/** PEFT's nn.ModuleDict: named children keyed by adapter name, no forward of its own. */
export class ModuleDict<M extends Module = Module> extends Module {
  set(name: string, module: M): M {
    return this.addModule(name, module);
  }

  get(name: string): M | undefined {
    return this.child<M>(name);
  }

  has(name: string): boolean {
    return this.child(name) !== undefined;
  }

  keys(): string[] {
    return [...this.namedChildren()].map(([name]) => name);
  }

  /** Removes the child and returns it, its parameters kept. */
  take(name: string): M | undefined {
    return this.removeModule(name) as M | undefined;
  }

  /** Removes the child and disposes its parameters. */
  delete(name: string): void {
    this.removeModule(name)?.dispose();
  }

  forward(): never {
    throw new Error('ModuleDict has no forward; look up an entry by adapter name');
  }
}

/** DoRA's per-output magnitude, a module with one `weight` as PEFT's DoraLinearLayer is. */
export class DoraMagnitude extends Module {
  constructor(value: tf.Tensor) {
    super();
    this.addParameter('weight', value);
  }

  get weight(): tf.Variable {
    return this.param('weight');
  }

  forward(): never {
    throw new Error('DoraMagnitude holds a parameter; LoraLinear applies it');
  }
}

/** PEFT's nn.ParameterDict: one parameter per adapter name, so paths read `<dict>.<adapter>` (lora_embedding_A.default). */
export class ParameterDict extends Module {
  set(name: string, value: tf.Tensor): tf.Variable {
    this.addParameter(name, value);
    return this.param(name);
  }

  get(name: string): tf.Variable {
    return this.param(name);
  }

  has(name: string): boolean {
    return this.hasParameter(name);
  }

  /**
   * A dict with copies of every parameter but `name` (a Module cannot drop one parameter),
   * requiresGrad kept; this one's variables are disposed. The caller puts it in this one's place.
   */
  without(name: string): ParameterDict {
    const rest = new ParameterDict();
    for (const [key, p] of this.namedParameters('', false)) {
      if (key !== name) {
        rest.set(key, p.variable);
        rest.getParameter(key).requiresGrad = p.requiresGrad;
      }
      p.variable.dispose();
    }
    return rest;
  }

  forward(): never {
    throw new Error('ParameterDict holds parameters; the LoRA layer applies them');
  }
}
