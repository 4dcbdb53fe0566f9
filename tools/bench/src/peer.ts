import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PRESETS } from './presets';
import type { WorkerJob, WorkerResult } from './worker';

const PYTHON = '/usr/bin/python3';
const PEER_DIR = join(__dirname, '..', 'peer');

/** Why the PyTorch peer can't run here, or undefined when it can. */
export function peerUnavailable(): string | undefined {
  if (!existsSync(PYTHON)) return `${PYTHON} is missing`;
  const probe = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' });
  if (probe.status !== 0) return "Debian's python3-torch is not installed (apt-get install python3-torch libopenblas0-pthread)";
  return undefined;
}

/** Without the pthread OpenBLAS, torch falls back to the reference BLAS, about 30× slower. */
export function peerWarning(): string | undefined {
  const probe = spawnSync('dpkg', ['-s', 'libopenblas0-pthread'], { encoding: 'utf8' });
  return probe.status === 0 ? undefined : 'libopenblas0-pthread is not installed: the PyTorch figures use the reference BLAS and are far too slow';
}

export function runPeer(job: WorkerJob): WorkerResult {
  // One BLAS thread under two torch threads: otherwise two pools fight over 2 cores.
  const env = { ...process.env, OPENBLAS_NUM_THREADS: '1', OMP_NUM_THREADS: '2' };
  const script = join(PEER_DIR, job.preset ? PRESETS[job.preset.name].peer : 'decoder.py');
  const r = spawnSync(PYTHON, [script, JSON.stringify(job)], { encoding: 'utf8', env, maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`PyTorch peer failed: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!);
}
