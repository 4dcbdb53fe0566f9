import { tf } from '@leantune/tensor';
import { accuracyFromConfusion, ClassificationMeter, confusionMatrix, macroF1, perClassF1 } from '@leantune/train';

describe('classification metrics', () => {
  // labels:      0 0 0 1 1 2 2 2
  // predictions: 0 0 1 1 2 2 2 0
  const labels = [0, 0, 0, 1, 1, 2, 2, 2];
  const preds = [0, 0, 1, 1, 2, 2, 2, 0];

  it('builds the confusion matrix (rows = truth, columns = prediction)', () => {
    expect(confusionMatrix(labels, preds, 3)).toEqual([
      [2, 1, 0],
      [0, 1, 1],
      [1, 0, 2],
    ]);
  });

  it('accuracy and macro-F1 match hand computation', () => {
    const m = confusionMatrix(labels, preds, 3);
    expect(accuracyFromConfusion(m)).toBe(5 / 8);
    // class 0: tp 2, fp 1, fn 1 → 4/6; class 1: tp 1, fp 1, fn 1 → 2/4; class 2: tp 2, fp 1, fn 1 → 4/6.
    expect(perClassF1(m)).toEqual([4 / 6, 2 / 4, 4 / 6]);
    expect(macroF1(m)).toBeCloseTo((4 / 6 + 0.5 + 4 / 6) / 3, 12);
  });

  it('a class that never appears is left out of macro-F1 unless includeAbsent', () => {
    // 4 classes; class 3 is neither a label nor a prediction.
    const m = confusionMatrix(labels, preds, 4);
    expect(perClassF1(m)[3]).toBeNull();
    expect(macroF1(m)).toBeCloseTo((4 / 6 + 0.5 + 4 / 6) / 3, 12);
    expect(macroF1(m, { includeAbsent: true })).toBeCloseTo((4 / 6 + 0.5 + 4 / 6) / 4, 12);
  });

  it('a class that is predicted but never true scores F1 0 and counts', () => {
    // labels 0 0 1 1, predictions 0 2 1 1: class 2 has one false positive only.
    const m = confusionMatrix([0, 0, 1, 1], [0, 2, 1, 1], 3);
    // class 0: tp1 fn1 → 2/3; class 1: tp2 → 1; class 2: fp1 → 0.
    expect(macroF1(m)).toBeCloseTo((2 / 3 + 1 + 0) / 3, 12);
  });

  it('rejects labels outside the class range', () => {
    expect(() => confusionMatrix([0, 3], [0, 1], 3)).toThrow(/labels\[1\] = 3 is not a class index in \[0, 3\)/);
    expect(() => confusionMatrix([0], [0, 1], 3)).toThrow(/1 labels but 2 predictions/);
  });

  it('ClassificationMeter accumulates batches of logits and a size-weighted loss', () => {
    const meter = new ClassificationMeter(3);
    const before = tf.memory().numTensors;
    const logits1 = tf.tensor2d([[5, 0, 0], [4, 1, 0], [0, 3, 1], [0, 2, 1], [0, 9, 10]]);
    const logits2 = tf.tensor2d([[0, 0, 1], [1, 0, 2], [3, 0, 0]]);
    meter.update(logits1, labels.slice(0, 5), 1.0);
    const labels2 = tf.tensor1d(labels.slice(5), 'int32');
    meter.update(logits2, labels2, 2.0);
    const r = meter.compute();
    expect(r.confusion).toEqual(confusionMatrix(labels, preds, 3));
    expect(r.accuracy).toBe(5 / 8);
    expect(r.loss).toBeCloseTo((5 * 1 + 3 * 2) / 8, 12);
    expect(r.count).toBe(8);
    tf.dispose([logits1, logits2, labels2]);
    expect(tf.memory().numTensors).toBe(before);
  });
});
