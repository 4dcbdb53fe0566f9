import { MultiBar, Presets, type SingleBar } from 'cli-progress';
import type { ProgressSink } from './runner';
import type { RunRow } from './store';

/** The pool's size, or 0 for runs on a queue (as many at once as the workers take). */
const atOnce = (concurrency: number) => (concurrency > 0 ? `${concurrency} at a time` : 'on the queue, as many at once as the workers take');
const runName = (r: RunRow) => `${r.armLabel} seed ${r.seed}`;
const eta = (s: number | undefined) => (s === undefined || !Number.isFinite(s) ? '-' : s >= 90 ? `${Math.round(s / 60)}m` : `${Math.round(s)}s`);

/**
 * On a terminal: one bar per running arm (step, loss, ETA) under an overall bar of runs.
 * Elsewhere (CI logs, pipes): one line when a run starts and one when it ends.
 */
export function terminalProgress(write: (s: string) => void, tty?: NodeJS.WriteStream): ProgressSink {
  if (!tty) {
    const stream = { write };
    let total = 0;
    let finished = 0;
    return {
      plan(t, done, concurrency) {
        total = t;
        finished = done;
        stream.write(`compare: ${t - done} runs to go${done ? ` (${done} of ${t} completed before, skipped)` : ''}, ${atOnce(concurrency)}\n`);
      },
      started: (r) => stream.write(`compare: start ${runName(r)}\n`),
      step: () => undefined,
      finished(r, status, detail) {
        finished++;
        stream.write(`compare: [${finished}/${total}] ${runName(r)} ${status}${detail ? ` (${detail})` : ''}\n`);
      },
      stop: () => undefined,
    };
  }
  const multi = new MultiBar(
    { stream: tty, hideCursor: true, clearOnComplete: false, format: '{name} |{bar}| {value}/{total} {unit} | {info}', autopadding: true },
    Presets.shades_classic,
  );
  let overall: SingleBar | undefined;
  const bars = new Map<number, SingleBar>();
  const counts = { completed: 0, failed: 0 };
  const overallInfo = () => `${counts.completed} completed, ${counts.failed} failed`;
  return {
    plan(total, done, concurrency) {
      counts.completed = done;
      tty.write(`${total - done} runs to go${done ? ` (${done} of ${total} completed before, skipped)` : ''}, ${atOnce(concurrency)}\n`);
      overall = multi.create(total, done, { name: 'all runs'.padEnd(24), unit: 'runs', info: overallInfo() });
    },
    started(r) {
      bars.set(r.id, multi.create(1, 0, { name: runName(r).slice(0, 24).padEnd(24), unit: 'steps', info: 'starting' }));
    },
    step(r, step, total, loss, etaSeconds) {
      const bar = bars.get(r.id);
      if (!bar) return;
      bar.setTotal(total);
      bar.update(step, { info: `loss ${Number.isFinite(loss) ? loss.toFixed(4) : '-'} | ETA ${eta(etaSeconds)}` });
    },
    finished(r, status, detail) {
      const bar = bars.get(r.id);
      if (bar) multi.remove(bar);
      bars.delete(r.id);
      counts[status]++;
      overall?.increment(1, { info: overallInfo() });
      if (status === 'failed') multi.log(`${runName(r)} failed: ${detail}\n`);
    },
    stop: () => multi.stop(),
  };
}
