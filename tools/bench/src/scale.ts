import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { REFERENCE_SHAPE, type DecoderShape } from './decoder';
import { peerUnavailable, runPeer } from './peer';
import { runWorker } from './run-worker';
import type { WorkerJob, WorkerResult } from './worker';

/**
 * Scale figures: tokens/s and peak RSS over d_model × layers, and over batch size, for us
 * and the PyTorch peer side by side, plus how step time grows with the parameter count
 * (least-squares slope in ms per million parameters).
 */
const { values: args } = parseArgs({
  options: {
    backend: { type: 'string', default: 'auto' },
    dims: { type: 'string', default: '256,512,768' },
    layers: { type: 'string', default: '4,8,12' },
    batches: { type: 'string', default: '1,2,4,8,16' },
    steps: { type: 'string', default: '3' },
    'max-seconds': { type: 'string', default: '60' },
    out: { type: 'string', default: join(process.cwd(), '.bench') },
  },
});

type Result = WorkerResult | { job: WorkerJob; error: string };
const ok = (r: Result): r is WorkerResult => !('error' in r);
const f0 = (n: number) => (Number.isFinite(n) ? n.toFixed(0) : '-');
const ratio = (a?: Result, b?: Result) => (a && b && ok(a) && ok(b) ? `${(a.tokensPerSec / b.tokensPerSec).toFixed(2)}×` : '-');

function measure(shape: DecoderShape, batch: number, method: 'full' | 'lora', peer: boolean): { ours: Result; theirs?: Result } {
  const job: WorkerJob = { shape, batch, method, backend: args.backend!, warmupSteps: 1, steps: Number(args.steps), maxSeconds: Number(args['max-seconds']) };
  const ours = runWorker(job);
  let theirs: Result | undefined;
  if (peer) {
    try {
      theirs = runPeer({ ...job, backend: 'pytorch' });
    } catch (err) {
      theirs = { job, error: (err as Error).message };
    }
  }
  process.stderr.write(`${method} d${shape.dModel} L${shape.layers} b${batch}: ours ${ok(ours) ? f0(ours.tokensPerSec) : ours.error} tok/s, peer ${theirs && ok(theirs) ? f0(theirs.tokensPerSec) : '-'}\n`);
  return { ours, theirs };
}

/** Least-squares slope of y over x. */
function slope(points: Array<[number, number]>): number {
  const n = points.length;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const sxy = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const sxx = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  return sxy / sxx;
}

function main(): void {
  const peer = !peerUnavailable();
  const lines = [
    `Scale: d × layers (heads = d/64, seq ${REFERENCE_SHAPE.seq}, vocab ${REFERENCE_SHAPE.vocab}, batch 8), backend ${args.backend}; ${new Date().toISOString()}`,
    '',
    '| d | layers | params | full tok/s (ours / PyTorch) | ratio | LoRA tok/s (ours / PyTorch) | ratio | peak RSS MB full / LoRA (ours) |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  const fullOurs: Array<[number, number]> = [];
  const fullPeer: Array<[number, number]> = [];
  const all: unknown[] = [];
  for (const d of args.dims!.split(',').map(Number)) {
    for (const layers of args.layers!.split(',').map(Number)) {
      const shape = { ...REFERENCE_SHAPE, dModel: d, layers, heads: Math.max(1, d / 64) };
      const full = measure(shape, 8, 'full', peer);
      const lora = measure(shape, 8, 'lora', peer);
      all.push({ shape, full, lora });
      const params = ok(full.ours) ? full.ours.total : NaN;
      if (ok(full.ours)) fullOurs.push([params / 1e6, full.ours.stepMs.median]);
      if (full.theirs && ok(full.theirs)) fullPeer.push([params / 1e6, full.theirs.stepMs.median]);
      const tok = (r?: Result) => (r && ok(r) ? f0(r.tokensPerSec) : '-');
      const rss = (r: Result) => (ok(r) ? f0(r.peakRssMB) : '-');
      lines.push(`| ${d} | ${layers} | ${(params / 1e6).toFixed(1)}M | ${tok(full.ours)} / ${tok(full.theirs)} | ${ratio(full.ours, full.theirs)} | ${tok(lora.ours)} / ${tok(lora.theirs)} | ${ratio(lora.ours, lora.theirs)} | ${rss(full.ours)} / ${rss(lora.ours)} |`);
    }
  }
  if (fullOurs.length > 1) {
    lines.push('', `Full fine-tune step time grows by ${slope(fullOurs).toFixed(1)} ms per million parameters (ours)${fullPeer.length > 1 ? ` and ${slope(fullPeer).toFixed(1)} ms (PyTorch)` : ''}, least squares over the grid.`);
  }
  lines.push('', '| batch | full tok/s (ours / PyTorch) | ratio | step ms (ours) |', '| --- | --- | --- | --- |');
  for (const batch of args.batches!.split(',').map(Number)) {
    const full = measure(REFERENCE_SHAPE, batch, 'full', peer);
    all.push({ batch, full });
    lines.push(`| ${batch} | ${ok(full.ours) ? f0(full.ours.tokensPerSec) : '-'} / ${full.theirs && ok(full.theirs) ? f0(full.theirs.tokensPerSec) : '-'} | ${ratio(full.ours, full.theirs)} | ${ok(full.ours) ? f0(full.ours.stepMs.median) : '-'} |`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  mkdirSync(args.out!, { recursive: true });
  const file = join(args.out!, `scale-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(`${file}.tmp`, JSON.stringify({ results: all, table: lines }, null, 2));
  renameSync(`${file}.tmp`, file);
  process.stdout.write(`\nWrote ${file}\n`);
}

main();
