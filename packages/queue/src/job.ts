import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

/**
 * The one job of a comparison: one arm × one seed, run as a child process that prints
 * `leantune train --json` lines, ending in a summary and the run folder's adapter files.
 * The local pool and the BullMQ workers both run it through `executeRun`.
 */

/** How to start one run: a command whose stdout carries `leantune train --json` lines. */
export interface RunCommand {
  command: string;
  args: string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

export type FailureKind = 'crashed' | 'out-of-memory' | 'killed' | 'interrupted' | 'no-summary' | 'spawn-error';

export interface StepMetric {
  step: number;
  epoch?: number;
  loss?: number;
  lr?: number;
  samplesPerSec?: number;
  gradNorm?: number;
  rssMB?: number;
}

export interface EpochMetric {
  epoch: number;
  step?: number;
  metrics: Record<string, unknown>;
}

export interface Artifact {
  kind: string;
  path: string;
  sha256: string;
  bytes: number;
}

/** What one attempt of a run came to: plain data, so it travels as a BullMQ job's result. */
export interface RunOutcome {
  status: 'completed' | 'failed';
  wallSeconds: number;
  exitCode: number | null;
  signal: string | null;
  stderrTail: string;
  peakRssMB?: number;
  failureKind?: FailureKind;
  failureReason?: string;
  /** The summary line of `leantune train --json`. */
  summary?: Record<string, unknown>;
  /** The run folder, on the machine that ran it. */
  runDir?: string;
  totalSteps?: number;
  lastStep: number;
  /** Every step and epoch line the run printed (what a coordinator records when the live events were missed). */
  steps: StepMetric[];
  epochs: EpochMetric[];
}

/** What a run reports while it goes: where a local pool writes the store and a worker calls job.updateProgress. */
export interface RunEvents {
  spawned?(pid: number | undefined): void;
  start?(info: { runDir: string; totalSteps: number }): void;
  step?(metric: StepMetric, totalSteps: number, etaSeconds: number | undefined): void;
  epoch?(metric: EpochMetric): void;
}

const STDERR_TAIL_LINES = 30;
const tail = (text: string, lines = STDERR_TAIL_LINES) => text.trimEnd().split('\n').slice(-lines).join('\n').slice(-8000);
const lastLine = (text: string) =>
  text
    .trimEnd()
    .split('\n')
    .reverse()
    .find((l) => l.trim() && !/^\s+at /.test(l) && !/^Node\.js v/.test(l))
    ?.trim() ?? '';

/** Why a child ended the way it did, from its exit code, signal and stderr. */
export function classifyExit(code: number | null, signal: string | null, stderr: string, sawSummary: boolean): { kind?: FailureKind; reason?: string } {
  const oom = /JavaScript heap out of memory|Allocation failed|std::bad_alloc|Cannot allocate memory|ENOMEM|out of memory/i.test(stderr);
  if (code === 0 && sawSummary) return {};
  if (oom) return { kind: 'out-of-memory', reason: `out of memory${signal ? ` (${signal})` : code !== null ? ` (exit ${code})` : ''}: ${lastLine(stderr)}` };
  if (signal === 'SIGKILL') return { kind: 'killed', reason: 'killed by SIGKILL (the kernel out-of-memory killer, a timeout, or a person); see the system log (dmesg) for an OOM kill' };
  if (signal) return { kind: 'killed', reason: `killed by ${signal}` };
  if (code === 130) return { kind: 'interrupted', reason: `interrupted (exit 130): ${lastLine(stderr)}` };
  if (code === 0) return { kind: 'no-summary', reason: 'exited 0 without a summary line on stdout' };
  return { kind: 'crashed', reason: `exit ${code}: ${lastLine(stderr) || '(no stderr)'}` };
}

export function readPeakRssMB(pid: number | undefined): number | undefined {
  if (!pid) return undefined;
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** What a run folder's environment.json says about the backend (threads) and the plugins' versions. */
export function runEnvironment(dir: string | undefined): { threads?: number; versions?: Record<string, string> } {
  const file = dir && join(dir, 'environment.json');
  if (!file || !existsSync(file)) return {};
  try {
    const env = JSON.parse(readFileSync(file, 'utf8')) as { backend?: { threads?: number }; plugins?: string[] };
    const versions: Record<string, string> = {};
    for (const p of env.plugins ?? []) {
      const at = p.lastIndexOf('@');
      if (at > 0) versions[p.slice(0, at)] = p.slice(at + 1);
    }
    return { threads: env.backend?.threads, versions };
  } catch {
    return {};
  }
}

/** sha256 of a file, or of a folder as the sorted list of its files' relative paths and hashes. */
export function hashPath(path: string): { sha256: string; bytes: number } {
  const st = statSync(path);
  if (st.isFile()) return { sha256: createHash('sha256').update(readFileSync(path)).digest('hex'), bytes: st.size };
  const h = createHash('sha256');
  let bytes = 0;
  for (const f of filesUnder(path)) {
    const one = hashPath(join(path, f));
    bytes += one.bytes;
    h.update(`${f}\0${one.sha256}\n`);
  }
  return { sha256: h.digest('hex'), bytes };
}

/** Every file under a folder, as sorted paths relative to it. */
export function filesUnder(dir: string): string[] {
  const files: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) files.push(relative(dir, p));
    }
  };
  walk(dir);
  return files.sort();
}

/** The files of a run folder that are its result: every adapter folder and the trainable weights. */
export const RESULT_PATHS = ['adapters', 'trainable.safetensors'];

/** The artifacts of a finished run folder: each adapter folder and the trainable weights file. */
export function collectArtifacts(runDir: string): Artifact[] {
  const out: Artifact[] = [];
  const adapters = join(runDir, 'adapters');
  if (existsSync(adapters)) {
    for (const e of readdirSync(adapters, { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      const p = join(adapters, e.name);
      out.push({ kind: `adapter:${e.name}`, path: p, ...hashPath(p) });
    }
  }
  const weights = join(runDir, 'trainable.safetensors');
  if (existsSync(weights)) out.push({ kind: 'trainable-weights', path: weights, ...hashPath(weights) });
  return out;
}

/** Runs one attempt in a child process and reads its `--json` lines; resolves with the outcome, never rejects. */
export function executeRun(cmd: RunCommand, events: RunEvents = {}, children?: Set<ChildProcess>): Promise<RunOutcome> {
  const t0 = Date.now();
  return new Promise((done) => {
    const child = spawn(cmd.command, cmd.args, { cwd: cmd.cwd, env: cmd.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    children?.add(child);
    events.spawned?.(child.pid);
    let stdoutBuf = '';
    let stderr = '';
    let summary: Record<string, unknown> | undefined;
    let runDir: string | undefined;
    let lastStep = 0;
    let totalSteps = 0;
    let firstStepAt: { step: number; t: number } | undefined;
    let peakRss: number | undefined;
    const steps: StepMetric[] = [];
    const epochs: EpochMetric[] = [];
    const timer = setInterval(() => {
      const rss = readPeakRssMB(child.pid);
      if (rss !== undefined) peakRss = Math.max(peakRss ?? 0, rss);
    }, 500);
    const onLine = (line: string) => {
      if (!line.startsWith('{')) return;
      let e: Record<string, unknown>;
      try {
        e = JSON.parse(line);
      } catch {
        return;
      }
      if (e.type === 'start') {
        totalSteps = Number(e.totalSteps) || 0;
        runDir = String(e.dir);
        events.start?.({ runDir, totalSteps });
      } else if (e.type === 'step') {
        const step = Number(e.step);
        lastStep = step;
        if (!firstStepAt) firstStepAt = { step, t: Date.now() };
        const metric: StepMetric = {
          step,
          epoch: e.epoch as number,
          loss: e.loss as number,
          lr: e.lr as number,
          samplesPerSec: e.samplesPerSec as number,
          gradNorm: e.gradNorm as number | undefined,
          rssMB: e.rssMB as number | undefined,
        };
        steps.push(metric);
        const total = Number(e.totalSteps) || totalSteps;
        const rate = firstStepAt && step > firstStepAt.step ? (Date.now() - firstStepAt.t) / 1000 / (step - firstStepAt.step) : undefined;
        events.step?.(metric, total, rate !== undefined ? rate * (total - step) : undefined);
      } else if (e.type === 'epoch') {
        const { type: _t, epoch, step, ...metrics } = e;
        const metric = { epoch: Number(epoch), step: step as number, metrics };
        epochs.push(metric);
        events.epoch?.(metric);
      } else if (e.type === 'summary') {
        summary = e;
      }
    };
    child.stdout!.on('data', (d: Buffer) => {
      stdoutBuf += d;
      let i: number;
      while ((i = stdoutBuf.indexOf('\n')) >= 0) {
        onLine(stdoutBuf.slice(0, i).trim());
        stdoutBuf = stdoutBuf.slice(i + 1);
      }
    });
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d;
      if (stderr.length > 64_000) stderr = stderr.slice(-32_000);
    });
    let settled = false;
    const finish = (code: number | null, sig: string | null, spawnError?: Error) => {
      if (settled) return;
      settled = true;
      clearInterval(timer);
      children?.delete(child);
      if (stdoutBuf.trim()) onLine(stdoutBuf.trim());
      const { kind, reason } = spawnError ? { kind: 'spawn-error' as const, reason: `could not start ${cmd.command}: ${spawnError.message}` } : classifyExit(code, sig, stderr, !!summary);
      const base = { wallSeconds: (Date.now() - t0) / 1000, exitCode: code, signal: sig, stderrTail: tail(stderr), runDir, totalSteps, lastStep, steps, epochs };
      if (!kind && summary) {
        const dir = typeof summary.dir === 'string' ? summary.dir : runDir;
        done({ ...base, runDir: dir, status: 'completed', summary, peakRssMB: (summary.peakRssMB as number | undefined) ?? peakRss });
      } else {
        done({ ...base, status: 'failed', peakRssMB: peakRss, failureKind: kind, failureReason: reason });
      }
    };
    child.on('error', (err) => finish(null, null, err));
    child.on('close', (code, sig) => finish(code, sig));
  });
}

/** Runs `work` on every item, at most `limit` at once, in order; stops taking new items once `stopped()` says so. */
export async function runPool<T>(items: T[], limit: number, work: (item: T) => Promise<void>, stopped: () => boolean = () => false): Promise<void> {
  const queue = [...items];
  const lane = async () => {
    for (let item = queue.shift(); item !== undefined && !stopped(); item = queue.shift()) await work(item);
  };
  await Promise.all(Array.from({ length: Math.max(1, limit) }, lane));
}
