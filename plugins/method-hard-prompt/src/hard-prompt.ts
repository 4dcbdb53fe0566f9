import fs from 'node:fs';
import path from 'node:path';
import { requirePoints, schemaDefaults, type ConfigOf, type DataRecord, type JSONSchema, type LoadedModel, type MethodHandle } from '@leantune/core';
import { tf } from '@leantune/tensor';

export const PLUGIN_NAME = '@leantune/plugin-hard-prompt';
/** The file `save` writes: the templates and class names, enough for `eval --adapter` to reproduce the classifier. */
export const HARD_PROMPT_FILE = 'hard_prompt.json';

/** CLIP's own single template (its zero-shot notebooks' default). */
export const DEFAULT_TEMPLATES = ['a photo of a {}.'] as const;

export const hardPromptConfigSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    templates: {
      type: 'array',
      items: { type: 'string', pattern: '\\{\\}', minLength: 2 },
      minItems: 1,
      default: [...DEFAULT_TEMPLATES],
      description: 'Hand-written prompts, "{}" standing for the class name; several are ensembled (mean of the normalised text embeddings, as CLIP\'s paper)',
    },
  },
} as const satisfies JSONSchema;

export type HardPromptConfig = ConfigOf<typeof hardPromptConfigSchema>;
export const HARD_PROMPT_DEFAULTS: HardPromptConfig = schemaDefaults<HardPromptConfig>(hardPromptConfigSchema);

/** Every template with `{}` replaced by `name` (each occurrence). */
export function fillTemplate(template: string, name: string): string {
  if (!template.includes('{}')) throw new Error(`hard-prompt: template ${JSON.stringify(template)} has no "{}" for the class name`);
  return template.split('{}').join(name);
}

const unit = (x: tf.Tensor) => tf.div(x, tf.norm(x, 'euclidean', -1, true));

/**
 * CLIP's prompt ensembling: for each class, the mean over templates of the L2-normalised
 * text embeddings of the filled-in templates, [classes, dim] (not renormalised here; the
 * cosine with the image renormalises it, as CLIP's zeroshot_classifier does).
 * `embed(texts)` gives one embedding per text, [texts, dim].
 */
export function ensembleClassEmbeddings(classNames: readonly string[], templates: readonly string[], embed: (texts: string[]) => tf.Tensor2D): tf.Tensor2D {
  if (!templates.length) throw new Error('hard-prompt: give at least one template');
  return tf.tidy(() => {
    const perTemplate = templates.map((t) => unit(embed(classNames.map((c) => fillTemplate(t, c)))));
    return tf.div(tf.addN(perTemplate), templates.length) as tf.Tensor2D;
  });
}

export interface HardPromptHandle extends MethodHandle<HardPromptConfig & { class_names: string[] }> {
  /** The ensembled class text features [classes, projectionDim] the model's logits use. */
  readonly classFeatures: tf.Tensor2D;
}

/**
 * Hard prompts on CLIP: the model's own label logits (its predict and loss) use the ensembled
 * class text features of `templates`: exp(logit_scale) · cos(image, mean of normalised
 * text features). Nothing trains.
 */
export function injectHardPrompt(model: LoadedModel, config: HardPromptConfig): HardPromptHandle {
  const point = requirePoints(model, ['textTokenEmbeddings'], 'hard-prompt').textTokenEmbeddings!;
  const labels = model.labels;
  if (!labels?.length) throw new Error(`hard-prompt: model "${model.name}" has no class names; give the model labels (model.labels, or a dataset with labels)`);
  const templates = [...config.templates];
  templates.forEach((t) => fillTemplate(t, ''));
  const classFeatures = tf.keep(ensembleClassEmbeddings(labels, templates, (texts) => point.encodeTexts(texts)));
  let off: (() => void) | undefined = point.setLabelFeatures(() => classFeatures);
  const resolved = { templates, class_names: [...labels] };
  return {
    config: resolved,
    classFeatures,
    trains: () => false,
    save(dir) {
      fs.mkdirSync(dir, { recursive: true });
      const file = { method: 'hard-prompt', ...resolved, ensemble: 'mean of L2-normalised text features over templates' };
      fs.writeFileSync(path.join(dir, HARD_PROMPT_FILE), `${JSON.stringify(file, null, 2)}\n`);
    },
    disable() {
      off?.();
      off = undefined;
    },
    enable() {
      if (!off) off = point.setLabelFeatures(() => classFeatures);
    },
    unload() {
      off?.();
      off = undefined;
      classFeatures.dispose();
      return model.module;
    },
  };
}

/** Reads `hard_prompt.json` of `dir` and applies its templates; the model must have the same class names. */
export function loadHardPrompt(model: LoadedModel, dir: string): HardPromptHandle {
  const file = path.join(dir, HARD_PROMPT_FILE);
  if (!fs.existsSync(file)) throw new Error(`Cannot load hard-prompt: ${file} does not exist`);
  let json: { templates?: unknown; class_names?: unknown };
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file}: not valid JSON (${(err as Error).message})`);
  }
  const templates = json.templates;
  if (!Array.isArray(templates) || !templates.length || !templates.every((t) => typeof t === 'string' && t.includes('{}'))) {
    throw new Error(`${file}: templates must be a non-empty list of strings with "{}", got ${JSON.stringify(templates)}`);
  }
  const names = json.class_names;
  if (Array.isArray(names) && model.labels && JSON.stringify(names) !== JSON.stringify(model.labels)) {
    throw new Error(`${file} was saved for classes ${JSON.stringify(names)}; the model's labels are ${JSON.stringify(model.labels)} (same names, same order)`);
  }
  return injectHardPrompt(model, { templates: templates as string[] });
}

/**
 * Zero-shot classification with an embedding model (e.g. use-lite's embedding head, whose
 * predict gives one embedding per text): class embeddings are the ensembled template
 * embeddings of the class names; a text's scores are its cosines to them [texts, classes].
 */
export class EmbeddingZeroShot {
  readonly classEmbeddings: tf.Tensor2D;

  constructor(
    readonly model: LoadedModel,
    readonly classNames: readonly string[],
    readonly templates: readonly string[] = DEFAULT_TEMPLATES,
  ) {
    if (!model.encode || !model.predict) throw new Error(`hard-prompt: model "${model.name}" needs encode() and predict() giving one embedding per text`);
    this.classEmbeddings = tf.keep(ensembleClassEmbeddings(classNames, templates, (texts) => this.embed(texts)));
  }

  /** Embeddings [texts, dim] of `texts`, as the model's predict gives them. */
  embed(texts: readonly string[]): tf.Tensor2D {
    const records: DataRecord[] = texts.map((text, row) => ({ id: `hard-prompt-${row}`, text, meta: { source: 'hard-prompt', row } }));
    const batch = this.model.encode!(records);
    try {
      const out = this.model.predict!(batch);
      if (out.rank !== 2 || out.shape[0] !== texts.length) throw new Error(`hard-prompt: model "${this.model.name}"'s predict gave [${out.shape}], not one embedding per text [${texts.length}, dim]`);
      return out as tf.Tensor2D;
    } finally {
      tf.dispose([...(batch.inputs instanceof tf.Tensor ? [batch.inputs] : Object.values(batch.inputs)), ...(batch.targets ? [batch.targets] : [])]);
    }
  }

  /** Cosine similarities [texts, classes] of `texts` to the class embeddings. */
  scores(texts: readonly string[]): tf.Tensor2D {
    const e = this.embed(texts);
    try {
      return tf.tidy(() => tf.matMul(unit(e), unit(this.classEmbeddings), false, true) as tf.Tensor2D);
    } finally {
      e.dispose();
    }
  }

  /** The best class of each text. */
  classify(texts: readonly string[]): string[] {
    const s = this.scores(texts);
    try {
      return (tf.tidy(() => tf.argMax(s, 1)).arraySync() as number[]).map((i) => this.classNames[i]);
    } finally {
      s.dispose();
    }
  }

  dispose(): void {
    this.classEmbeddings.dispose();
  }
}
