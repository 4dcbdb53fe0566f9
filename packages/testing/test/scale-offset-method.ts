import { definePlugin, hasPrefixedSegment, type MethodHandle, type Plugin } from '@leantune/core';
import { Linear, Module, tf } from '@leantune/tensor';

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
  | 'no-merge';

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

export function scaleOffsetPlugin(defect?: Defect): Plugin {
  // 'enc' is a prefix of the base model's "encoder" segment: its rule claims base weights.
  const prefix = defect === 'prefix-names-base-parameters' ? 'enc_' : 'so_';
  const id = defect === 'prefix-names-base-parameters' ? 'enc-scale-offset' : 'scale-offset';
  return definePlugin({
    meta: { name: `@contract-fixtures/scale-offset${defect ? `-${defect}` : ''}`, version: '1.0.0', core: '^0.1.0' },
    apply(ctx) {
      ctx.methods.register<ScaleOffsetConfig>({
        id,
        prefix: defect === 'prefix-names-base-parameters' ? 'enc' : prefix,
        family: 'adapter',
        configSchema: defect === 'schema-accepts-anything' ? { type: 'object' } : goodSchema,
        inject(model, config): MethodHandle<ScaleOffsetConfig> {
          const root = model.module;
          for (const [path, m] of [...root.namedModules()]) {
            if (m instanceof Linear && config.target_modules.some((t) => path === t || path.endsWith(`.${t}`))) {
              root.setSubmodule(path, new ScaleOffsetLinear(m, prefix, defect));
            }
          }
          // The registered prefix decides what trains (the defective variant's 'enc' also claims "encoder").
          const registered = defect === 'prefix-names-base-parameters' ? 'enc' : prefix;
          return {
            config,
            trains: defect === 'trains-every-parameter' ? () => true : (path) => hasPrefixedSegment(registered, path),
            ...(defect === 'no-merge'
              ? {}
              : {
                  mergeAndUnload: () => {
                    for (const [path, m] of [...root.namedModules()]) if (m instanceof ScaleOffsetLinear) root.setSubmodule(path, m.mergeInto());
                    return root;
                  },
                }),
          };
        },
      });
    },
  });
}
