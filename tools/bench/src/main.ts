import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { REFERENCE_SHAPE, type DecoderShape } from './decoder';
import { peerUnavailable, peerWarning, runPeer } from './peer';
import { PRESETS, describePreset, presetJob, type PresetJob } from './presets';
import { runWorker } from './run-worker';
import type { WorkerJob, WorkerResult } from './worker';

const { values: args } = parseArgs({
  options: {
    backends: { type: 'string', default: 'auto' },
    methods: { type: 'string', default: 'full,lora' },
    // LoRA arms over a quantized frozen base (model.quantize), e.g. int8,nf4,nf4-dq; ours only (the peer stays fp32).
    // A "+gc" suffix adds train.gradientCheckpointing to that arm (fp32+gc: no quantization, checkpointing).
    quantize: { type: 'string' },
    steps: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '2' },
    'max-seconds': { type: 'string', default: '90' },
    batch: { type: 'string' },
    preset: { type: 'string' },
    image: { type: 'string' },
    layers: { type: 'string' },
    'd-model': { type: 'string' },
    heads: { type: 'string' },
    vocab: { type: 'string' },
    seq: { type: 'string' },
    peer: { type: 'boolean', default: true },
    'no-peer': { type: 'boolean', default: false },
    out: { type: 'string', default: join(process.cwd(), '.bench') },
  },
});

const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits) : '-');

type Unit = 'tok/s' | 'samples/s';
const rate = (r: WorkerResult, unit: Unit) => (unit === 'tok/s' ? r.tokensPerSec : r.samplesPerSec);

function row(label: string, unit: Unit, r: WorkerResult | { error: string }, peer?: WorkerResult): string {
  if ('error' in r) return `| ${label} | failed: ${r.error.replace(/\|/g, '/')} |`;
  const ratio = peer ? `${fmt(rate(r, unit) / rate(peer, unit), 2)}×` : '-';
  const s = r.stepMs;
  const extra = unit === 'samples/s' ? ` | ${fmt(r.tokensPerSec)}` : '';
  const loss = `${fmt(r.firstLoss, 2)} → ${fmt(r.lastLoss, 2)}`;
  return `| ${label} | ${r.backend} (${r.threads} thr) | ${fmt(rate(r, unit), unit === 'tok/s' ? 0 : 2)}${extra} | ${ratio} | ${fmt(s.median)} [${fmt(s.p10)}–${fmt(s.p90)}], n=${s.n} | ${fmt(r.peakRssMB)} | ${r.trainable.toLocaleString('en')} | ${loss} |`;
}

/** The preset named by --preset, with --layers/--d-model/--heads/--vocab/--seq/--image applied. */
function chosenPreset(): PresetJob | undefined {
  if (!args.preset) return undefined;
  const num = (v?: string) => (v ? Number(v) : undefined);
  return presetJob(args.preset, { layers: num(args.layers), dModel: num(args['d-model']), heads: num(args.heads), vocab: num(args.vocab), seq: num(args.seq), image: num(args.image) });
}

async function main(): Promise<void> {
  const shape: DecoderShape = {
    ...REFERENCE_SHAPE,
    ...(args.layers ? { layers: Number(args.layers) } : {}),
    ...(args['d-model'] ? { dModel: Number(args['d-model']) } : {}),
    ...(args.heads ? { heads: Number(args.heads) } : {}),
    ...(args.vocab ? { vocab: Number(args.vocab) } : {}),
    ...(args.seq ? { seq: Number(args.seq) } : {}),
  };
  const preset = chosenPreset();
  const unit: Unit = preset ? PRESETS[preset.name].unit : 'tok/s';
  const batch = Number(args.batch ?? (preset ? PRESETS[preset.name].batch : 8));
  const base = { ...(preset ? { preset } : { shape }), batch, warmupSteps: Number(args.warmup), steps: Number(args.steps), maxSeconds: Number(args['max-seconds']) };
  const methods = args.methods!.split(',') as Array<'full' | 'lora'>;
  const results: Array<WorkerResult | { job: WorkerJob; error: string }> = [];
  const peers = new Map<string, WorkerResult>();
  const usePeer = args.peer && !args['no-peer'];
  const missing = usePeer ? peerUnavailable() : 'disabled with --no-peer';
  const what = preset
    ? describePreset(preset, batch)
    : `Reference decoder: ${shape.layers} layers, d ${shape.dModel}, ${shape.heads} heads, seq ${shape.seq}, vocab ${shape.vocab}, batch ${batch}`;
  const lines = [
    `${what}; ${cpus().length} cores (${cpus()[0]?.model}); ${new Date().toISOString()}`,
    '',
    `| Setup | Backend | ${unit}${unit === 'samples/s' ? ' | tok/s' : ''} | vs PyTorch | step ms median [p10–p90] | peak RSS MB | trainable | loss first → last |`,
    `| --- | --- | --- |${unit === 'samples/s' ? ' --- |' : ''} --- | --- | --- | --- | --- |`,
  ];
  for (const method of methods) {
    // Ours first, then the peer right after, so both see the same machine state.
    for (const backend of args.backends!.split(',')) {
      const r = runWorker({ ...base, backend, method });
      results.push(r);
      process.stderr.write(`${method} on ${backend}: ${'error' in r ? r.error : `${fmt(rate(r, unit), 1)} ${unit}`}\n`);
    }
    if (!missing) {
      const p = runPeer({ ...base, backend: 'pytorch', method });
      peers.set(method, p);
      process.stderr.write(`${method} on PyTorch: ${fmt(rate(p, unit), 1)} ${unit}\n`);
    }
  }
  const quantized = args.quantize ? args.quantize.split(',').filter(Boolean) : [];
  for (const q of quantized) {
    const checkpointing = q.endsWith('+gc');
    const format = checkpointing ? q.slice(0, -3) : q;
    for (const backend of args.backends!.split(',')) {
      const r = runWorker({ ...base, backend, method: 'lora', ...(format === 'fp32' ? {} : { quantize: format }), ...(checkpointing ? { gradientCheckpointing: true } : {}) });
      results.push(r);
      process.stderr.write(`lora over ${q} on ${backend}: ${'error' in r ? r.error : `${fmt(rate(r, unit), 1)} ${unit}`}\n`);
    }
  }
  const variant = (job: WorkerJob) => job.quantize !== undefined || job.gradientCheckpointing === true;
  const armLabel = (job: WorkerJob) =>
    `${job.method}${variant(job) ? ` over ${job.quantize ?? 'fp32'}` : ''}${job.gradientCheckpointing ? ' + gradient checkpointing' : ''}`;
  for (const r of results) lines.push(row(armLabel(r.job), unit, r, peers.get(r.job.method)));
  for (const [method, p] of peers) lines.push(row(`${method} (peer)`, unit, p, p));
  if (missing) lines.push('', `PyTorch peer not run: ${missing}. Our figures stand alone.`);
  const warn = !missing && peerWarning();
  if (warn) lines.push('', `Warning: ${warn}.`);
  const full = results.find((r) => r.job.method === 'full' && !('error' in r)) as WorkerResult | undefined;
  const lora = results.find((r) => r.job.method === 'lora' && !variant(r.job) && !('error' in r)) as WorkerResult | undefined;
  if (full && lora) lines.push('', `LoRA peak RSS is ${fmt(lora.peakRssMB / full.peakRssMB, 2)}× full fine-tune's (ours).`);
  for (const r of results) {
    if (!variant(r.job) || 'error' in r) continue;
    const pl = peers.get('lora');
    const vsOurs = lora ? `${fmt(rate(r, unit) / rate(lora, unit), 2)}× our fp32 LoRA's ${unit}` : '';
    const vsPeer = pl ? `, peak RSS ${fmt(r.peakRssMB / pl.peakRssMB, 2)}× PyTorch's fp32 LoRA` : '';
    const load = ` (peak when the model was ready: ${fmt(r.loadPeakRssMB)} MB)`;
    lines.push(`${armLabel(r.job).replace(/^lora/, 'LoRA')}: ${vsOurs}${vsPeer}${lora ? `, ${fmt(r.peakRssMB / lora.peakRssMB, 2)}× ours` : ''}${load}.`);
  }
  const pf = peers.get('full');
  const pl = peers.get('lora');
  if (pf && pl) lines.push(`LoRA peak RSS is ${fmt(pl.peakRssMB / pf.peakRssMB, 2)}× full fine-tune's (PyTorch).`);
  process.stdout.write(`${lines.join('\n')}\n`);
  mkdirSync(args.out!, { recursive: true });
  const file = join(args.out!, `${preset ? `bench-${preset.name}` : 'bench'}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(`${file}.tmp`, JSON.stringify({ shape: preset ? undefined : shape, preset, base, results, peers: Object.fromEntries(peers), table: lines }, null, 2));
  renameSync(`${file}.tmp`, file);
  process.stdout.write(`\nWrote ${file}\n`);
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : err}\n`);
  process.exitCode = 1;
});
