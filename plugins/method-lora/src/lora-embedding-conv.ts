import { Conv2d, Dropout, Embedding, normal, scaleBy, tf } from '@leantune/tensor';
import { LoraLayerBase, type AdapterSettings } from './lora-layer';
import { ModuleDict, ParameterDict } from './modules';

/**
 * The settings PEFT supports on every layer kind but leantune implements for Linear/Conv1D
 * only: refused with the reason (`what` names the layer), before anything changes.
 */
export function refuseLinearOnly(what: string, kind: 'Embedding' | 'Conv2d', s: AdapterSettings): void {
  if (s.useDora) throw new Error(`${what}: use_dora is supported on Linear/Conv1D layers only here (PEFT has DoRA for ${kind}; not implemented); drop use_dora or leave this layer out of target_modules`);
  if (typeof s.init === 'string' && s.init.startsWith('pissa')) {
    throw new Error(`${what}: init_lora_weights "${s.init}" is supported on Linear/Conv1D layers only; use true or "gaussian", or leave this layer out of target_modules`);
  }
}

/**
 * PEFT's lora.Embedding: `lora_embedding_A.<name>` [r, num_embeddings] and
 * `lora_embedding_B.<name>` [embedding_dim, r], parameters (not layers), so the paths equal
 * PEFT's in-memory names and save as `….lora_embedding_A` / `….lora_embedding_B`.
 * output = base(ids) + embed(ids, Aᵀ)·Bᵀ·scaling (no dropout, as PEFT). init true or
 * "gaussian": A zeros, B ~ N(0, 1) (PEFT's reset_lora_parameters for embeddings); false:
 * both N(0, 1) (torch.randn, PEFT's update_layer before any reset).
 */
export class LoraEmbedding extends LoraLayerBase {
  readonly inFeatures: number;
  readonly outFeatures: number;

  constructor(base: Embedding, adapterName: string, settings: AdapterSettings) {
    super(adapterName);
    this.inFeatures = base.numEmbeddings;
    this.outFeatures = base.embeddingDim;
    this.addModule('base_layer', base);
    this.addModule('lora_embedding_A', new ParameterDict());
    this.addModule('lora_embedding_B', new ParameterDict());
    this.updateLayer(adapterName, settings);
  }

  get baseLayer(): Embedding {
    return this.child<Embedding>('base_layer')!;
  }

  private get a(): ParameterDict {
    return this.child<ParameterDict>('lora_embedding_A')!;
  }

  private get b(): ParameterDict {
    return this.child<ParameterDict>('lora_embedding_B')!;
  }

  updateLayer(name: string, s: AdapterSettings): void {
    refuseLinearOnly('LoRA on an Embedding', 'Embedding', s);
    if (this.settings.has(name)) this.deleteAdapter(name);
    this.settings.set(name, { ...s });
    tf.tidy(() => {
      this.a.set(name, s.init === false ? normal([s.r, this.inFeatures], 1) : tf.zeros([s.r, this.inFeatures]));
      this.b.set(name, normal([this.outFeatures, s.r], 1));
    });
  }

  /** scaling · (B·A)ᵀ, [num_embeddings, embedding_dim] like the base weight (PEFT's get_delta_weight). */
  deltaWeight(name: string): tf.Tensor {
    return tf.tidy(() => tf.mul(tf.transpose(tf.matMul(this.b.get(name), this.a.get(name))), this.settings.get(name)!.scaling));
  }

  forward(ids: tf.Tensor): tf.Tensor {
    return tf.tidy(() =>
      this.forwardWith(ids, (v) => this.baseLayer.forward(v), (name, s, v, result) => {
        const afterA = tf.gather(tf.transpose(this.a.get(name)), v);
        const lead = afterA.shape.slice(0, -1);
        const out = tf.matMul(tf.reshape(afterA, [-1, s.r]) as tf.Tensor2D, this.b.get(name) as tf.Tensor2D, false, true);
        return tf.add(result, scaleBy(tf.reshape(out, [...lead, this.outFeatures]), s.scaling));
      }),
    );
  }

  merge(names: readonly string[] = this.activeAdapters): void {
    mergeDeltas(this, this.baseLayer.weight, names);
  }

  unmerge(): void {
    unmergeDeltas(this, this.baseLayer.weight);
  }
}

/**
 * PEFT's lora.Conv2d: `lora_A.<name>` a Conv2d in→r with the base's kernel size, stride and
 * padding (no bias), `lora_B.<name>` a 1×1 Conv2d r→out (no bias); output = base(x) +
 * B(A(dropout(x)))·scaling. Delta weight [out, in, kh, kw] = scaling · B[:, :, 0, 0]·A, the
 * composition PEFT's get_delta_weight computes. Grouped and depthwise convolutions are
 * refused: PEFT allows them only when r is a multiple of groups and cannot merge them.
 */
export class LoraConv2d extends LoraLayerBase {
  readonly inFeatures: number;
  readonly outFeatures: number;

  constructor(base: Conv2d, adapterName: string, settings: AdapterSettings) {
    super(adapterName);
    if (base.groups > 1) throw new Error(conv2dGroupsError(base));
    this.inFeatures = base.inChannels;
    this.outFeatures = base.outChannels;
    this.addModule('base_layer', base);
    this.addModule('lora_dropout', new ModuleDict<Dropout>());
    this.addModule('lora_A', new ModuleDict<Conv2d>());
    this.addModule('lora_B', new ModuleDict<Conv2d>());
    this.updateLayer(adapterName, settings);
  }

  get baseLayer(): Conv2d {
    return this.child<Conv2d>('base_layer')!;
  }

  private dict(name: 'lora_A' | 'lora_B'): ModuleDict<Conv2d> {
    return this.child<ModuleDict<Conv2d>>(name)!;
  }

  updateLayer(name: string, s: AdapterSettings): void {
    refuseLinearOnly('LoRA on a Conv2d', 'Conv2d', s);
    if (this.settings.has(name)) this.deleteAdapter(name);
    this.settings.set(name, { ...s });
    const base = this.baseLayer;
    const [kh, kw] = base.kernelSize;
    this.child<ModuleDict<Dropout>>('lora_dropout')!.set(name, new Dropout(s.dropout));
    // Conv2d's own init is kaiming_uniform(a=√5), PEFT's init for A (and for B with init false).
    const a = this.dict('lora_A').set(name, new Conv2d(this.inFeatures, s.r, [kh, kw], { stride: base.stride, padding: base.padding, bias: false }));
    const b = this.dict('lora_B').set(name, new Conv2d(s.r, this.outFeatures, 1, { bias: false }));
    tf.tidy(() => {
      if (s.init === 'gaussian') a.getParameter('weight').variable.assign(normal([s.r, this.inFeatures, kh, kw], 1 / s.r));
      if (s.init !== false) b.getParameter('weight').variable.assign(tf.zeros([this.outFeatures, s.r, 1, 1]));
    });
  }

  deltaWeight(name: string): tf.Tensor {
    return tf.tidy(() => {
      const a = this.dict('lora_A').get(name)!.getParameter('weight').variable;
      const b = this.dict('lora_B').get(name)!.getParameter('weight').variable;
      const [r, inC, kh, kw] = a.shape;
      const composed = tf.matMul(tf.reshape(b, [this.outFeatures, r]) as tf.Tensor2D, tf.reshape(a, [r, inC * kh * kw]) as tf.Tensor2D);
      return tf.mul(tf.reshape(composed, [this.outFeatures, inC, kh, kw]), this.settings.get(name)!.scaling);
    });
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() =>
      this.forwardWith(x, (v) => this.baseLayer.forward(v), (name, s, v, result) => {
        const xd = this.child<ModuleDict<Dropout>>('lora_dropout')!.get(name)!.forward(v);
        const lora = this.dict('lora_B').get(name)!.forward(this.dict('lora_A').get(name)!.forward(xd));
        return tf.add(result, scaleBy(lora, s.scaling));
      }),
    );
  }

  merge(names: readonly string[] = this.activeAdapters): void {
    mergeDeltas(this, this.baseLayer.getParameter('weight').variable, names);
  }

  unmerge(): void {
    unmergeDeltas(this, this.baseLayer.getParameter('weight').variable);
  }
}

/** The refusal for grouped/depthwise convolutions, naming what PEFT does. */
export function conv2dGroupsError(base: Conv2d): string {
  return `LoRA on a Conv2d with groups=${base.groups}${base.depthwise ? ' (depthwise)' : ''} is not supported: PEFT accepts it only when r is a multiple of groups and cannot merge it; leave grouped/depthwise convolutions out of target_modules (e.g. target the 1×1 convolutions)`;
}

type DeltaLayer = LoraLayerBase & { deltaWeight(name: string): tf.Tensor };

/** weight += delta for each not-yet-merged adapter (plain LoRA: no DoRA on these kinds). */
function mergeDeltas(layer: DeltaLayer, weight: tf.Variable, names: readonly string[]): void {
  for (const name of names) {
    if (!layer.settings.has(name) || layer.mergedAdapters.includes(name)) continue;
    tf.tidy(() => weight.assign(tf.add(weight, layer.deltaWeight(name))));
    layer.mergedAdapters.push(name);
  }
}

/** Undoes merges, last merged first. */
function unmergeDeltas(layer: DeltaLayer, weight: tf.Variable): void {
  while (layer.mergedAdapters.length) {
    const name = layer.mergedAdapters.pop()!;
    tf.tidy(() => weight.assign(tf.sub(weight, layer.deltaWeight(name))));
  }
}
