import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { REFERENCE_SHAPE, type DecoderShape } from './decoder';
import { peerUnavailable, peerWarning, runPeer } from './peer';
import { runWorker } from './run-worker';
import type { WorkerJob, WorkerResult } from './worker';

const { values: args } = parseArgs({
  options: {
    backends: { type: 'string', default: 'auto' },
    methods: { type: 'string', default: 'full,lora' },
    steps: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '2' },
    'max-seconds': { type: 'string', default: '90' },
    batch: { type: 'string', default: '8' },
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

function row(label: string, r: WorkerResult | { error: string }, peer?: WorkerResult): string {
  if ('error' in r) return `| ${label} | failed: ${r.error} |`;
  const ratio = peer ? `${fmt(r.tokensPerSec / peer.tokensPerSec, 2)}×` : '-';
  const s = r.stepMs;
  return `| ${label} | ${r.backend} (${r.threads} thr) | ${fmt(r.tokensPerSec)} | ${ratio} | ${fmt(s.median)} [${fmt(s.p10)}–${fmt(s.p90)}], n=${s.n} | ${fmt(r.peakRssMB)} | ${r.trainable.toLocaleString('en')} |`;
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
  const base = { shape, batch: Number(args.batch), warmupSteps: Number(args.warmup), steps: Number(args.steps), maxSeconds: Number(args['max-seconds']) };
  const methods = args.methods!.split(',') as Array<'full' | 'lora'>;
  const results: Array<WorkerResult | { job: WorkerJob; error: string }> = [];
  const peers = new Map<string, WorkerResult>();
  const usePeer = args.peer && !args['no-peer'];
  const missing = usePeer ? peerUnavailable() : 'disabled with --no-peer';
  const lines = [
    `Reference decoder: ${shape.layers} layers, d ${shape.dModel}, ${shape.heads} heads, seq ${shape.seq}, vocab ${shape.vocab}, batch ${base.batch}; ${cpus().length} cores (${cpus()[0]?.model}); ${new Date().toISOString()}`,
    '',
    '| Setup | Backend | tok/s | vs PyTorch | step ms median [p10–p90] | peak RSS MB | trainable |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const method of methods) {
    // Ours first, then the peer right after, so both see the same machine state.
    for (const backend of args.backends!.split(',')) {
      const r = runWorker({ ...base, backend, method });
      results.push(r);
      process.stderr.write(`${method} on ${backend}: ${'error' in r ? r.error : `${fmt(r.tokensPerSec)} tok/s`}\n`);
    }
    if (!missing) {
      const p = runPeer({ ...base, backend: 'pytorch', method });
      peers.set(method, p);
      process.stderr.write(`${method} on PyTorch: ${fmt(p.tokensPerSec)} tok/s\n`);
    }
  }
  for (const r of results) lines.push(row(r.job.method, r, peers.get(r.job.method)));
  for (const [method, p] of peers) lines.push(row(`${method} (peer)`, p, p));
  if (missing) lines.push('', `PyTorch peer not run: ${missing}. Our figures stand alone.`);
  const warn = !missing && peerWarning();
  if (warn) lines.push('', `Warning: ${warn}.`);
  const full = results.find((r) => r.job.method === 'full' && !('error' in r)) as WorkerResult | undefined;
  const lora = results.find((r) => r.job.method === 'lora' && !('error' in r)) as WorkerResult | undefined;
  if (full && lora) lines.push('', `LoRA peak RSS is ${fmt(lora.peakRssMB / full.peakRssMB, 2)}× full fine-tune's (ours).`);
  const pf = peers.get('full');
  const pl = peers.get('lora');
  if (pf && pl) lines.push(`LoRA peak RSS is ${fmt(pl.peakRssMB / pf.peakRssMB, 2)}× full fine-tune's (PyTorch).`);
  process.stdout.write(`${lines.join('\n')}\n`);
  mkdirSync(args.out!, { recursive: true });
  const file = join(args.out!, `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(`${file}.tmp`, JSON.stringify({ shape, base, results, peers: Object.fromEntries(peers), table: lines }, null, 2));
  renameSync(`${file}.tmp`, file);
  process.stdout.write(`\nWrote ${file}\n`);
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : err}\n`);
  process.exitCode = 1;
});
