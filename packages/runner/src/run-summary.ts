import { statSync } from 'node:fs';
import type { Artifacts, Metrics, Run, TruncationReport } from '@leantune/core';
import type { TrainReport } from '@leantune/train';

/** What one training run reports: the figures `leantune compare` tabulates. */
export interface RunSummary {
  run: string;
  model: string;
  methods: string[];
  metrics: Metrics;
  trainable: number;
  total: number;
  trainablePercent: number;
  trainSeconds: number;
  peakRssMB: number;
  /** Bytes of the trained parameters as saved (the adapter, or the whole model for full). */
  savedBytes: number;
  /** Bytes the whole model would take in float32, for comparison with savedBytes. */
  modelBytes: number;
  backend?: string;
  dir: string;
  /** With train.saveBest: the best evaluation (whose weights the run folder holds) and the last one. */
  best?: TrainReport['best'];
  last?: TrainReport['last'];
  /** The test split, when the data has one, evaluated at the end. */
  test?: TrainReport['test'];
  /** Texts cut to the model's maximum length, over the whole run, when any were. */
  truncated?: TruncationReport;
  /** With model.quantize: the format and the bytes of the quantized weights as fp32 and as stored. */
  quantized?: { format: string; doubleQuant: boolean; weights: number; bytesBefore: number; bytesAfter: number };
}

export function summarize(run: Run, metrics: Metrics, artifacts: Artifacts, trainSeconds: number, report: TrainReport = {}): RunSummary {
  const { trainable, total } = run.model!.module.countParameters();
  return {
    run: run.config.name,
    model: run.config.model.name,
    methods: Object.keys(run.config.methods),
    metrics,
    trainable,
    total,
    trainablePercent: total ? (100 * trainable) / total : 0,
    trainSeconds,
    peakRssMB: process.resourceUsage().maxRSS / 1024,
    savedBytes: statSync(artifacts.files.trainable).size,
    modelBytes: total * 4,
    backend: run.context.backend?.name,
    dir: artifacts.dir,
    ...report,
    ...(run.quantization ? { quantized: quantizedSummary(run.quantization) } : {}),
  };
}

function quantizedSummary(q: NonNullable<Run['quantization']>): NonNullable<RunSummary['quantized']> {
  return { format: q.format, doubleQuant: q.doubleQuant, weights: q.quantized.length, bytesBefore: q.bytesBefore, bytesAfter: q.bytesAfter };
}
