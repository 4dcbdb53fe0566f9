import type { Batch, DataRecord, LoadedModel, ModelSpec, RunContext } from '@leantune/core';
import { imageProblem } from '@leantune/data';
import { softmaxCrossEntropyWithLabels, tf } from '@leantune/tensor';
import { MobileNetV2 } from './mobilenet';
import { readNsfwjsMobileNetV2 } from './nsfwjs-assets';
import { preprocessImages } from './preprocess';
import { loadPretrainedWeights } from './pretrained';
import { MODEL_NAME, resolveSpec } from './spec';
import { parseMobileNetTopology } from './topology';
import type { MobileNetPlan } from './topology-types';
import { decodeWeights, type DecodedWeight } from './weights';

/** Module names methods that wrap layers (LoRA, IA3) adapt by default: the blocks' 1×1 expand and project convs. */
export const MOBILENET_DEFAULT_TARGETS: readonly string[] = ['expand.conv', 'project.conv'];

export const WEIGHTS_SOURCE = 'nsfwjs@4.3.0 dist/models/mobilenet_v2 (MIT, Infinite Red)';

interface Pretrained {
  plan: MobileNetPlan;
  weights: Map<string, DecodedWeight>;
  source: string;
}

let cached: Pretrained | undefined;

/** nsfwjs's topology and decoded weights, read once per process (they are never mutated). */
export function nsfwjsPretrained(): Pretrained {
  if (!cached) {
    const assets = readNsfwjsMobileNetV2();
    cached = { plan: parseMobileNetTopology(assets.modelTopology), weights: decodeWeights(assets), source: assets.source };
  }
  return cached;
}

/** Builds the module for a spec and fills it with nsfwjs's weights. */
export function createMobileNetV2(
  spec: ModelSpec,
  fallbackLabels?: readonly string[],
): { module: MobileNetV2; labels: string[]; inputSize: number; fresh: string[] } {
  const { spec: s, labels, pretrainedClassifier } = resolveSpec(spec, fallbackLabels);
  const { plan, weights, source } = nsfwjsPretrained();
  const module = new MobileNetV2(plan, { head: s.head, numLabels: labels.length, freshClassifier: !pretrainedClassifier });
  const { fresh } = loadPretrainedWeights(module, weights, source);
  module.setBatchNormTraining(s.batchNorm === 'train');
  return { module, labels, inputSize: s.inputSize, fresh };
}

/** Without labels in the spec, a run with `data` takes its classes from the dataset. */
async function runDatasetLabels(spec: ModelSpec, ctx: Partial<Pick<RunContext, 'datasetLabels' | 'config'>>): Promise<string[] | undefined> {
  if (spec.labels !== undefined || spec.numLabels !== undefined) return undefined;
  const labels = await ctx.datasetLabels?.();
  if (labels && labels.length === 0) {
    throw new Error(`mobilenet-v2: dataset "${ctx.config?.data?.name}" has no labels; set "labels" or "numLabels" in the model options`);
  }
  return labels;
}

/** The class index of a record's label: its name in `labels`, or an index into them; an error naming the record otherwise. */
export function labelIndex(record: DataRecord, labels: readonly string[]): number {
  const { label } = record;
  const byName = labels.indexOf(String(label));
  if (typeof label === 'string' && byName >= 0) return byName;
  if (typeof label === 'number' && Number.isInteger(label) && label >= 0 && label < labels.length) return label;
  throw new Error(`Record ${record.id}: label ${JSON.stringify(label)} is not one of ${labels.join(', ')} (nor an index 0..${labels.length - 1})`);
}

/**
 * The `mobilenet-v2` model: nsfwjs's MobileNetV2 as a trainable Module tree. `encode`
 * turns `record.image` (HWC RGB 0..255) into [n, size, size, 3] / 255; `loss` is softmax
 * cross-entropy over the classifier's logits; `predict` gives probabilities.
 */
export async function loadMobileNetV2(spec: ModelSpec, ctx: Partial<Pick<RunContext, 'datasetLabels' | 'config'>> = {}): Promise<LoadedModel> {
  const { module, labels, inputSize, fresh } = createMobileNetV2(spec, await runDatasetLabels(spec, ctx));
  const logits = (batch: Batch): tf.Tensor2D => {
    if (!(batch.inputs instanceof tf.Tensor)) throw new Error('mobilenet-v2: batch.inputs must be the image tensor that encode() made');
    return module.forward(batch.inputs);
  };
  return {
    name: MODEL_NAME,
    arch: 'mobilenet-v2',
    module,
    labels,
    freshParameters: fresh,
    // LoRA/IA3 and the like: the 1×1 pointwise convs of the inverted residual blocks (PEFT's
    // all-linear has no Linear to pick in a conv trunk; depthwise convs are grouped, which LoRA refuses).
    defaultTargets: MOBILENET_DEFAULT_TARGETS,
    // Bottleneck adapters: after each inverted residual block (features.1..17).
    blockTargets: module.blockPaths(),
    // Each record's image is checked while the run prepares data (before a run folder): one
    // this model cannot turn into RGB (2 channels, a wrong byte length, NaN, 0×0) is reported by id.
    checkRecord: (record) => imageProblem(record.image),
    encode(records): Batch {
      // Labels first: a bad label then throws before any tensor exists.
      const indices = records.every((r) => r.label !== undefined) ? records.map((r) => labelIndex(r, labels)) : undefined;
      const inputs = preprocessImages(
        records.map((r) => r.image),
        inputSize,
        (i) => `Record ${records[i].id} (image)`,
      );
      return { inputs, targets: indices && tf.tensor1d(indices, 'int32'), size: records.length };
    },
    loss(batch, training) {
      if (!batch.targets) throw new Error('mobilenet-v2: loss needs batch.targets; every record must have a label');
      module.train(training);
      return tf.tidy(() => softmaxCrossEntropyWithLabels(logits(batch), batch.targets!));
    },
    predict(batch) {
      module.eval();
      return tf.tidy(() => tf.softmax(logits(batch)));
    },
    meta: { inputSize, head: module.headKind, weights: WEIGHTS_SOURCE, freshParameters: fresh, parameters: module.countParameters() },
  };
}
