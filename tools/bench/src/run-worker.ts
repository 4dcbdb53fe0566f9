import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { WorkerJob, WorkerResult } from './worker';

/** One measurement in its own process, so its peak RSS is its own. */
export function runWorker(job: WorkerJob): WorkerResult | { job: WorkerJob; error: string } {
  const r = spawnSync(process.execPath, [join(__dirname, 'worker.js'), JSON.stringify(job)], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) return { job, error: r.stderr.trim().split('\n').slice(0, 3).join(' | ') };
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!);
}
