import { Module, Parameter, tf } from '@leantune/tensor';

/**
 * `Module` keeps its parameters and children in private maps and offers no way to remove
 * a child or deep-copy a subtree, both of which PEFT's API needs (delete_adapter,
 * modules_to_save's copy.deepcopy). Until @leantune/tensor grows `removeModule`/`clone`,
 * these helpers reach the two maps through one typed view, kept in this file only.
 */
interface ModuleInternals {
  params: Map<string, Parameter>;
  children: Map<string, Module>;
}

function internals(m: Module): ModuleInternals {
  return m as unknown as ModuleInternals;
}

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

  /** Removes the child and disposes its parameters. */
  delete(name: string): void {
    const child = this.child(name);
    if (!child) return;
    child.dispose();
    internals(this).children.delete(name);
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

/**
 * Deep copy of a module tree (copy.deepcopy in PEFT's ModulesToSaveWrapper): same class and
 * fields, fresh variables with the same values, and fields that pointed at a child now
 * point at that child's copy.
 */
export function cloneModule<M extends Module>(source: M): M {
  const copies = new Map<Module, Module>();
  const copy = (src: Module): Module => {
    const dst = Object.create(Object.getPrototypeOf(src)) as Module;
    Object.assign(dst, src);
    const d = internals(dst);
    d.params = new Map();
    d.children = new Map();
    for (const [name, p] of internals(src).params) {
      // tidy frees the temporary clone; variables survive tidy.
      d.params.set(name, new Parameter(tf.tidy(() => tf.variable(tf.clone(p.variable), true)), p.requiresGrad));
    }
    for (const [name, child] of internals(src).children) d.children.set(name, copy(child));
    copies.set(src, dst);
    return dst;
  };
  const root = copy(source);
  for (const dst of copies.values()) {
    for (const [key, value] of Object.entries(dst)) {
      if (value instanceof Module && copies.has(value)) (dst as unknown as Record<string, unknown>)[key] = copies.get(value);
    }
  }
  return root as M;
}
