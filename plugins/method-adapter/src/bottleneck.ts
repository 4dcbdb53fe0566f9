import { Dropout, LayerNorm, Linear, Module, activationFn, nextSeed, normal, tf, type ActivationFn } from '@leantune/tensor';
import type { InitWeights, NonLinearity, ResolvedAdapterConfig } from './config';

/** Features in and out of a module: its own (Linear, Conv1D, LoRA layers, Conv2d channels) or its first/last such descendant's. */
export interface ModuleDims {
  inFeatures: number;
  outFeatures: number;
}

/** A Linear-like layer's features, or a convolution's channels (NHWC: the adapter's Linear on the channel axis is a 1×1 conv). */
function ownDims(m: Module): ModuleDims | undefined {
  const { inFeatures, outFeatures, inChannels, outChannels } = m as unknown as Partial<ModuleDims & { inChannels: number; outChannels: number }>;
  if (typeof inFeatures === 'number' && typeof outFeatures === 'number') return { inFeatures, outFeatures };
  return typeof inChannels === 'number' && typeof outChannels === 'number' ? { inFeatures: inChannels, outFeatures: outChannels } : undefined;
}

export function moduleDims(m: Module): ModuleDims | undefined {
  const own = ownDims(m);
  if (own) return own;
  const inner = [...m.namedModules()].map(([, c]) => ownDims(c)).filter((d): d is ModuleDims => d !== undefined);
  return inner.length ? { inFeatures: inner[0].inFeatures, outFeatures: inner[inner.length - 1].outFeatures } : undefined;
}

const ACT_NAMES: Record<NonLinearity, string> = { relu: 'relu', gelu: 'gelu', gelu_new: 'gelu_new', swish: 'silu', silu: 'silu', tanh: 'tanh' };

/** Bottleneck width: AdapterHub's input_size // reduction_factor, at least 1. */
export function bottleneckSize(hidden: number, reductionFactor: number): number {
  return Math.max(1, Math.floor(hidden / reductionFactor));
}

function initialise(down: Linear, up: Linear, init: InitWeights): void {
  tf.tidy(() => {
    if (init === 'bert') {
      down.weight.assign(normal(down.weight.shape, 0.02));
      up.weight.assign(normal(up.weight.shape, 0.02));
    } else if (init === 'houlsby') {
      // truncated at 2σ = ±0.02, as AdapterHub's trunc_normal_(std=1e-2, a=-2e-2, b=2e-2)
      down.weight.assign(tf.truncatedNormal(down.weight.shape, 0, 0.01, 'float32', nextSeed()));
      up.weight.assign(tf.truncatedNormal(up.weight.shape, 0, 0.01, 'float32', nextSeed()));
    } else {
      // mam_adapter: Kaiming-uniform down (Linear's own init), zero up: the layer starts as identity.
      up.weight.assign(tf.zerosLike(up.weight));
    }
    down.bias!.assign(tf.zerosLike(down.bias!));
    up.bias!.assign(tf.zerosLike(up.bias!));
  });
}

/**
 * Wraps a module with a bottleneck adapter (AdapterHub's Adapter / ParallelAdapter):
 * On a channels-last feature map [n, h, w, c] (a CNN block's output) down/up act on the
 * channel axis, which is exactly a 1×1 convolution, so the same layer is the residual 1×1
 * conv adapter x + up₁ₓ₁(act(down₁ₓ₁(x))) (see the README).
 *   sequential: y = base(x); z = ln_before(y); out = ln_after(s·up(act(down(z))) + (residual_before_ln ? y : z))
 *   parallel:   out = base(x) + ln_after(s·up(act(down(ln_before(x)))))
 * Children keep AdapterHub's names: base_layer, adapter_down, adapter_up, adapter_norm_before/after.
 */
export class AdapterLayer extends Module {
  readonly dims: ModuleDims;
  readonly bottleneck: number;
  private readonly act: ActivationFn;
  /** Skips the adapter (the base module alone), for comparisons. */
  disabled = false;

  constructor(base: Module, readonly settings: ResolvedAdapterConfig, path = 'module') {
    super();
    const dims = moduleDims(base);
    if (!dims) {
      throw new Error(`Adapter target "${path}" is a ${base.constructor.name} with no Linear-like layer, so its width is unknown; target a Linear/Conv1D or a block that contains them`);
    }
    this.dims = dims;
    const hidden = dims.outFeatures;
    const input = settings.is_parallel ? dims.inFeatures : hidden;
    this.bottleneck = bottleneckSize(hidden, settings.reduction_factor);
    this.act = activationFn(ACT_NAMES[settings.non_linearity]);
    this.addModule('base_layer', base);
    if (settings.ln_before) this.addModule('adapter_norm_before', new LayerNorm(input));
    const down = this.addModule('adapter_down', new Linear(input, this.bottleneck));
    const up = this.addModule('adapter_up', new Linear(this.bottleneck, hidden));
    if (settings.ln_after) this.addModule('adapter_norm_after', new LayerNorm(hidden));
    this.addModule('adapter_dropout', new Dropout(settings.dropout));
    initialise(down, up, settings.init_weights);
  }

  /** The wrapped module to put back; frees the adapter's own parameters. */
  releaseBase(): Module {
    for (const [p, param] of this.namedParameters()) if (p.split('.').some((s) => s.startsWith('adapter_'))) param.variable.dispose();
    return this.baseLayer;
  }

  get baseLayer(): Module {
    return this.child('base_layer')!;
  }

  private run(name: string, x: tf.Tensor): tf.Tensor {
    return this.child(name) ? (this.child(name)!.forward(x) as tf.Tensor) : x;
  }

  /** s·dropout(up(act(down(x)))) — AdapterHub scales, then drops out. */
  private delta(x: tf.Tensor): tf.Tensor {
    const up = this.run('adapter_up', this.act(this.run('adapter_down', x)));
    return this.run('adapter_dropout', tf.mul(up, this.settings.scaling));
  }

  forward(x: tf.Tensor, ...rest: unknown[]): tf.Tensor {
    return tf.tidy(() => {
      const base = this.baseLayer.forward(x, ...rest);
      if (!(base instanceof tf.Tensor)) {
        throw new Error(`Adapter: the wrapped ${this.baseLayer.constructor.name} returns no tensor; target a module whose output is one tensor`);
      }
      if (this.disabled) return base;
      if (this.settings.is_parallel) {
        if (base.rank !== x.rank || base.shape.slice(0, -1).some((d: number, i: number) => d !== x.shape[i])) {
          throw new Error(
            `Adapter (parallel) on a ${this.baseLayer.constructor.name}: its input [${x.shape}] and output [${base.shape}] differ in more than the last (channel) axis (a strided or pooling block), so the adapter cannot run beside it; use config "pfeiffer" or "houlsby" (after the block), or exclude it`,
          );
        }
        return tf.add(base, this.run('adapter_norm_after', this.delta(this.run('adapter_norm_before', x))));
      }
      const z = this.run('adapter_norm_before', base);
      const residual = this.settings.residual_before_ln ? base : z;
      return this.run('adapter_norm_after', tf.add(this.delta(z), residual));
    });
  }
}
