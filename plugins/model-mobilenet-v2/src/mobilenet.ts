import { Linear, Module, ModuleList, tf } from '@leantune/tensor';
import { ConvBnAct, DenseAct, FreezableBatchNorm, InvertedResidual } from './modules';
import type { MobileNetPlan } from './topology-types';

export type HeadKind = 'mlp' | 'linear';

export interface MobileNetV2Options {
  /**
   * 'mlp' keeps the exported model's hidden Dense layers (`head.<i>.dense`, pretrained)
   * under the classifier; 'linear' puts the classifier straight on the pooled features.
   */
  head?: HeadKind;
  /** Classifier outputs; default the exported model's (nsfwjs: 5). */
  numLabels?: number;
  /** A freshly initialised classifier even when its shape matches the export's. */
  freshClassifier?: boolean;
}

/**
 * MobileNetV2 as a Module tree built from a topology plan:
 *   features.<i>                     one per stage, in order (stem conv, 17 inverted
 *                                    residual blocks, last 1×1 conv for nsfwjs's export)
 *   features.<i>.conv / .bn          a lone conv unit (features.0, features.18)
 *   features.<i>.{expand,depthwise,project}.{conv,bn}   a block's units
 *   head.<j>.dense                   hidden Dense layers (head 'mlp'), ReLU + dropout
 *   classifier                       the last Linear; forward returns its logits
 * The pool is a global mean over the final map, so any input size whose stride-32
 * geometry works gives the same pipeline.
 */
export class MobileNetV2 extends Module {
  readonly plan: MobileNetPlan;
  readonly headKind: HeadKind;
  readonly numLabels: number;
  private readonly freshClassifier: boolean;

  constructor(plan: MobileNetPlan, options: MobileNetV2Options = {}) {
    super();
    this.plan = plan;
    this.headKind = options.head ?? 'mlp';
    this.numLabels = options.numLabels ?? plan.classifier.outFeatures;
    this.freshClassifier = options.freshClassifier ?? false;
    const features = this.addModule('features', new ModuleList<Module>());
    for (const stage of plan.stages) {
      features.append(stage.kind === 'conv' ? new ConvBnAct(stage.unit) : new InvertedResidual(stage.units, stage.residualLayer !== null));
    }
    let width = plan.featureChannels;
    if (this.headKind === 'mlp' && plan.hidden.length > 0) {
      const head = this.addModule('head', new ModuleList<DenseAct>());
      for (const d of plan.hidden) head.append(new DenseAct(d.inFeatures, d.outFeatures, d.activation, d.dropout, d.bias));
      width = plan.hidden[plan.hidden.length - 1].outFeatures;
    }
    this.addModule('classifier', new Linear(width, this.numLabels, { bias: this.headKind === 'linear' || plan.classifier.bias }));
  }

  /** Whether the classifier has the exported model's shape, so its weights can load. */
  get classifierMatchesExport(): boolean {
    return !this.freshClassifier && this.headKind === 'mlp' && this.numLabels === this.plan.classifier.outFeatures;
  }

  /** The feature map after stage `lastStage` (default: the whole trunk), NHWC. */
  forwardFeatures(x: tf.Tensor, lastStage = this.plan.stages.length - 1): tf.Tensor4D {
    return tf.tidy(() => this.trunk(x, lastStage, [lastStage]).kept[0]);
  }

  /** Logits [batch, numLabels]. */
  forward(x: tf.Tensor): tf.Tensor2D {
    return this.forwardWithFeatures(x).logits;
  }

  /** Logits plus the feature maps after the given stages, from one pass (the caller disposes). */
  forwardWithFeatures(x: tf.Tensor, stages: readonly number[] = []): { logits: tf.Tensor2D; features: tf.Tensor4D[] } {
    const result = tf.tidy(() => {
      const { map, kept } = this.trunk(x, this.plan.stages.length - 1, stages);
      // Global average pool: equal to the export's 7×7 AveragePooling2D at 224, and size-agnostic.
      let h: tf.Tensor = tf.mean(map, [1, 2]);
      const head = this.child<ModuleList<DenseAct>>('head');
      if (head) for (const layer of head) h = layer.forward(h);
      const logits = this.child('classifier')!.forward(h) as tf.Tensor2D;
      return [logits, ...kept] as tf.Tensor[];
    });
    return { logits: result[0] as tf.Tensor2D, features: result.slice(1) as tf.Tensor4D[] };
  }

  private trunk(x: tf.Tensor, lastStage: number, keep: readonly number[]): { map: tf.Tensor4D; kept: tf.Tensor4D[] } {
    if (x.rank !== 4 || x.shape[3] !== this.plan.inputShape[2]) {
      throw new Error(`MobileNetV2: input must be NHWC [batch, height, width, ${this.plan.inputShape[2]}] with values /255, got shape [${x.shape}]`);
    }
    const features = this.child<ModuleList<Module>>('features')!;
    for (const i of [lastStage, ...keep]) {
      if (!Number.isInteger(i) || i < 0 || i > lastStage || i >= features.length) {
        throw new Error(`MobileNetV2: stage index must be an integer in [0, ${features.length - 1}], got ${i}`);
      }
    }
    const kept = new Array<tf.Tensor4D>(keep.length);
    let h = x as tf.Tensor4D;
    for (let i = 0; i <= lastStage; i++) {
      h = features.at(i).forward(h) as tf.Tensor4D;
      keep.forEach((k, j) => {
        if (k === i) kept[j] = h;
      });
    }
    return { map: h, kept };
  }

  /** Paths of the inverted residual blocks, in order ("features.1" … "features.17" for nsfwjs's export). */
  blockPaths(): string[] {
    return this.plan.stages.flatMap((stage, i) => (stage.kind === 'conv' ? [] : [`features.${i}`]));
  }

  /** false (default): BatchNorm always uses running stats; true: batch stats while training. */
  setBatchNormTraining(useBatchStats: boolean): void {
    for (const [, m] of this.namedModules()) if (m instanceof FreezableBatchNorm) m.useBatchStats = useBatchStats;
  }
}
