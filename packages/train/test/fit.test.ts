import fs from 'node:fs';
import path from 'node:path';
import { Dropout, tf } from '@leantune/tensor';
import { ClassificationMeter, createLrSchedule, fit, FitOptions, loadCheckpoint, StepLogs } from '@leantune/train';
import { crossEntropy, SoftmaxClassifier, ToyBatch, toyDataset } from './helpers/classifier';
import { freshTempDir } from './helpers/temp-dir';

/** The classifier with a Dropout layer on its input, so runs depend on seeded random ops. */
class DropoutClassifier extends SoftmaxClassifier {
  readonly drop = this.addModule('drop', new Dropout(0.25));

  override forward(x: tf.Tensor2D): tf.Tensor2D {
    return super.forward(this.drop.forward(x) as tf.Tensor2D);
  }
}

const data = toyDataset(20, 4, 3);

function options(model: SoftmaxClassifier, extra: Partial<FitOptions<ToyBatch>> = {}): FitOptions<ToyBatch> {
  return {
    model,
    // The loss also draws its own mask from ctx.seed, on top of the Dropout layer's.
    loss: (batch, training, ctx) =>
      tf.tidy(() => {
        const x = training ? tf.dropout(batch.x, 0.1, undefined, ctx.seed) : batch.x;
        return tf.losses.softmaxCrossEntropy(batch.y, model.forward(x as tf.Tensor2D)) as tf.Scalar;
      }),
    trainSet: data,
    epochs: 2,
    batchSize: 4,
    optimizer: { name: 'adamw', lr: 0.05, weightDecay: 0.01 },
    schedule: { kind: 'cosine', warmupSteps: 2, minLrRatio: 0.1 },
    clipNorm: 1,
    seed: 3,
    ...extra,
  };
}

function weightsOf(model: SoftmaxClassifier): number[] {
  return [...model.stateDict().values()].flatMap((t) => Array.from(t.dataSync()));
}

function expectClose(a: number[], b: number[], tol = 1e-6): void {
  expect(a).toHaveLength(b.length);
  a.forEach((x, i) => expect(Math.abs(x - b[i])).toBeLessThan(tol));
}

describe('fit', () => {
  const tmp = freshTempDir('lt-fit-');

  it('abort after 5 steps + resume gives the same 10 losses as a straight run', async () => {
    const straightModel = new DropoutClassifier(4, 3);
    const straight = await fit(options(straightModel));
    expect(straight.stepLogs).toHaveLength(10);
    expect(straight.stoppedBy).toBe('completed');

    const controller = new AbortController();
    const firstModel = new DropoutClassifier(4, 3);
    const first = await fit(
      options(firstModel, {
        checkpoint: { dir: tmp.path },
        signal: controller.signal,
        callbacks: { afterStep: (logs) => void (logs.step === 4 && controller.abort()) },
      }),
    );
    expect(first.stoppedBy).toBe('aborted');
    expect(first.stepLogs).toHaveLength(5);
    expect(path.basename(first.checkpoint!)).toBe('step-00000005');

    const resumedModel = new DropoutClassifier(4, 3);
    const resumed = await fit(options(resumedModel, { resumeFrom: tmp.path }));
    expect(resumed.stepLogs.map((l) => l.step)).toEqual([5, 6, 7, 8, 9]);
    const losses = [...first.stepLogs, ...resumed.stepLogs].map((l) => l.loss);
    expectClose(losses, straight.stepLogs.map((l) => l.loss));
    expectClose(weightsOf(resumedModel), weightsOf(straightModel));
    // The dropout masks matter: without them the losses would differ.
    const noDropout = await fit(options(new SoftmaxClassifier(4, 3)));
    expect(Math.abs(noDropout.stepLogs[3].loss - straight.stepLogs[3].loss)).toBeGreaterThan(1e-4);
    [straightModel, firstModel, resumedModel].forEach((m) => m.dispose());
  });

  it('resumes mid-epoch from a periodic checkpoint with SGD and gradient accumulation', async () => {
    const sgd = { optimizer: { name: 'sgd', lr: 0.2, momentum: 0.9, nesterov: true } as const, gradAccum: 2, batchSize: 2 };
    const straightModel = new DropoutClassifier(4, 3);
    const straight = await fit(options(straightModel, { ...sgd, checkpoint: { dir: tmp.path, everySteps: 3 } }));
    expect(fs.readdirSync(tmp.path).filter((n) => n.startsWith('step-')).sort()).toEqual(['step-00000003', 'step-00000006', 'step-00000009', 'step-00000010']);
    const resumedModel = new DropoutClassifier(4, 3);
    const resumed = await fit(options(resumedModel, { ...sgd, resumeFrom: path.join(tmp.path, 'step-00000003') }));
    expectClose(resumed.stepLogs.map((l) => l.loss), straight.stepLogs.slice(3).map((l) => l.loss));
    expectClose(weightsOf(resumedModel), weightsOf(straightModel));
    [straightModel, resumedModel].forEach((m) => m.dispose());
  });

  it('holds the same number of tensors after step 3 and after step 20', async () => {
    const model = new DropoutClassifier(4, 3);
    const counts = new Map<number, number>();
    const before = tf.memory().numTensors;
    const result = await fit(
      options(model, {
        epochs: 4,
        gradAccum: 2,
        batchSize: 2,
        checkpoint: { dir: tmp.path, everySteps: 4 },
        evalFn: () => ({ loss: 1 }),
        callbacks: { afterStep: (logs) => void counts.set(logs.step + 1, tf.memory().numTensors) },
      }),
    );
    expect(result.stepLogs).toHaveLength(20);
    expect(counts.get(20)).toBe(counts.get(3));
    // The optimizer's state is freed when fit returns.
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('gradient accumulation of 2×2 steps exactly like batches of 4', async () => {
    const plain = (model: SoftmaxClassifier) => ({ loss: (b: ToyBatch) => crossEntropy(model, b), optimizer: { name: 'sgd', lr: 0.5 } as const, schedule: undefined, clipNorm: undefined });
    const big = new SoftmaxClassifier(4, 3);
    const bigRun = await fit(options(big, { ...plain(big), batchSize: 4 }));
    const acc = new SoftmaxClassifier(4, 3);
    const accRun = await fit(options(acc, { ...plain(acc), batchSize: 2, gradAccum: 2 }));
    expectClose(accRun.stepLogs.map((l) => l.loss), bigRun.stepLogs.map((l) => l.loss));
    expectClose(weightsOf(acc), weightsOf(big));
    [big, acc].forEach((m) => m.dispose());
  });

  it('logs the scheduled lr and clips the update to clipNorm', async () => {
    const model = new SoftmaxClassifier(4, 3);
    const w0 = weightsOf(model);
    const seen: StepLogs[] = [];
    await fit(
      options(model, {
        epochs: 1,
        batchSize: 20,
        loss: (b) => crossEntropy(model, b),
        optimizer: { name: 'sgd', lr: 1 },
        schedule: undefined,
        clipNorm: 0.01,
        callbacks: { afterStep: (l) => void seen.push(l) },
      }),
    );
    // One plain SGD step at lr 1: the update is the clipped gradient, of norm ≈ 0.01.
    const delta = Math.hypot(...weightsOf(model).map((w, i) => w - w0[i]));
    expect(delta).toBeCloseTo(0.01 * (seen[0].gradNorm / (seen[0].gradNorm + 1e-6)), 6);
    expect(seen[0].gradNorm).toBeGreaterThan(0.01);
    expect(seen[0].lr).toBe(1);
    expect(seen[0].samplesPerSec).toBeGreaterThan(0);

    const scheduled = await fit(options(new SoftmaxClassifier(4, 3)));
    const lr = createLrSchedule({ kind: 'cosine', warmupSteps: 2, minLrRatio: 0.1 }, 0.05, 10);
    expect(scheduled.stepLogs.map((l) => l.lr)).toEqual([...Array(10).keys()].map(lr));
    model.dispose();
  });

  it('learns the toy task, trains only unfrozen parameters and checkpoints only those', async () => {
    const model = new SoftmaxClassifier(4, 3);
    model.freeze(['bias']);
    const evalFn = () => {
      const meter = new ClassificationMeter(3);
      tf.tidy(() => {
        const batch = data.getBatch([...Array(data.length).keys()]);
        const logits = model.forward(batch.x);
        meter.update(logits, batch.labels, crossEntropy(model, batch).dataSync()[0]);
      });
      const { loss, accuracy, macroF1 } = meter.compute();
      return { loss, accuracy, macroF1 };
    };
    const before = evalFn();
    const result = await fit(options(model, { epochs: 6, loss: (b) => crossEntropy(model, b), evalFn, checkpoint: { dir: tmp.path } }));
    const after = result.epochLogs[result.epochLogs.length - 1].metrics;
    expect(after.loss).toBeLessThan(before.loss - 0.2);
    expect(after.accuracy).toBeGreaterThan(before.accuracy);
    expect(Array.from(model.getParameter('bias').variable.dataSync())).toEqual([0, 0, 0]);
    const ckpt = await loadCheckpoint(tmp.path);
    expect([...ckpt.weights.keys()]).toEqual(['weight']);
    expect([...ckpt.optimizer.tensors.keys()].sort()).toEqual(['weight.exp_avg', 'weight.exp_avg_sq']);
    tf.dispose([...ckpt.weights.values(), ...ckpt.optimizer.tensors.values()]);
    model.dispose();
  });

  it('stops early when the monitored metric stops improving, and a finished run resumes to nothing', async () => {
    const scores = [1.0, 0.9, 0.95, 0.97, 0.5, 0.4];
    const model = new SoftmaxClassifier(4, 3);
    const result = await fit(options(model, { epochs: 6, evalFn: (_m, s) => ({ loss: scores[s.epoch] }), earlyStopping: { patience: 2 }, checkpoint: { dir: tmp.path } }));
    expect(result.stoppedBy).toBe('early-stopping');
    expect(result.epochLogs.map((e) => e.improved)).toEqual([true, true, false, false]);
    expect(result.state.earlyStopping).toEqual({ best: 0.9, bestEpoch: 1, wait: 2, stopped: true });
    const again = await fit(options(model, { epochs: 6, resumeFrom: tmp.path }));
    expect(again.stoppedBy).toBe('already-finished');
    expect(again.stepLogs).toHaveLength(0);
    model.dispose();
  });

  it('refuses inputs that cannot work, naming the field', async () => {
    const model = new SoftmaxClassifier(4, 3);
    await fit(options(model, { epochs: 1, checkpoint: { dir: tmp.path } }));
    await expect(fit(options(model, { batchSize: 5, resumeFrom: tmp.path }))).rejects.toThrow(/saved with batchSize=4, this run has batchSize=5/);
    await expect(fit(options(model, { optimizer: { name: 'sgd', lr: 0.1 }, resumeFrom: tmp.path }))).rejects.toThrow(/holds "adamw" optimizer state, this run uses "sgd"/);
    await expect(fit(options(model, { earlyStopping: { patience: 1, monitor: 'f1' } }))).rejects.toThrow(/monitor "f1" is not among the epoch metrics \(train_loss\)/);
    await expect(fit(options(model, { clipNorm: 0 }))).rejects.toThrow(/fit: clipNorm must be > 0/);
    await expect(fit(options(model, { gradAccum: 0 }))).rejects.toThrow(/gradAccum must be an integer >= 1/);
    await expect(fit(options(model, { loss: () => tf.add(NaN, tf.sum(model.getParameter('weight').variable)) as tf.Scalar }))).rejects.toThrow(
      /Loss is NaN at step 0/,
    );
    model.freeze();
    await expect(fit(options(model))).rejects.toThrow(/no trainable parameters/);
    model.dispose();
  });
});
