import { definePlugin, hasPrefixedSegment, type MethodHandle, type Plugin } from '@leantune/core';
import { join } from 'node:path';
import { Linear, Module, loadSafetensors, saveSafetensors, tf } from '@leantune/tensor';

/**
 * A small, correct, mergeable method for the contract's own tests: each target Linear gets
 * a learnable per-output scale and offset, y = base(x) · (1 + s) + o, s = o = 0 at init.
 * Each `Defect` is one deliberate bug; the suite must catch each one.
 */
export type Defect =
  | 'leaks-a-tensor-per-forward'
  | 'trains-every-parameter'
  | 'prefix-names-base-parameters'
  | 'offset-not-in-forward'
  | 'merge-forgets-scale'
  | 'nonzero-init'
  | 'schema-accepts-anything'
  | 'no-merge'
  /** With `files`: load wraps the layers but leaves the saved values unread. */
  | 'load-drops-values';

interface ScaleOffsetConfig {
  target_modules: string[];
}

const kept: tf.Tensor[] = [];

/** Tensors the leaky variant kept, so the test file can free them afterwards. */
export function disposeLeaked(): void {
  tf.dispose(kept.splice(0));
}

class ScaleOffsetLinear extends Module {
  constructor(
    base: Linear,
    private readonly prefix: string,
    private readonly defect?: Defect,
  ) {
    super();
    this.addModule('base_layer', base);
    // In a tidy: addParameter copies the value into a variable, and the zeros must go.
    tf.tidy(() => {
      this.addParameter(`${prefix}scale`, tf.zeros([base.outFeatures]));
      this.addParameter(`${prefix}offset`, defect === 'nonzero-init' ? tf.fill([base.outFeatures], 0.5) : tf.zeros([base.outFeatures]));
    });
  }

  get base(): Linear {
    return this.child<Linear>('base_layer')!;
  }

  forward(x: tf.Tensor): tf.Tensor {
    if (this.defect === 'leaks-a-tensor-per-forward') kept.push(tf.keep(tf.zeros([4])));
    return tf.tidy(() => {
      const scaled = tf.mul(this.base.forward(x), tf.add(1, this.param(`${this.prefix}scale`)));
      return this.defect === 'offset-not-in-forward' ? scaled : tf.add(scaled, this.param(`${this.prefix}offset`));
    });
  }

  /** W' = diag(1 + s)·W, b' = (1 + s)·b + o: the same function as a plain Linear. */
  mergeInto(): Linear {
    const base = this.base;
    const factor = tf.add(1, this.param(`${this.prefix}scale`));
    tf.tidy(() => {
      if (this.defect !== 'merge-forgets-scale') base.weight.assign(tf.mul(base.weight, tf.expandDims(factor, 1)));
      const bias = this.defect === 'merge-forgets-scale' ? base.bias! : tf.mul(base.bias!, factor);
      base.bias!.assign(tf.add(bias, this.param(`${this.prefix}offset`)));
    });
    factor.dispose();
    return base;
  }
}

const goodSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['target_modules'],
  properties: { target_modules: { type: 'array', items: { type: 'string' }, minItems: 1 } },
};

export interface ScaleOffsetOptions {
  /** The handle saves its vectors (so.safetensors) and the method loads them onto a bare base: the contract's default save/load then goes through them. */
  files?: boolean;
}

const FILES = 'so.safetensors';

export function scaleOffsetPlugin(defect?: Defect, options: ScaleOffsetOptions = {}): Plugin {
  // 'enc' is a prefix of the base model's "encoder" segment: its rule claims base weights.
  const prefix = defect === 'prefix-names-base-parameters' ? 'enc_' : 'so_';
  const id = defect === 'prefix-names-base-parameters' ? 'enc-scale-offset' : 'scale-offset';
  // The registered prefix decides what trains (the defective variant's 'enc' also claims "encoder").
  const registered = defect === 'prefix-names-base-parameters' ? 'enc' : prefix;

  /** Wraps the Linear layers at `paths` and returns the handle that owns them. */
  function wrap(root: Module, paths: string[], config: ScaleOffsetConfig): MethodHandle<ScaleOffsetConfig> {
    for (const path of paths) root.setSubmodule(path, new ScaleOffsetLinear(root.getSubmodule(path) as Linear, prefix, defect));
    const trains = defect === 'trains-every-parameter' ? () => true : (path: string) => hasPrefixedSegment(registered, path);
    return {
      config,
      trains,
      ...(defect === 'no-merge'
        ? {}
        : {
            mergeAndUnload: () => {
              for (const [path, m] of [...root.namedModules()]) if (m instanceof ScaleOffsetLinear) root.setSubmodule(path, m.mergeInto());
              return root;
            },
          }),
      ...(options.files
        ? { save: (dir: string) => saveSafetensors(join(dir, FILES), new Map([...root.namedParameters()].filter(([path]) => trains(path)).map(([path, p]) => [path, p.variable]))) }
        : {}),
    };
  }

  return definePlugin({
    meta: { name: `@contract-fixtures/scale-offset${defect ? `-${defect}` : ''}${options.files ? '-files' : ''}`, version: '1.0.0', core: '^0.1.0' },
    apply(ctx) {
      ctx.methods.register<ScaleOffsetConfig>({
        id,
        prefix: registered,
        family: 'adapter',
        configSchema: defect === 'schema-accepts-anything' ? { type: 'object' } : goodSchema,
        inject(model, config) {
          const paths = [...model.module.namedModules()]
            .filter(([path, m]) => m instanceof Linear && config.target_modules.some((t) => path === t || path.endsWith(`.${t}`)))
            .map(([path]) => path);
          return wrap(model.module, paths, config);
        },
        ...(options.files
          ? {
              load(model, dir) {
                const { tensors } = loadSafetensors(join(dir, FILES));
                try {
                  const paths = [...new Set([...tensors.keys()].map((key) => key.slice(0, key.lastIndexOf('.'))))];
                  const handle = wrap(model.module, paths, { target_modules: paths });
                  if (defect !== 'load-drops-values') model.module.loadStateDict(tensors, { strict: false });
                  return handle;
                } finally {
                  tf.dispose([...tensors.values()]);
                }
              },
            }
          : {}),
      });
    },
  });
}
