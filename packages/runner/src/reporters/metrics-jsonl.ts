import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { definePlugin, writeFileAtomic, type Plugin } from '@leantune/core';
import { RUN_FILES } from '../run-folder';
import { runFolderOf, tapTrainEvents } from './train-events';

/**
 * A resumed run restarts at its checkpoint's step: lines past it (written after that
 * checkpoint by a process that was then killed) are dropped, since the run writes them again.
 */
function dropLinesAfter(history: string, step: number): void {
  if (!existsSync(history)) return;
  const lines = readFileSync(history, 'utf8').split('\n').filter((l) => l !== '');
  const kept = lines.filter((line) => {
    try {
      const event = JSON.parse(line) as { step?: unknown };
      return typeof event.step !== 'number' || event.step <= step;
    } catch {
      // A line cut short by the kill is not valid JSON: it goes too.
      return false;
    }
  });
  if (kept.length !== lines.length) writeFileAtomic(history, kept.map((l) => `${l}\n`).join(''));
}

/**
 * The metrics history reporter: every step, epoch and evaluation of a run that trains into a
 * run folder, one JSON object per line appended to <run folder>/metrics.jsonl (a kill mid-run
 * keeps every line written so far). The runner applies it to every toolkit it trains with.
 */
export const metricsJsonlReporter: Plugin = definePlugin({
  meta: {
    name: '@leantune/runner:metrics-jsonl',
    version: '0.1.0',
    core: '^0.1.0',
    description: 'Writes every training step, epoch and evaluation to the run folder\'s metrics.jsonl (applied by the runner by default)',
  },
  apply(ctx) {
    ctx.hooks.run.tap('metrics-jsonl', (run) => {
      tapTrainEvents(run, 'metrics-jsonl', (event) => {
        const history = join(runFolderOf(run)!.dir, RUN_FILES.history);
        if (event.type === 'start') {
          if (event.resumed) dropLinesAfter(history, event.step);
          return;
        }
        if (event.type === 'step' || event.type === 'epoch' || event.type === 'eval') appendFileSync(history, `${JSON.stringify(event)}\n`);
      });
    });
  },
});
