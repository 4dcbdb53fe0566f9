import { tf } from '@leantune/tensor';
import type { ClassTokenPosition, ContextOptions, TextTokenEmbeddingsPoint, TokenVocabulary } from './model-points';

const CLASS_POSITIONS: readonly ClassTokenPosition[] = ['end', 'middle', 'front'];

/** The placeholder CoOp writes for each context slot before it substitutes the vectors. */
const CONTEXT_PLACEHOLDER = 'X';

/** What a text tower gives the textTokenEmbeddings point; the point does the prompt layout. */
export interface TextContextTower {
  /** The word-embedding table's module path (the point's `where`). */
  where: string;
  /** Width of a word embedding (a context vector). */
  dim: number;
  vocabulary: TokenVocabulary;
  /** Longest prompt in tokens, special tokens included. */
  maxPositions: number;
  /** Names the tokenizer in errors (its file). */
  source: string;
  /** Token ids of `text` with the tower's special tokens, as its encode() makes them. */
  encodeIds(text: string): number[];
  /** The id that pads a row. */
  padId: number;
  /** Word embeddings [rows, width, dim] of int32 ids [rows, width]. */
  embedIds(ids: tf.Tensor2D): tf.Tensor3D;
  /**
   * Text features [rows, projectionDim] of prompts given as their input embeddings [rows,
   * width, dim] (context vectors in the slots), their ids (which still place pooling, e.g.
   * CLIP's EOS) and their int32 mask (1 = token); differentiable with respect to `embeds`.
   */
  featuresFromEmbeds(ids: tf.Tensor2D, mask: tf.Tensor2D, embeds: tf.Tensor3D): tf.Tensor2D;
  /** Text features of plain texts (zero-shot prompts). */
  encodeTexts(texts: readonly string[]): tf.Tensor2D;
}

/** The point and what the model reads from it: the label context or label features set on it. */
export interface TextContextPoint {
  point: TextTokenEmbeddingsPoint;
  readonly labelContext?: (training: boolean) => tf.Tensor;
  readonly labelContextOptions?: ContextOptions;
  readonly labelFeatures?: () => tf.Tensor2D;
  /**
   * The model's class text features for `labels` now: from the label context when one is
   * set, else the label features, else `fallback()` (its prompt template's).
   */
  labelTextFeatures(labels: readonly string[], training: boolean, fallback: () => tf.Tensor2D): tf.Tensor2D;
}

/**
 * Token ids of CoOp's prompt for each class with n context slots: "X … X <name>." is
 * tokenized as CoOp does, then the k tokens of "X … X" (whatever the tokenizer makes of
 * them) become n slots, placed before, around or after the name's tokens (`position`).
 * Returns the ids (slots hold the first placeholder id) and, per row, each context vector's position.
 */
export function contextPromptIds(tower: Pick<TextContextTower, 'encodeIds' | 'source'>, classNames: readonly string[], n: number, position: ClassTokenPosition): { rows: number[][]; slots: number[][] } {
  const prompt = Array(n).fill(CONTEXT_PLACEHOLDER).join(' ');
  const empty = tower.encodeIds('');
  const alone = tower.encodeIds(prompt);
  let start = 0; // the special tokens before the text (SOS)
  while (start < empty.length && empty[start] === alone[start]) start++;
  const k = alone.length - empty.length;
  if (k < 1) throw new Error(`${tower.source}: the tokenizer makes no tokens of "${prompt}", so the context slots cannot be placed`);
  const slots: number[][] = [];
  const rows = classNames.map((c) => {
    const ids = tower.encodeIds(`${prompt} ${c}.`);
    if (ids.slice(0, start + k).some((id, i) => id !== alone[i])) {
      throw new Error(`${tower.source}: the prompt for class "${c}" does not begin with the tokens of "${prompt}", so the context slots cannot be placed`);
    }
    const slot = alone[start];
    const pre = ids.slice(0, start);
    const rest = ids.slice(start + k);
    // The name's tokens: what "X … X <name>" adds to "X … X" (CoOp's name_lens).
    const nameLen = position === 'end' ? 0 : tower.encodeIds(`${prompt} ${c}`).length - alone.length;
    if (nameLen < 0 || nameLen > rest.length) throw new Error(`${tower.source}: the tokens of class "${c}" cannot be told apart from the rest of its prompt`);
    const name = rest.slice(0, nameLen);
    const suffix = rest.slice(nameLen);
    const before = position === 'front' ? 0 : position === 'middle' ? Math.floor(n / 2) : n;
    const row = [...pre, ...new Array<number>(before).fill(slot), ...name, ...new Array<number>(n - before).fill(slot), ...suffix];
    slots.push([...Array.from({ length: before }, (_, i) => start + i), ...Array.from({ length: n - before }, (_, i) => start + before + name.length + i)]);
    return row;
  });
  return { rows, slots };
}

/**
 * A textTokenEmbeddings point over a text tower (CLIP's, or a dual encoder's): CoOp's prompt
 * layout, the context vectors gathered into the word embeddings' slots, and the label
 * context / label features the model's own loss and predict read.
 */
export function textContextPoint(tower: TextContextTower): TextContextPoint {
  const state: { labelContext?: (training: boolean) => tf.Tensor; labelContextOptions?: ContextOptions; labelFeatures?: () => tf.Tensor2D } = {};
  const point: TextTokenEmbeddingsPoint = {
    where: tower.where,
    dim: tower.dim,
    vocabulary: tower.vocabulary,
    maxPositions: tower.maxPositions,
    encodeTexts: (texts) => tower.encodeTexts(texts),
    encodeWithContext(classNames, context, options = {}) {
      const position = options.classPosition ?? 'end';
      if (!CLASS_POSITIONS.includes(position)) throw new Error(`textTokenEmbeddings: classPosition must be one of ${CLASS_POSITIONS.join(', ')}, got ${JSON.stringify(position)}`);
      const classes = classNames.length;
      const shared = context.rank === 2;
      if (!(shared || (context.rank === 3 && context.shape[0] === classes)) || context.shape[context.rank - 1] !== tower.dim) {
        throw new Error(`textTokenEmbeddings: context must be [n, ${tower.dim}] or [${classes}, n, ${tower.dim}] for ${classes} class names, got [${context.shape}]`);
      }
      const n = context.shape[context.rank - 2]!;
      const { rows, slots } = contextPromptIds(tower, classNames, n, position);
      const width = Math.max(...rows.map((r) => r.length));
      if (width > tower.maxPositions) {
        throw new Error(`textTokenEmbeddings: a prompt of ${n} context vectors and the longest class name takes ${width} tokens, more than the text tower's ${tower.maxPositions} positions; use fewer context vectors or shorter names`);
      }
      const ids = rows.map((r) => [...r, ...new Array<number>(width - r.length).fill(tower.padId)]);
      const mask = rows.map((r) => [...r.map(() => 1), ...new Array<number>(width - r.length).fill(0)]);
      return tf.tidy(() => {
        const idT = tf.tensor2d(ids, [classes, width], 'int32');
        const words = tower.embedIds(idT);
        const ctx3 = shared ? tf.tile(tf.expandDims(context, 0), [classes, 1, 1]) : context;
        // Each position reads its word embedding, or (a slot) its context vector: one gather
        // over [words; contexts], so the gradient reaches the context wherever it sits.
        const pick = new Int32Array(classes * width);
        for (let c = 0; c < classes; c++) {
          for (let p = 0; p < width; p++) pick[c * width + p] = c * width + p;
          slots[c].forEach((p, i) => (pick[c * width + p] = classes * width + c * n + i));
        }
        const all = tf.concat([tf.reshape(words, [classes * width, tower.dim]), tf.reshape(ctx3, [classes * n, tower.dim])], 0);
        const joined = tf.reshape(tf.gather(all, tf.tensor1d(pick, 'int32')), [classes, width, tower.dim]) as tf.Tensor3D;
        return tower.featuresFromEmbeds(idT, tf.tensor2d(mask, [classes, width], 'int32'), joined);
      });
    },
    setLabelContext(provider, options = {}) {
      if (typeof provider !== 'function') throw new TypeError(`textTokenEmbeddings.setLabelContext: provider must be a function, got ${typeof provider}`);
      if (state.labelContext) throw new Error('textTokenEmbeddings: a label context is already set; dispose the first one before setting another');
      if (state.labelFeatures) throw new Error('textTokenEmbeddings: label features are set; dispose them before setting a label context');
      state.labelContext = provider;
      state.labelContextOptions = { ...options };
      return () => {
        if (state.labelContext === provider) state.labelContext = state.labelContextOptions = undefined;
      };
    },
    setLabelFeatures(provider) {
      if (typeof provider !== 'function') throw new TypeError(`textTokenEmbeddings.setLabelFeatures: provider must be a function, got ${typeof provider}`);
      if (state.labelFeatures || state.labelContext) throw new Error(`textTokenEmbeddings: ${state.labelFeatures ? 'label features are' : 'a label context is'} already set; dispose it before setting label features`);
      state.labelFeatures = provider;
      return () => {
        if (state.labelFeatures === provider) state.labelFeatures = undefined;
      };
    },
  };
  return {
    point,
    get labelContext() {
      return state.labelContext;
    },
    get labelContextOptions() {
      return state.labelContextOptions;
    },
    get labelFeatures() {
      return state.labelFeatures;
    },
    labelTextFeatures(labels, training, fallback) {
      const context = state.labelContext?.(training);
      if (context) return point.encodeWithContext(labels, context, state.labelContextOptions);
      return state.labelFeatures?.() ?? fallback();
    },
  };
}
