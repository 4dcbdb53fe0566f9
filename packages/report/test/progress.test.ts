import { terminalProgress, type RunRow } from '../src';

const run = (id: number, armLabel: string, seed: number) => ({ id, armLabel, seed }) as RunRow;

describe('compare progress', () => {
  it('without a terminal: a line when a run starts and one when it ends, failures with their reason', () => {
    const lines: string[] = [];
    const p = terminalProgress((s) => lines.push(s));
    p.plan(4, 1, 2);
    p.started(run(1, 'lora', 7));
    p.step(run(1, 'lora', 7), 3, 10, 0.5, 12);
    p.finished(run(1, 'lora', 7), 'completed', '7.5 s');
    p.started(run(2, 'ia3', 7));
    p.finished(run(2, 'ia3', 7), 'failed', 'exit 1: boom');
    p.stop();
    expect(lines.join('')).toBe(
      [
        'compare: 3 runs to go (1 of 4 completed before, skipped), 2 at a time',
        'compare: start lora seed 7',
        'compare: [2/4] lora seed 7 completed (7.5 s)',
        'compare: start ia3 seed 7',
        'compare: [3/4] ia3 seed 7 failed (exit 1: boom)',
        '',
      ].join('\n'),
    );
  });

  it('on a terminal: one bar per running arm with step, loss and ETA, under an overall bar', () => {
    let screen = '';
    const tty = Object.assign(Object.create(process.stderr), {
      isTTY: true,
      columns: 160,
      rows: 40,
      write: (s: string) => {
        screen += s;
        return true;
      },
      cursorTo: () => true,
      moveCursor: () => true,
      clearLine: () => true,
      clearScreenDown: () => true,
      on: () => tty,
      removeListener: () => tty,
    }) as NodeJS.WriteStream;
    const p = terminalProgress(() => undefined, tty);
    p.plan(3, 0, 2);
    p.started(run(1, 'lora', 7));
    p.started(run(2, 'ia3', 7));
    p.step(run(1, 'lora', 7), 3, 10, 0.5, 12);
    p.step(run(2, 'ia3', 7), 8, 10, 0.25, 150);
    p.stop();
    expect(screen).toContain('3 runs to go, 2 at a time');
    expect(screen).toMatch(/all runs\s+\|[^|]+\| 0\/3 runs \| 0 completed, 0 failed/);
    expect(screen).toMatch(/lora seed 7\s+\|[^|]+\| 3\/10 steps \| loss 0\.5000 \| ETA 12s/);
    expect(screen).toMatch(/ia3 seed 7\s+\|[^|]+\| 8\/10 steps \| loss 0\.2500 \| ETA 3m/);
  });
});
