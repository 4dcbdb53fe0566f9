import { createToolkit, type Batch, type ModelSpec, type Plugin } from '@leantune/core';
import loraPlugin from '@leantune/plugin-lora';
import { initBackend, tf, type BackendName } from '@leantune/tensor';
import { createOptimizer, trainStep, type IndexedDataset } from '@leantune/train';
import { benchDecoderPlugin, type DecoderShape } from './decoder';
import { PRESETS, benchPresetPlugin, presetBatch, type PresetJob } from './presets';
import { spread, type Spread } from './stats';

export interface WorkerJob {
  backend: string;
  method: 'full' | 'lora';
  /** The reference decoder's shape; unused when `preset` is set. */
  shape?: DecoderShape;
  /** A real-model preset (presets.ts) instead of the reference decoder. */
  preset?: PresetJob;
  batch: number;
  warmupSteps: number;
  steps: number;
  /** Stop measuring once this many seconds are spent (the steps done so far count). */
  maxSeconds: number;
  /** model.quantize for the frozen base (bf16, fp16, int8, nf4, nf4-dq = NF4 with double quantization); unset: fp32. */
  quantize?: string;
  /** train.gradientCheckpointing: keep each block's input only and recompute it in the backward. */
  gradientCheckpointing?: boolean;
}

export interface WorkerResult {
  job: WorkerJob;
  backend: string;
  threads: number;
  tokensPerSec: number;
  samplesPerSec: number;
  stepMs: Spread;
  peakRssMB: number;
  /** Peak RSS when the model was ready (built or loaded, methods injected, base quantized), before the first step. */
  loadPeakRssMB: number;
  trainable: number;
  total: number;
  firstLoss: number;
  lastLoss: number;
}

/** What differs between the reference decoder and a preset; the timing loop is shared. */
interface Setup {
  plugin: Plugin;
  model: ModelSpec;
  lora: Record<string, unknown>;
  tokensPerSample: number;
  dataset: IndexedDataset<Batch>;
}

/** Random token ids, seeded, so every backend and the peer see the same kind of batch. */
function decoderSetup(shape: DecoderShape, batch: number): Setup {
  return {
    plugin: benchDecoderPlugin,
    model: { name: 'bench-decoder', ...shape },
    lora: { target_modules: ['q', 'v'] },
    tokensPerSample: shape.seq,
    dataset: {
      length: 1 << 20,
      getBatch: (indices) => ({ inputs: tf.randomUniformInt([batch, shape.seq + 1], 0, shape.vocab, indices[0]) as tf.Tensor2D, size: batch }),
    },
  };
}

/** Each step's batch from the hash stream shared with the peer: the same numbers in every arm. */
function presetSetup(preset: PresetJob, batch: number): Setup {
  return {
    plugin: benchPresetPlugin,
    model: { name: 'bench-preset', preset },
    lora: PRESETS[preset.name].lora,
    tokensPerSample: preset.seq,
    dataset: { length: 1 << 20, getBatch: (indices) => presetBatch(preset, batch, indices[0]) },
  };
}

export async function runJob(job: WorkerJob): Promise<WorkerResult> {
  const setup = job.preset ? presetSetup(job.preset, job.batch) : decoderSetup(job.shape!, job.batch);
  const info = await initBackend({ backend: job.backend as BackendName });
  const tk = await createToolkit({ plugins: [setup.plugin, loraPlugin], log: { info: () => {}, warn: () => {} } });
  const quantize = job.quantize === 'nf4-dq' ? { type: 'nf4', doubleQuant: true } : job.quantize;
  const run = tk.createRun({
    model: quantize ? { ...setup.model, quantize } : setup.model,
    runtime: { backend: job.backend as BackendName },
    methods: job.method === 'lora' ? { lora: { r: 8, lora_alpha: 16, ...setup.lora } } : {},
    trainable: job.method === 'full' ? ['.*'] : [],
    train: job.gradientCheckpointing ? { gradientCheckpointing: true } : {},
  });
  const model = await run.loadModel();
  const loadPeakRssMB = process.resourceUsage().maxRSS / 1024;
  const params = model.module.trainableVariables();
  const optimizer = createOptimizer({ name: 'adamw', lr: 1e-4, weightDecay: 0.01 }, params);
  const loss = (b: Batch) => model.loss!(b, true);
  const times: number[] = [];
  const losses: number[] = [];
  const started = performance.now();
  for (let step = 0; step < job.warmupSteps + job.steps; step++) {
    const t0 = performance.now();
    const out = trainStep({ dataset: setup.dataset, loss, params, optimizer, microBatches: [[step]], step, epoch: 0, seed: 1, lr: 1e-4 });
    const ms = performance.now() - t0;
    losses.push(out.loss);
    if (step >= job.warmupSteps) times.push(ms);
    if ((performance.now() - started) / 1000 > job.maxSeconds && times.length >= 2) break;
  }
  const stepMs = spread(times);
  const counts = model.module.countParameters();
  const samplesPerSec = job.batch / (stepMs.median / 1000);
  return {
    job,
    backend: info.name,
    threads: info.threads,
    tokensPerSec: samplesPerSec * setup.tokensPerSample,
    samplesPerSec,
    stepMs,
    peakRssMB: process.resourceUsage().maxRSS / 1024,
    loadPeakRssMB,
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
