import { checkpointBlock, tf, type Module } from '@leantune/tensor';
import { ConfigError } from './errors';
import type { LoadedModel } from './types';

/**
 * Extension points a model loader declares on the LoadedModel it returns (`model.points`),
 * so methods that do not edit weights (prompt tuning, P-tuning, prefix tuning, VPT, CoOp)
 * can attach to any model that offers them. Every registration returns a Disposer that
 * detaches it; with nothing registered a model computes exactly what it did before.
 * All state is per model instance.
 */

/** Undoes one registration; calling it again does nothing. */
export type Disposer = () => void;

/**
 * Virtual tokens for one forward pass: [n, dim] (the same for every row) or [batch, n, dim].
 * n may be 0. Called inside the model's forward (its tf.tidy): return new tensors or
 * parameters' variables; the model never disposes a variable.
 */
export type VirtualTokenProvider = (batchSize: number, training: boolean) => tf.Tensor;

/** A token vocabulary and its embedding table. */
export interface TokenVocabulary {
  readonly size: number;
  /** The live embedding table [size, dim]: read it, never dispose or assign it. */
  table(): tf.Tensor2D;
  /** Embeddings of `ids` [ids.length, dim] (a new tensor; the caller disposes it). */
  embed(ids: readonly number[]): tf.Tensor2D;
}

/**
 * The input embeddings: virtual tokens are joined to the sequence's embeddings and always
 * attended (the attention mask gets ones for them).
 * - `placement: 'prepend'` (text models, as PEFT's prompt learning): before the first token
 *   (before [CLS]/<s>), standing in for word embeddings: position (and token-type 0)
 *   embeddings are added over the full length, so real tokens move n positions on; a
 *   first-token pooler/classifier reads the first virtual token, a mean pool includes them.
 * - `placement: 'after-cls'` (ViT and CLIP's vision tower, as VPT): after [CLS], once the
 *   position embeddings are added (prompts get none).
 */
export interface InputEmbeddingsPoint {
  /** Module path of the embeddings this point feeds, e.g. "bert.embeddings". */
  readonly where: string;
  readonly dim: number;
  readonly placement: 'prepend' | 'after-cls';
  /** Index of the first virtual token in the hidden states (0 for prepend, 1 after [CLS]). */
  readonly offset: number;
  /** The token vocabulary; absent on vision models. */
  readonly vocabulary?: TokenVocabulary;
  /** Longest sequence (virtual tokens included) the position embeddings allow; absent when unlimited. */
  readonly maxPositions?: number;
  /** Vision models: values one patch embedding reads (channels · patch_size²), the fan VPT's Xavier init uses. */
  readonly patchFanIn?: number;
  /** Several providers are joined in registration order. */
  addVirtualTokens(provider: VirtualTokenProvider): Disposer;
}

/** Applied to a layer's input [batch, seq, dim]; must keep the shape (e.g. VPT-deep replaces prompt positions). */
export type LayerEntryFn = (hidden: tf.Tensor, layer: number, training: boolean) => tf.Tensor;
/** Sees a layer's output [batch, seq, dim]; the tensor is freed after the forward (clone to keep it). */
export type LayerTap = (output: tf.Tensor, layer: number) => void;

/** The transformer layers' hidden states (virtual tokens included, at InputEmbeddingsPoint.offset). */
export interface HiddenStatesPoint {
  /** Module path of the layer stack, e.g. "transformer.h". */
  readonly where: string;
  readonly layers: number;
  /** Width of the last layer's output. */
  readonly dim: number;
  /** Width of each layer's input (use-lite's layer 0 reads 256 and writes 512). */
  readonly entryDims: readonly number[];
  /** Several functions on one layer run in registration order. */
  atLayerEntry(layer: number, fn: LayerEntryFn): Disposer;
  tapLayerOutput(layer: number, tap: LayerTap): Disposer;
}

/** Keys and values [batch, heads, p, headDim] or [heads, p, headDim] (the same for every row). */
export interface KeyValuePrefix {
  key: tf.Tensor;
  value: tf.Tensor;
}
export type PrefixProvider = (batchSize: number, training: boolean) => KeyValuePrefix;

/**
 * Per-layer key/value prefixes (prefix tuning, P-tuning v2): joined before the sequence's
 * own keys and values (after their projections, as past_key_values are), always attended,
 * visible to every query under a causal mask. Layers with a prefix are not
 * gradient-checkpointed (the prefix's gradient must reach its parameters).
 */
export interface AttentionPrefixPoint {
  readonly where: string;
  readonly layers: number;
  /** Heads and head width of layer i's attention. */
  shape(layer: number): { heads: number; headDim: number };
  /** Several providers on one layer are joined in registration order. */
  addPrefix(layer: number, provider: PrefixProvider): Disposer;
}

/**
 * Where the class name goes among the context vectors (CoOp's CLASS_TOKEN_POSITION):
 * 'end' `[SOS][ctx₁…ctxₙ][name][.][EOS]`, 'middle' `[SOS][ctx₁…ctx_⌊n/2⌋][name][ctx…ctxₙ][.][EOS]`,
 * 'front' `[SOS][name][ctx₁…ctxₙ][.][EOS]`.
 */
export type ClassTokenPosition = 'end' | 'middle' | 'front';

export interface ContextOptions {
  /** Default 'end'. */
  classPosition?: ClassTokenPosition;
}

/**
 * CLIP's text encoder token embeddings, for CoOp-style learned context: the prompt of class
 * c is `[SOS][ctx₁…ctxₙ][tokens of c][.][EOS]` (or the name in the middle or at the front,
 * ContextOptions), pooled at its EOS as CLIP pools.
 */
export interface TextTokenEmbeddingsPoint {
  readonly where: string;
  readonly dim: number;
  readonly vocabulary: TokenVocabulary;
  /** Longest prompt in tokens, SOS and EOS included. */
  readonly maxPositions: number;
  /**
   * Text features [classes, projectionDim] (unnormalised, as get_text_features) of the
   * prompts with `context` ([n, dim] shared, or [classes, n, dim] class-specific) in the
   * context slots; differentiable with respect to `context`.
   */
  encodeWithContext(classNames: readonly string[], context: tf.Tensor, options?: ContextOptions): tf.Tensor2D;
  /** Text features [texts, projectionDim] of plain texts (zero-shot prompts). */
  encodeTexts(texts: readonly string[]): tf.Tensor2D;
  /** Makes the model's own label prompts (its loss and predict) use this context instead of its prompt template. */
  setLabelContext(provider: (training: boolean) => tf.Tensor, options?: ContextOptions): Disposer;
  /**
   * Makes the model's own label logits use these class text features [labels, projectionDim]
   * (e.g. a prompt ensemble's mean of normalised features) instead of its prompt template's;
   * the tensor stays the provider's. Not together with a label context.
   */
  setLabelFeatures(provider: () => tf.Tensor2D): Disposer;
}

/** The model's tokenizer. */
export interface TokenizerCapability {
  /** Ids of `text` with the model's special tokens, as its encode() makes them. */
  encode(text: string): number[];
  decode(ids: readonly number[]): string;
  /** The files that define it (absolute paths), to copy beside an exported model. */
  readonly files: readonly string[];
}

/** A causal LM's chat template (tokenizer_config.json's chat_template): chat-format fine-tuning and chat prompts. */
export interface ChatCapability {
  /** The conversation as the template renders it; with `addGenerationPrompt`, opening the assistant's turn. */
  render(messages: ReadonlyArray<{ role: string; content: string }>, addGenerationPrompt: boolean): string;
  /** Rendered and tokenised, with 1 on the assistant turns' tokens (the training targets); `where` names the record in errors. */
  encode(messages: ReadonlyArray<{ role: string; content: string }>, where: string): { ids: number[]; assistant: number[] };
  /** The ids of a chat prompt: rendered with the generation prompt (the assistant's turn opened), tokenised as apply_chat_template does. */
  encodePrompt(messages: ReadonlyArray<{ role: string; content: string }>): number[];
  /** Tokens per row the model takes. */
  readonly maxTokens: number;
  /** Ids that end an assistant turn (eos and the template's end-of-turn token): generation stops at them. */
  readonly stopIds: readonly number[];
  /** The file the template came from. */
  readonly file: string;
}

export interface ModelGenerateOptions {
  /** Tokens to add. */
  maxTokens: number;
  /** Picks the next id from the last position's logits [vocab]. */
  pick(logits: Float32Array, step: number): number;
  /** Generation ends before adding any of these ids (eos, a chat template's end of turn). */
  stopTokens?: readonly number[];
  /** Keys and values of earlier positions are kept (default true); false recomputes the whole context each step. */
  cache?: boolean;
  /** Called with each id added. */
  onToken?(id: number): void;
}

/** Causal LM generation with whatever virtual tokens and prefixes are registered. */
export type GenerateCapability = (promptIds: readonly number[], options: ModelGenerateOptions) => number[];

/**
 * Writes `module` (the model's module tree with methods merged into it; a merge may have
 * replaced the loaded one) in the model's own format into `dir` (which exists), with
 * `labels` as its class names; returns the file names written.
 */
export type ExportMergedCapability = (dir: string, options: { module: Module; labels?: readonly string[] }) => string[];

/** What a loaded model offers; a loader sets only what its model supports. */
export interface ModelPoints {
  inputEmbeddings?: InputEmbeddingsPoint;
  hiddenStates?: HiddenStatesPoint;
  attentionPrefix?: AttentionPrefixPoint;
  textTokenEmbeddings?: TextTokenEmbeddingsPoint;
  tokenizer?: TokenizerCapability;
  chat?: ChatCapability;
  generate?: GenerateCapability;
  exportMerged?: ExportMergedCapability;
}

export type PointName = keyof ModelPoints | 'inputEmbeddings.vocabulary';

/** The names in `needed` that `model` does not offer (a method's `requires`, checked by the run before inject). */
export function missingPoints(model: LoadedModel, needed: readonly string[]): string[] {
  const points = model.points ?? {};
  const has = (name: string) => (name === 'inputEmbeddings.vocabulary' ? !!points.inputEmbeddings?.vocabulary : !!points[name as keyof ModelPoints]);
  return needed.filter((n) => !has(n));
}

/**
 * The points a method needs, or a ConfigError naming the method, what is missing and the
 * model, for validation: `requirePoints(model, ['inputEmbeddings.vocabulary'], 'prompt-tuning')`.
 */
export function requirePoints(model: LoadedModel, needed: readonly PointName[], who: string): ModelPoints {
  const points = model.points ?? {};
  const missing = missingPoints(model, needed);
  if (missing.length) {
    const offered = (Object.keys(points) as PointName[]).filter((n) => points[n as keyof ModelPoints]);
    if (points.inputEmbeddings?.vocabulary) offered.push('inputEmbeddings.vocabulary');
    throw new ConfigError(
      `Method "${who}" needs ${missing.map((m) => `"${m}"`).join(', ')} from the model, which model "${model.name}" (arch ${model.arch}${model.loader ? `, loader ${model.loader}` : ''}) does not offer ` +
        `(it offers: ${offered.join(', ') || 'none'}). Use a model that does, or another method.`,
    );
  }
  return points;
}

/** Registrations of one model instance, for loaders to implement the points on. */
export class PointRegistry {
  private readonly virtual: VirtualTokenProvider[] = [];
  private readonly entries = new Map<number, LayerEntryFn[]>();
  private readonly taps = new Map<number, LayerTap[]>();
  private readonly prefixes = new Map<number, PrefixProvider[]>();

  constructor(
    /** Names the model in errors. */
    readonly owner: string,
    readonly layers: number,
  ) {}

  private add<T>(list: T[], item: T, what: string): Disposer {
    if (typeof item !== 'function') throw new TypeError(`${this.owner}: ${what} must be a function, got ${typeof item}`);
    list.push(item);
    return () => {
      const i = list.indexOf(item);
      if (i >= 0) list.splice(i, 1);
    };
  }

  private layerList<T>(map: Map<number, T[]>, layer: number, what: string): T[] {
    if (!Number.isInteger(layer) || layer < 0 || layer >= this.layers) {
      throw new RangeError(`${this.owner}: ${what} layer must be an integer in [0, ${this.layers - 1}], got ${layer}`);
    }
    if (!map.has(layer)) map.set(layer, []);
    return map.get(layer)!;
  }

  addVirtualTokens(provider: VirtualTokenProvider): Disposer {
    return this.add(this.virtual, provider, 'a virtual-token provider');
  }
  atLayerEntry(layer: number, fn: LayerEntryFn): Disposer {
    return this.add(this.layerList(this.entries, layer, 'atLayerEntry'), fn, 'a layer-entry function');
  }
  tapLayerOutput(layer: number, tap: LayerTap): Disposer {
    return this.add(this.layerList(this.taps, layer, 'tapLayerOutput'), tap, 'a layer tap');
  }
  addPrefix(layer: number, provider: PrefixProvider): Disposer {
    return this.add(this.layerList(this.prefixes, layer, 'addPrefix'), provider, 'a prefix provider');
  }

  get hasVirtualTokens(): boolean {
    return this.virtual.length > 0;
  }
  get hasPrefixes(): boolean {
    return [...this.prefixes.values()].some((l) => l.length > 0);
  }

  /** The registered virtual tokens as [batch, n, dim] (n may be 0), or undefined when none is registered. */
  virtualTokens(batch: number, dim: number, training: boolean): tf.Tensor3D | undefined {
    if (!this.virtual.length) return undefined;
    const parts = this.virtual.map((p, i) => toBatch(p(batch, training), batch, [-1, dim], `${this.owner}: virtual-token provider ${i}`));
    return (parts.length === 1 ? parts[0] : tf.concat(parts, 1)) as tf.Tensor3D;
  }

  /** Layer `layer`'s key/value prefix as [batch, heads, p, headDim], or undefined when none is registered. */
  prefix(layer: number, batch: number, heads: number, headDim: number, training: boolean): KeyValuePrefix | undefined {
    const list = this.prefixes.get(layer);
    if (!list?.length) return undefined;
    const parts = list.map((p, i) => {
      const kv = p(batch, training);
      const what = `${this.owner}: prefix provider ${i} of layer ${layer}`;
      if (!kv || !(kv.key instanceof tf.Tensor) || !(kv.value instanceof tf.Tensor)) throw new TypeError(`${what} must return { key, value } tensors`);
      const key = toBatch(kv.key, batch, [heads, -1, headDim], `${what} (key)`);
      const value = toBatch(kv.value, batch, [heads, key.shape[2]!, headDim], `${what} (value)`);
      return { key, value };
    });
    if (parts.length === 1) return parts[0];
    return { key: tf.concat(parts.map((p) => p.key), 2), value: tf.concat(parts.map((p) => p.value), 2) };
  }

  /**
   * Runs `blocks` in order as `step(block, h, i, prefix)`, applying layer-entry functions
   * and taps around each and handing each its prefix; a block is gradient-checkpointed when
   * `checkpointing` is on and it has no prefix.
   */
  runLayers<M extends Module>(
    blocks: Iterable<M>,
    x: tf.Tensor,
    options: {
      checkpointing: boolean;
      training: boolean;
      heads: (i: number) => { heads: number; headDim: number };
      /** Other tensors the blocks read (an attention mask); `step` gets them back as `context` (saved for a checkpointed recompute). */
      context?: tf.Tensor[];
    },
    step: (block: M, h: tf.Tensor, i: number, prefix: KeyValuePrefix | undefined, context: tf.Tensor[]) => tf.Tensor,
  ): tf.Tensor {
    const context = options.context ?? [];
    let h = x;
    let i = 0;
    for (const block of blocks) {
      for (const fn of this.entries.get(i) ?? []) {
        const before = h.shape;
        h = fn(h, i, options.training);
        if (!(h instanceof tf.Tensor) || !tf.util.arraysEqual(h.shape, before)) {
          throw new Error(`${this.owner}: a layer-entry function of layer ${i} must return a tensor of the shape it got, [${before}]; got ${h instanceof tf.Tensor ? `[${h.shape}]` : typeof h}`);
        }
      }
      const { heads, headDim } = options.heads(i);
      const prefix = this.prefix(i, h.shape[0]!, heads, headDim, options.training);
      const layer = i;
      h = options.checkpointing && !prefix ? checkpointBlock(block, h, (input, ctx) => step(block, input, layer, undefined, ctx), context) : step(block, h, layer, prefix, context);
      for (const tap of this.taps.get(i) ?? []) tap(h, i);
      i++;
    }
    return h;
  }
}

/** [...rest] or [batch, ...rest] → [batch, ...rest]; -1 in `rest` matches any size. */
function toBatch(t: tf.Tensor, batch: number, rest: number[], what: string): tf.Tensor {
  if (!(t instanceof tf.Tensor)) throw new TypeError(`${what} must return a tensor, got ${typeof t}`);
  const fits = (shape: number[]) => shape.length === rest.length && shape.every((s, i) => rest[i] === -1 || s === rest[i]);
  const want = `[${rest.map((r) => (r === -1 ? 'n' : r)).join(', ')}]`;
  const x = t.dtype === 'float32' ? t : tf.cast(t, 'float32');
  if (fits(t.shape)) return tf.tile(tf.expandDims(x, 0), [batch, ...rest.map(() => 1)]);
  if (t.shape[0] === batch && fits(t.shape.slice(1))) return x;
  throw new Error(`${what} gave a tensor of shape [${t.shape}]; it must be ${want} or [${batch}, ${want.slice(1)} for this batch of ${batch}`);
}

/** A vocabulary over the embedding table at `path` of `root` (looked up on each call, so a replaced table is seen). */
export function tableVocabulary(root: Module, path: string): TokenVocabulary {
  const table = () => root.getParameter(path).variable as unknown as tf.Tensor2D;
  return {
    size: table().shape[0],
    table,
    embed(ids) {
      const t = table();
      for (const id of ids) {
        if (!Number.isInteger(id) || id < 0 || id >= t.shape[0]) throw new RangeError(`${path}: token id ${id} is outside the vocabulary [0, ${t.shape[0] - 1}]`);
      }
      return tf.tidy(() => tf.gather(t, tf.tensor1d(ids as number[], 'int32')) as tf.Tensor2D);
    },
  };
}

/** What `stackPoints` needs to know about one transformer stack. */
export interface StackPointsSpec {
  embeddings: string;
  layersAt: string;
  layers: number;
  dim: number;
  heads: number;
  placement: 'prepend' | 'after-cls';
  vocabulary?: TokenVocabulary;
  maxPositions?: number;
  /** Layer i's input width, when layers differ (default `dim` for all). */
  entryDims?: readonly number[];
  /** Width of the input embeddings (default `dim`). */
  embeddingDim?: number;
  /** Vision models: channels · patch_size² (InputEmbeddingsPoint.patchFanIn). */
  patchFanIn?: number;
  /** Layer i's heads (default `heads` of width dim / heads for all). */
  headShape?: (layer: number) => { heads: number; headDim: number };
}

/** inputEmbeddings, hiddenStates and attentionPrefix of one transformer stack, over its registry. */
export function stackPoints(points: PointRegistry, spec: StackPointsSpec): Pick<ModelPoints, 'inputEmbeddings' | 'hiddenStates' | 'attentionPrefix'> {
  return {
    inputEmbeddings: {
      where: spec.embeddings,
      dim: spec.embeddingDim ?? spec.dim,
      placement: spec.placement,
      offset: spec.placement === 'prepend' ? 0 : 1,
      vocabulary: spec.vocabulary,
      maxPositions: spec.maxPositions,
      ...(spec.patchFanIn !== undefined ? { patchFanIn: spec.patchFanIn } : {}),
      addVirtualTokens: (provider) => points.addVirtualTokens(provider),
    },
    hiddenStates: {
      where: spec.layersAt,
      layers: spec.layers,
      dim: spec.dim,
      entryDims: spec.entryDims ?? new Array<number>(spec.layers).fill(spec.dim),
      atLayerEntry: (layer, fn) => points.atLayerEntry(layer, fn),
      tapLayerOutput: (layer, tap) => points.tapLayerOutput(layer, tap),
    },
    attentionPrefix: {
      where: spec.layersAt,
      layers: spec.layers,
      shape: (layer) => {
        if (!Number.isInteger(layer) || layer < 0 || layer >= spec.layers) throw new RangeError(`${spec.layersAt}: layer must be an integer in [0, ${spec.layers - 1}], got ${layer}`);
        return spec.headShape ? spec.headShape(layer) : { heads: spec.heads, headDim: spec.dim / spec.heads };
      },
      addPrefix: (layer, provider) => points.addPrefix(layer, provider),
    },
  };
}
