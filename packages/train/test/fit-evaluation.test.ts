import { tf } from '@leantune/tensor';
import { fit, FitOptions, perClassMetrics, perClassScores } from '@leantune/train';
import { SoftmaxClassifier, ToyBatch, toyDataset } from './helpers/classifier';
import { freshTempDir } from './helpers/temp-dir';

// 20 samples at batch 4: 5 steps per epoch.
const data = toyDataset(20, 4, 3);
/** A scripted validation score by step: best (max) at step 4, mid-epoch, then worse. */
const SCORE: Record<number, number> = { 2: 0.5, 4: 0.9, 5: 0.3, 6: 0.4, 7: 0.35, 8: 0.2, 10: 0.1 };

function options(model: SoftmaxClassifier, extra: Partial<FitOptions<ToyBatch>> = {}): FitOptions<ToyBatch> {
  return {
    model,
    loss: (batch) => tf.tidy(() => tf.losses.softmaxCrossEntropy(batch.y, model.forward(batch.x)) as tf.Scalar),
    trainSet: data,
    epochs: 2,
    batchSize: 4,
    optimizer: { name: 'adamw', lr: 0.05 },
    seed: 3,
    evalFn: (_m, state) => ({ score: SCORE[state.step] }),
    evalEvery: 2,
    ...extra,
  };
}

const weightsOf = (model: SoftmaxClassifier) => [...model.stateDict().values()].flatMap((t) => Array.from(t.dataSync()));

describe('fit: evaluation every N steps and saveBest', () => {
  const tmp = freshTempDir('lt-fit-eval-');

  it('evalEvery evaluates between epoch ends, leaving an epoch\'s last step to the epoch evaluation', async () => {
    const seen: number[] = [];
    const model = new SoftmaxClassifier(4, 3);
    const result = await fit(options(model, { callbacks: { afterEval: (logs) => void seen.push(logs.step) } }));
    expect(result.evalLogs.map((l) => l.step)).toEqual([2, 4, 6, 8]);
    expect(seen).toEqual([2, 4, 6, 8]);
    expect(result.epochLogs.map((l) => l.step)).toEqual([5, 10]);
    expect(result.evalLogs[1].metrics).toEqual({ score: 0.9 });
    model.dispose();
  });

  it("evalStrategy 'end' evaluates only after the last epoch, and refuses saveBest", async () => {
    const calls: number[] = [];
    const model = new SoftmaxClassifier(4, 3);
    const result = await fit(options(model, { epochs: 3, evalEvery: undefined, evalStrategy: 'end', evalFn: (_m, state) => (calls.push(state.step), { score: 1 }) }));
    expect(calls).toEqual([15]);
    expect(result.epochLogs.map((l) => Object.keys(l.metrics).sort())).toEqual([['train_loss'], ['train_loss'], ['score', 'train_loss']]);
    expect(result.last).toEqual({ step: 15, epoch: 2, metrics: { train_loss: expect.any(Number), score: 1 } });
    await expect(fit(options(model, { evalStrategy: 'end', saveBest: { monitor: 'score', mode: 'max' } }))).rejects.toThrow(/evalStrategy 'end' evaluates once; it cannot drive saveBest/);
    model.dispose();
  });

  it('saveBest puts the best evaluation\'s weights back at the end and reports the best and the last', async () => {
    let atBest: number[] = [];
    const model = new SoftmaxClassifier(4, 3);
    const result = await fit(
      options(model, { saveBest: { monitor: 'score', mode: 'max' }, callbacks: { afterEval: (l) => void (l.step === 4 && (atBest = weightsOf(model))) } }),
    );
    expect(result.best).toEqual({ step: 4, epoch: 0, metric: 'score', value: 0.9, metrics: { score: 0.9 } });
    expect(result.last).toEqual({ step: 10, epoch: 1, metrics: { train_loss: expect.any(Number), score: 0.1 } });
    expect(weightsOf(model)).toEqual(atBest);
    model.dispose();
  });

  it('a run resumed after its best evaluation still ends with the best weights (they travel in checkpoints)', async () => {
    const straightModel = new SoftmaxClassifier(4, 3);
    const straight = await fit(options(straightModel, { saveBest: { monitor: 'score', mode: 'max' } }));
    const controller = new AbortController();
    const firstModel = new SoftmaxClassifier(4, 3);
    const first = await fit(
      options(firstModel, {
        saveBest: { monitor: 'score', mode: 'max' },
        checkpoint: { dir: tmp.path },
        signal: controller.signal,
        callbacks: { afterStep: (logs) => void (logs.step === 6 && controller.abort()) },
      }),
    );
    expect(first.stoppedBy).toBe('aborted');
    const resumedModel = new SoftmaxClassifier(4, 3);
    const resumed = await fit(options(resumedModel, { saveBest: { monitor: 'score', mode: 'max' }, resumeFrom: tmp.path }));
    expect(resumed.best).toEqual(straight.best);
    expect(weightsOf(resumedModel)).toEqual(weightsOf(straightModel));
    [straightModel, firstModel, resumedModel].forEach((m) => m.dispose());
  });

  it('a saveBest monitor that no evaluation gives fails naming it', async () => {
    const model = new SoftmaxClassifier(4, 3);
    await expect(fit(options(model, { saveBest: { monitor: 'bleu' } }))).rejects.toThrow('saveBest.metric "bleu" is not among the evaluation metrics (score)');
    model.dispose();
  });
});

describe('per-class scores', () => {
  it('match sklearn\'s classification_report on a hand-checked confusion matrix', () => {
    // rows true, columns predicted: a 3 right and 1 taken for b; b 2 right; the one c taken for b, c never predicted.
    const m = [
      [3, 1, 0],
      [0, 2, 0],
      [0, 1, 0],
    ];
    const s = perClassScores(m);
    expect(s[0]).toEqual({ precision: 1, recall: 0.75, f1: 6 / 7, support: 4 });
    expect(s[1].precision).toBeCloseTo(0.5, 12);
    expect(s[1]).toMatchObject({ recall: 1, support: 2 });
    expect(s[1].f1).toBeCloseTo(2 / 3, 12);
    expect(s[2]).toEqual({ precision: 0, recall: 0, f1: 0, support: 1 });
    expect(perClassMetrics(m, ['a', 'b', 'c'])).toMatchObject({ 'precision/a': 1, 'recall/a': 0.75, 'f1/c': 0 });
  });
});
