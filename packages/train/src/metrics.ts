import { tf } from '@leantune/tensor';

/** A confusion matrix: `matrix[trueClass][predictedClass]` counts. */
export type ConfusionMatrix = number[][];

function checkLabels(values: ArrayLike<number>, numClasses: number, what: string): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isInteger(v) || v < 0 || v >= numClasses) {
      throw new Error(`${what}[${i}] = ${v} is not a class index in [0, ${numClasses}); check numClasses or the label encoding`);
    }
  }
}

export function confusionMatrix(labels: ArrayLike<number>, predictions: ArrayLike<number>, numClasses: number): ConfusionMatrix {
  if (!Number.isInteger(numClasses) || numClasses <= 0) throw new Error(`confusionMatrix: numClasses must be a positive integer, got ${numClasses}`);
  if (labels.length !== predictions.length) {
    throw new Error(`confusionMatrix: ${labels.length} labels but ${predictions.length} predictions`);
  }
  checkLabels(labels, numClasses, 'labels');
  checkLabels(predictions, numClasses, 'predictions');
  const m = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  for (let i = 0; i < labels.length; i++) m[labels[i]][predictions[i]]++;
  return m;
}

export function accuracyFromConfusion(m: ConfusionMatrix): number {
  let correct = 0;
  let total = 0;
  m.forEach((row, i) => row.forEach((n, j) => ((total += n), i === j && (correct += n))));
  return total === 0 ? 0 : correct / total;
}

/**
 * Per-class F1 = 2·TP / (2·TP + FP + FN); an undefined 0/0 is 0 (sklearn's zero_division=0).
 * `null` marks a class absent from both labels and predictions.
 */
export function perClassF1(m: ConfusionMatrix): Array<number | null> {
  return m.map((row, c) => {
    const tp = row[c];
    const fn = row.reduce((a, b) => a + b, 0) - tp;
    const fp = m.reduce((a, r) => a + r[c], 0) - tp;
    if (tp + fn + fp === 0) return null;
    return (2 * tp) / (2 * tp + fp + fn);
  });
}

export interface ClassScores {
  precision: number;
  recall: number;
  f1: number;
  /** True instances of the class (sklearn's support). */
  support: number;
}

/**
 * Precision TP/(TP+FP), recall TP/(TP+FN) and F1 per class, an undefined 0/0 being 0 as
 * sklearn's classification_report gives with zero_division=0.
 */
export function perClassScores(m: ConfusionMatrix): ClassScores[] {
  return m.map((row, c) => {
    const tp = row[c];
    const support = row.reduce((a, b) => a + b, 0);
    const predicted = m.reduce((a, r) => a + r[c], 0);
    const precision = predicted === 0 ? 0 : tp / predicted;
    const recall = support === 0 ? 0 : tp / support;
    const f1 = tp === 0 ? 0 : (2 * tp) / (support + predicted);
    return { precision, recall, f1, support };
  });
}

/**
 * Per-class scores as flat metric keys, `precision/<class>`, `recall/<class>`, `f1/<class>`
 * (TensorBoard's tag style), for a metrics record of numbers.
 */
export function perClassMetrics(m: ConfusionMatrix, labels: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  perClassScores(m).forEach((s, c) => {
    const name = labels[c] ?? String(c);
    out[`precision/${name}`] = s.precision;
    out[`recall/${name}`] = s.recall;
    out[`f1/${name}`] = s.f1;
  });
  return out;
}

/**
 * Unweighted mean of per-class F1. By default a class that appears in neither labels nor
 * predictions is left out, as sklearn's f1_score(average='macro') does without `labels`;
 * `includeAbsent` counts it as 0, as passing labels=range(numClasses) does.
 */
export function macroF1(m: ConfusionMatrix, options: { includeAbsent?: boolean } = {}): number {
  const f1 = perClassF1(m);
  const counted = options.includeAbsent ? f1.map((f) => f ?? 0) : f1.filter((f): f is number => f !== null);
  return counted.length === 0 ? 0 : counted.reduce((a, b) => a + b, 0) / counted.length;
}

export interface ClassificationMetrics {
  loss: number;
  accuracy: number;
  macroF1: number;
  confusion: ConfusionMatrix;
  count: number;
}

/**
 * Accumulates an evaluation over batches: argmax of logits against integer labels, and
 * the sample-weighted mean loss. Reads values to JS right away, so it holds no tensors.
 */
export class ClassificationMeter {
  private readonly m: ConfusionMatrix;
  private lossSum = 0;
  private lossCount = 0;

  constructor(readonly numClasses: number) {
    this.m = confusionMatrix([], [], numClasses);
  }

  /** `loss` is the batch's mean loss; it is weighted by the batch size. */
  update(logits: tf.Tensor, labels: tf.Tensor | ArrayLike<number>, loss?: number): void {
    if (logits.rank !== 2 || logits.shape[1] !== this.numClasses) {
      throw new Error(`ClassificationMeter.update: logits must be [batch, ${this.numClasses}], got [${logits.shape}]`);
    }
    const predTensor = tf.argMax(logits, 1);
    const preds = predTensor.dataSync();
    predTensor.dispose();
    const labelValues = labels instanceof tf.Tensor ? labels.dataSync() : labels;
    if (labelValues.length !== preds.length) {
      throw new Error(`ClassificationMeter.update: ${preds.length} logits rows but ${labelValues.length} labels`);
    }
    const batch = confusionMatrix(labelValues, preds, this.numClasses);
    batch.forEach((row, i) => row.forEach((n, j) => (this.m[i][j] += n)));
    if (loss !== undefined) {
      this.lossSum += loss * preds.length;
      this.lossCount += preds.length;
    }
  }

  compute(): ClassificationMetrics {
    const count = this.m.reduce((a, row) => a + row.reduce((x, y) => x + y, 0), 0);
    return {
      loss: this.lossCount === 0 ? NaN : this.lossSum / this.lossCount,
      accuracy: accuracyFromConfusion(this.m),
      macroF1: macroF1(this.m),
      confusion: this.m.map((row) => [...row]),
      count,
    };
  }
}
