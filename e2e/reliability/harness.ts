import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// The reliability suite's one way to run a case: a child process (the CLI as a user runs it,
// or a small Node script calling the library), with its peak resident memory read from
// /proc/<pid>/status (VmHWM, the kernel's own high-water mark) every 10 ms and its wall time.
// Every case is measured, so the suite's table (cases, held, peak MB, seconds) comes from
// the runs themselves. Limits the issue sets: 500 MB and 10 s per hostile input.

export const repo = join(__dirname, '..', '..');
export const cliBin = join(repo, 'packages', 'cli', 'bin', 'leantune.js');
export const MAX_RSS_MB = 500;
export const MAX_SECONDS = 10;

export interface ChildRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Peak resident set of the child, MB (VmHWM). */
  peakMB: number;
  seconds: number;
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Killed (SIGKILL) after this long; the run then reports signal SIGKILL. */
  timeoutMs?: number;
  /** Kill the child after this many ms (fault injection), SIGKILL unless `killSignal` says otherwise. */
  killAfterMs?: number;
  killSignal?: NodeJS.Signals;
  /** Kill the child (as `killAfterMs` does) as soon as this returns true for its stdout so far (fault injection at a point of its progress). */
  killWhen?: (stdout: string) => boolean;
  stdin?: string;
}

function vmHwmMB(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** Runs `argv[0]` with `argv.slice(1)`, measuring peak memory and time. */
export function runChild(argv: string[], opts: RunOptions = {}): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(argv[0], argv.slice(1), { cwd: opts.cwd ?? repo, env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let peak = 0;
    let killed = false;
    child.stdout.on('data', (d) => {
      stdout += d;
      if (opts.killWhen && !killed && opts.killWhen(stdout)) {
        killed = true;
        child.kill(opts.killSignal ?? 'SIGKILL');
      }
    });
    child.stderr.on('data', (d) => (stderr += d));
    child.stdin.end(opts.stdin ?? '');
    const poll = setInterval(() => {
      if (child.pid) peak = Math.max(peak, vmHwmMB(child.pid));
    }, 10);
    const timers: NodeJS.Timeout[] = [];
    if (opts.timeoutMs) timers.push(setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs));
    if (opts.killAfterMs !== undefined) timers.push(setTimeout(() => child.kill(opts.killSignal ?? 'SIGKILL'), opts.killAfterMs));
    child.on('error', reject);
    child.on('exit', () => {
      if (child.pid) peak = Math.max(peak, vmHwmMB(child.pid));
    });
    child.on('close', (code, signal) => {
      clearInterval(poll);
      for (const t of timers) clearTimeout(t);
      resolve({ code, signal, stdout, stderr, peakMB: peak, seconds: Number(process.hrtime.bigint() - t0) / 1e9 });
    });
  });
}

/** `leantune <args>` in `cwd`, HOME/TMPDIR kept inside it when `isolate` (the default). */
export function runCli(args: string[], opts: RunOptions & { isolate?: boolean } = {}): Promise<ChildRun> {
  let env = opts.env ?? { ...process.env };
  if (opts.cwd && opts.isolate !== false) {
    for (const sub of ['home', 'tmp']) mkdirSync(join(opts.cwd, sub), { recursive: true });
    env = { ...env, HOME: join(opts.cwd, 'home'), TMPDIR: join(opts.cwd, 'tmp'), XDG_CACHE_HOME: join(opts.cwd, 'home', '.cache') };
  }
  return runChild([process.execPath, cliBin, ...args], { ...opts, env });
}

/** A Node script (CommonJS source) run in its own process from the repo root, so `require('@leantune/...')` resolves. */
export function runScript(source: string, opts: RunOptions = {}): Promise<ChildRun> {
  return runChild([process.execPath, '-e', source], { ...opts, cwd: opts.cwd ?? repo });
}

export function scratch(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `lt-rel-${prefix}-`));
}

/** Where each case's figures go (one JSON line per case); `node e2e/reliability/table.js` prints them. */
export const tableFile = process.env.LEANTUNE_RELIABILITY_TABLE ?? join(tmpdir(), 'leantune-reliability.jsonl');

export interface CaseRecord {
  suite: string;
  case: string;
  held: boolean;
  peakMB: number;
  seconds: number;
  detail?: string;
}

/** Records a case's figures in the table file. Call it before asserting, so a failing case is in the table too. */
export function record(r: CaseRecord): void {
  const dir = join(tableFile, '..');
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true });
  appendFileSync(tableFile, JSON.stringify({ ...r, at: new Date().toISOString() }) + '\n');
}

/**
 * Runs one hostile case: `run` gives the child's result, `check` says whether the tool held
 * (a clear error, nothing unsafe done; returns a reason when it did not). Peak memory and time
 * are checked against the limits unless `limits: false` (training cases, which are not
 * bounded-input cases). Records the row, then asserts.
 */
export async function hostileCase(
  suite: string,
  name: string,
  run: () => Promise<ChildRun>,
  check: (r: ChildRun) => string | undefined,
  limits: { mb?: number; seconds?: number } | false = {},
): Promise<ChildRun> {
  const r = await run();
  const problems: string[] = [];
  const why = check(r);
  if (why) problems.push(why);
  if (limits !== false) {
    const mb = limits.mb ?? MAX_RSS_MB;
    const s = limits.seconds ?? MAX_SECONDS;
    if (r.peakMB > mb) problems.push(`peak RSS ${r.peakMB.toFixed(0)} MB > ${mb} MB`);
    if (r.seconds > s) problems.push(`took ${r.seconds.toFixed(1)} s > ${s} s`);
  }
  record({ suite, case: name, held: problems.length === 0, peakMB: Math.round(r.peakMB), seconds: Number(r.seconds.toFixed(2)), detail: problems.join('; ') || undefined });
  if (problems.length) {
    throw new Error(`${name}: ${problems.join('; ')}\nexit ${r.code} signal ${r.signal}\nstderr:\n${r.stderr.slice(-2000)}\nstdout:\n${r.stdout.slice(-1000)}`);
  }
  return r;
}
