import { createToolkit } from '@leantune/core';
import loraPlugin from '@leantune/plugin-lora';
import { initBackend, tf, type BackendName } from '@leantune/tensor';
import { createOptimizer, trainStep, type IndexedDataset } from '@leantune/train';
import { benchDecoderPlugin, type DecoderShape } from './decoder';
import { spread, type Spread } from './stats';

export interface WorkerJob {
  backend: string;
  method: 'full' | 'lora';
  shape: DecoderShape;
  batch: number;
  warmupSteps: number;
  steps: number;
  /** Stop measuring once this many seconds are spent (the steps done so far count). */
  maxSeconds: number;
}

export interface WorkerResult {
  job: WorkerJob;
  backend: string;
  threads: number;
  tokensPerSec: number;
  stepMs: Spread;
  peakRssMB: number;
  trainable: number;
  total: number;
  firstLoss: number;
  lastLoss: number;
}

/** Random token ids, seeded, so every backend and the peer see the same kind of batch. */
function tokenBatches(shape: DecoderShape, batch: number): IndexedDataset<{ inputs: tf.Tensor2D; size: number }> {
  return {
    length: 1 << 20,
    getBatch: (indices) => ({ inputs: tf.randomUniformInt([batch, shape.seq + 1], 0, shape.vocab, indices[0]) as tf.Tensor2D, size: batch }),
  };
}

export async function runJob(job: WorkerJob): Promise<WorkerResult> {
  const info = await initBackend({ backend: job.backend as BackendName });
  const tk = await createToolkit({ plugins: [benchDecoderPlugin, loraPlugin], log: { info: () => {}, warn: () => {} } });
  const run = tk.createRun({
    model: { name: 'bench-decoder', ...job.shape },
    runtime: { backend: job.backend as BackendName },
    methods: job.method === 'lora' ? { lora: { r: 8, lora_alpha: 16, target_modules: ['q', 'v'] } } : {},
    trainable: job.method === 'full' ? ['.*'] : [],
  });
  const model = await run.loadModel();
  const params = model.module.trainableVariables();
  const optimizer = createOptimizer({ name: 'adamw', lr: 1e-4, weightDecay: 0.01 }, params);
  const data = tokenBatches(job.shape, job.batch);
  const loss = (b: { inputs: tf.Tensor2D }) => model.loss!({ inputs: b.inputs, size: job.batch }, true);
  const times: number[] = [];
  const losses: number[] = [];
  const started = performance.now();
  for (let step = 0; step < job.warmupSteps + job.steps; step++) {
    const t0 = performance.now();
    const out = trainStep({ dataset: data, loss, params, optimizer, microBatches: [[step]], step, epoch: 0, seed: 1, lr: 1e-4 });
    const ms = performance.now() - t0;
    losses.push(out.loss);
    if (step >= job.warmupSteps) times.push(ms);
    if ((performance.now() - started) / 1000 > job.maxSeconds && times.length >= 2) break;
  }
  const stepMs = spread(times);
  const counts = model.module.countParameters();
  return {
    job,
    backend: info.name,
    threads: info.threads,
    tokensPerSec: (job.batch * job.shape.seq) / (stepMs.median / 1000),
    stepMs,
    peakRssMB: process.resourceUsage().maxRSS / 1024,
    trainable: counts.trainable,
    total: counts.total,
    firstLoss: losses[0],
    lastLoss: losses[losses.length - 1],
  };
}

// Run as a child process: one job per process, so peak RSS belongs to that job alone.
if (require.main === module) {
  const job = JSON.parse(process.argv[2]) as WorkerJob;
  runJob(job).then(
    (r) => process.stdout.write(`${JSON.stringify(r)}\n`),
    (err) => {
      process.stderr.write(`${err instanceof Error ? err.stack : err}\n`);
      process.exitCode = 1;
    },
  );
}
