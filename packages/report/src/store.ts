import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Artifact, EpochMetric, FailureKind, StepMetric } from '@leantune/queue';

// The run's figures are the job interface's (@leantune/queue); kept exported from here as before.
export { collectArtifacts, hashPath, type Artifact, type EpochMetric, type FailureKind, type StepMetric } from '@leantune/queue';

/**
 * The experiment store: one SQLite file per results folder. Every write goes through a
 * transaction, so a coordinator killed at any point leaves a consistent file: a run is
 * either recorded as finished with all its metrics, or it is still "running"/"pending"
 * and `--resume` runs it again from scratch (its partial metrics replaced in the same
 * transaction that starts the new attempt).
 */

export type Db = Database.Database;

/** A mistake the user can fix (a name, a file, a flag): the message says how. */
export class ExperimentError extends Error {
  override name = 'ExperimentError';
}

/** Each entry moves the schema one version up; `PRAGMA user_version` says where a file is. */
export const MIGRATIONS: ReadonlyArray<{ version: number; description: string; sql: string }> = [
  {
    version: 1,
    description: 'experiments, environment, arms, runs, step/epoch/eval metrics, artifacts',
    sql: `
      CREATE TABLE experiments (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        config_file TEXT,
        config_json TEXT NOT NULL,
        seeds_json TEXT NOT NULL,
        primary_metric TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'running',
        created_at TEXT NOT NULL,
        finished_at TEXT
      );
      CREATE TABLE environment (
        experiment_id INTEGER PRIMARY KEY REFERENCES experiments(id) ON DELETE CASCADE,
        backend TEXT,
        threads INTEGER,
        node_version TEXT,
        platform TEXT,
        cpu_model TEXT,
        cpu_count INTEGER,
        total_memory_mb REAL,
        versions_json TEXT NOT NULL,
        captured_at TEXT NOT NULL
      );
      CREATE TABLE arms (
        id INTEGER PRIMARY KEY,
        experiment_id INTEGER NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        label TEXT NOT NULL,
        method TEXT NOT NULL,
        config_json TEXT NOT NULL,
        resolved_config_json TEXT,
        UNIQUE (experiment_id, label)
      );
      CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        arm_id INTEGER NOT NULL REFERENCES arms(id) ON DELETE CASCADE,
        seed INTEGER NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'completed', 'failed')),
        attempt INTEGER NOT NULL DEFAULT 0,
        pid INTEGER,
        run_dir TEXT,
        started_at TEXT,
        finished_at TEXT,
        wall_seconds REAL,
        train_seconds REAL,
        peak_rss_mb REAL,
        trainable INTEGER,
        total_params INTEGER,
        saved_bytes INTEGER,
        total_steps INTEGER,
        exit_code INTEGER,
        signal TEXT,
        failure_kind TEXT,
        failure_reason TEXT,
        stderr_tail TEXT,
        summary_json TEXT,
        UNIQUE (arm_id, seed)
      );
      CREATE TABLE step_metrics (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        step INTEGER NOT NULL,
        epoch INTEGER,
        loss REAL,
        lr REAL,
        samples_per_sec REAL,
        grad_norm REAL,
        rss_mb REAL,
        PRIMARY KEY (run_id, step)
      );
      CREATE TABLE epoch_metrics (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        epoch INTEGER NOT NULL,
        step INTEGER,
        name TEXT NOT NULL,
        value REAL,
        PRIMARY KEY (run_id, epoch, name)
      );
      CREATE TABLE eval_metrics (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        split TEXT NOT NULL,
        step INTEGER NOT NULL,
        name TEXT NOT NULL,
        value REAL,
        text TEXT,
        PRIMARY KEY (run_id, split, step, name)
      );
      CREATE TABLE artifacts (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        path TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        bytes INTEGER NOT NULL,
        PRIMARY KEY (run_id, path)
      );`,
  },
  {
    version: 2,
    description: 'run_attempts: every finished attempt of a run, failures included, kept when a resume reruns it',
    sql: `
      CREATE TABLE run_attempts (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        attempt INTEGER NOT NULL,
        status TEXT NOT NULL,
        started_at TEXT,
        finished_at TEXT,
        exit_code INTEGER,
        signal TEXT,
        failure_kind TEXT,
        failure_reason TEXT,
        stderr_tail TEXT,
        PRIMARY KEY (run_id, attempt)
      );
      INSERT INTO run_attempts (run_id, attempt, status, started_at, finished_at, exit_code, signal, failure_kind, failure_reason, stderr_tail)
        SELECT id, attempt, status, started_at, finished_at, exit_code, signal, failure_kind, failure_reason, stderr_tail
        FROM runs WHERE status IN ('completed', 'failed') AND attempt > 0;`,
  },
];

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1].version;

/** Brings a database up to `target` (default: the latest), one transaction per migration. */
export function migrate(db: Db, target = SCHEMA_VERSION, file = 'the store'): number {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > SCHEMA_VERSION) {
    throw new ExperimentError(`${file} has schema version ${current}, newer than this leantune knows (${SCHEMA_VERSION}); upgrade @leantune/report or use another results folder.`);
  }
  for (const m of MIGRATIONS) {
    if (m.version <= current || m.version > target) continue;
    db.transaction(() => {
      db.exec(m.sql);
      db.pragma(`user_version = ${m.version}`);
    })();
  }
  return db.pragma('user_version', { simple: true }) as number;
}

export type RunStatus = 'pending' | 'running' | 'completed' | 'failed';

export interface EnvironmentInfo {
  backend?: string;
  threads?: number;
  nodeVersion: string;
  platform: string;
  cpuModel: string;
  cpuCount: number;
  totalMemoryMB: number;
  versions: Record<string, string>;
}

export interface ExperimentRow {
  id: number;
  name: string;
  configFile: string | null;
  config: Record<string, unknown>;
  seeds: number[];
  primaryMetric: string;
  status: string;
  createdAt: string;
  finishedAt: string | null;
}

export interface ArmRow {
  id: number;
  experimentId: number;
  position: number;
  label: string;
  method: string;
  config: Record<string, unknown>;
  resolvedConfig: Record<string, unknown> | null;
}

export interface RunRow {
  id: number;
  armId: number;
  armLabel: string;
  seed: number;
  status: RunStatus;
  attempt: number;
  pid: number | null;
  runDir: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  wallSeconds: number | null;
  trainSeconds: number | null;
  peakRssMB: number | null;
  trainable: number | null;
  totalParams: number | null;
  savedBytes: number | null;
  totalSteps: number | null;
  exitCode: number | null;
  signal: string | null;
  failureKind: FailureKind | null;
  failureReason: string | null;
  stderrTail: string | null;
  summary: Record<string, unknown> | null;
}



export interface RunFinish {
  status: 'completed' | 'failed';
  wallSeconds: number;
  trainSeconds?: number;
  peakRssMB?: number;
  trainable?: number;
  totalParams?: number;
  savedBytes?: number;
  exitCode?: number | null;
  signal?: string | null;
  failureKind?: FailureKind;
  failureReason?: string;
  stderrTail?: string;
  summary?: Record<string, unknown>;
  /** Final evaluation metrics by split ("validation", "test", "best", …) at a step. */
  evals?: Array<{ split: string; step: number; metrics: Record<string, unknown> }>;
  artifacts?: Artifact[];
}

const now = () => new Date().toISOString();
const json = (v: unknown) => JSON.stringify(v ?? null);
const parse = <T>(s: string | null): T | null => (s == null ? null : (JSON.parse(s) as T));

/** An arm as an experiment is given it: its label, method, config and resolved run config. */
export interface NewArm {
  label: string;
  method: string;
  config: unknown;
  resolvedConfig?: unknown;
}

export class ExperimentStore {
  readonly db: Db;

  private constructor(readonly file: string, db: Db) {
    this.db = db;
  }

  /** Opens (creating when missing) the store at `file` and migrates it to the latest schema. */
  static open(file: string, options: { readonly?: boolean } = {}): ExperimentStore {
    if (options.readonly && !existsSync(file)) {
      throw new ExperimentError(`No experiment store at ${file}: run \`leantune compare\` first, or pass --store <file> where its experiments.sqlite is.`);
    }
    if (!options.readonly) mkdirSync(dirname(file), { recursive: true });
    const db = new Database(file, { readonly: !!options.readonly, timeout: 10_000 });
    if (!options.readonly) {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
    }
    db.pragma('foreign_keys = ON');
    if (!options.readonly) migrate(db, SCHEMA_VERSION, file);
    else {
      const v = db.pragma('user_version', { simple: true }) as number;
      if (v !== SCHEMA_VERSION) {
        db.close();
        throw new ExperimentError(`${file} has schema version ${v}, this leantune reads ${SCHEMA_VERSION}; open it once without --readonly (any \`leantune compare --resume\`) to migrate it.`);
      }
    }
    return new ExperimentStore(file, db);
  }

  close(): void {
    this.db.close();
  }

  /** Creates an experiment with its arms and one pending run per arm × seed, in one transaction. */
  createExperiment(input: {
    name: string;
    configFile?: string;
    config: unknown;
    seeds: number[];
    primaryMetric: string;
    environment: EnvironmentInfo;
    arms: NewArm[];
  }): ExperimentRow {
    const { db } = this;
    const id = db.transaction(() => {
      const e = db
        .prepare('INSERT INTO experiments (name, config_file, config_json, seeds_json, primary_metric, created_at) VALUES (?, ?, ?, ?, ?, ?)')
        .run(input.name, input.configFile ?? null, json(input.config), json(input.seeds), input.primaryMetric, now());
      const eid = Number(e.lastInsertRowid);
      const env = input.environment;
      db.prepare(
        'INSERT INTO environment (experiment_id, backend, threads, node_version, platform, cpu_model, cpu_count, total_memory_mb, versions_json, captured_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ).run(eid, env.backend ?? null, env.threads ?? null, env.nodeVersion, env.platform, env.cpuModel, env.cpuCount, env.totalMemoryMB, json(env.versions), now());
      this.insertArms(eid, input.arms, input.seeds, 0);
      return eid;
    })();
    return this.experiment(String(id));
  }

  /**
   * Appends arms to an experiment, after the ones it has, with a pending run per seed of the
   * experiment, and opens it again (status "running") in one transaction: a resume that
   * compares one more method.
   */
  addArms(experimentId: number, arms: NewArm[]): void {
    const { db } = this;
    db.transaction(() => {
      const last = db.prepare('SELECT MAX(position) AS p FROM arms WHERE experiment_id = ?').get(experimentId) as { p: number | null };
      this.insertArms(experimentId, arms, this.experiment(String(experimentId)).seeds, (last.p ?? -1) + 1);
      db.prepare("UPDATE experiments SET status = 'running', finished_at = NULL WHERE id = ?").run(experimentId);
    })();
  }

  /** Arms at positions from `first` on, each with a pending run per seed (inside the caller's transaction). */
  private insertArms(experimentId: number, arms: NewArm[], seeds: number[], first: number): void {
    const insArm = this.db.prepare('INSERT INTO arms (experiment_id, position, label, method, config_json, resolved_config_json) VALUES (?, ?, ?, ?, ?, ?)');
    const insRun = this.db.prepare('INSERT INTO runs (arm_id, seed) VALUES (?, ?)');
    arms.forEach((arm, i) => {
      const a = insArm.run(experimentId, first + i, arm.label, arm.method, json(arm.config), arm.resolvedConfig === undefined ? null : json(arm.resolvedConfig));
      for (const seed of seeds) insRun.run(Number(a.lastInsertRowid), seed);
    });
  }

  /** An experiment by name or numeric id; the error lists the ones there are. */
  experiment(ref: string): ExperimentRow {
    const row = (/^\d+$/.test(ref)
      ? this.db.prepare('SELECT * FROM experiments WHERE id = ? OR name = ?').get(Number(ref), ref)
      : this.db.prepare('SELECT * FROM experiments WHERE name = ?').get(ref)) as Record<string, unknown> | undefined;
    if (!row) {
      const names = this.experiments().map((e) => e.name);
      throw new ExperimentError(`No experiment "${ref}" in ${this.file}. ${names.length ? `It holds: ${names.slice(-10).join(', ')}` : 'It holds none yet.'}`);
    }
    return {
      id: row.id as number,
      name: row.name as string,
      configFile: row.config_file as string | null,
      config: parse<Record<string, unknown>>(row.config_json as string)!,
      seeds: parse<number[]>(row.seeds_json as string)!,
      primaryMetric: row.primary_metric as string,
      status: row.status as string,
      createdAt: row.created_at as string,
      finishedAt: row.finished_at as string | null,
    };
  }

  experiments(): Array<{ id: number; name: string; status: string; createdAt: string }> {
    return (this.db.prepare('SELECT id, name, status, created_at FROM experiments ORDER BY id').all() as Array<Record<string, unknown>>).map((r) => ({
      id: r.id as number,
      name: r.name as string,
      status: r.status as string,
      createdAt: r.created_at as string,
    }));
  }

  environment(experimentId: number): EnvironmentInfo & { capturedAt: string } {
    const r = this.db.prepare('SELECT * FROM environment WHERE experiment_id = ?').get(experimentId) as Record<string, unknown>;
    return {
      backend: (r.backend as string | null) ?? undefined,
      threads: (r.threads as number | null) ?? undefined,
      nodeVersion: r.node_version as string,
      platform: r.platform as string,
      cpuModel: r.cpu_model as string,
      cpuCount: r.cpu_count as number,
      totalMemoryMB: r.total_memory_mb as number,
      versions: parse<Record<string, string>>(r.versions_json as string) ?? {},
      capturedAt: r.captured_at as string,
    };
  }

  /** Records what the environment turned out to be once a run reported it (the backend a run chose). */
  updateEnvironment(experimentId: number, patch: { backend?: string; threads?: number; versions?: Record<string, string> }): void {
    this.db.transaction(() => {
      if (patch.backend) this.db.prepare('UPDATE environment SET backend = ? WHERE experiment_id = ? AND backend IS NULL').run(patch.backend, experimentId);
      if (patch.threads) this.db.prepare('UPDATE environment SET threads = ? WHERE experiment_id = ? AND threads IS NULL').run(patch.threads, experimentId);
      if (patch.versions && Object.keys(patch.versions).length) {
        const row = this.db.prepare('SELECT versions_json FROM environment WHERE experiment_id = ?').get(experimentId) as { versions_json: string } | undefined;
        const versions = { ...patch.versions, ...(parse<Record<string, string>>(row?.versions_json ?? null) ?? {}) };
        this.db.prepare('UPDATE environment SET versions_json = ? WHERE experiment_id = ?').run(json(versions), experimentId);
      }
    })();
  }

  arms(experimentId: number): ArmRow[] {
    return (this.db.prepare('SELECT * FROM arms WHERE experiment_id = ? ORDER BY position').all(experimentId) as Array<Record<string, unknown>>).map((r) => ({
      id: r.id as number,
      experimentId: r.experiment_id as number,
      position: r.position as number,
      label: r.label as string,
      method: r.method as string,
      config: parse<Record<string, unknown>>(r.config_json as string)!,
      resolvedConfig: parse<Record<string, unknown>>(r.resolved_config_json as string | null),
    }));
  }

  runs(experimentId: number): RunRow[] {
    const rows = this.db
      .prepare('SELECT runs.*, arms.label AS arm_label FROM runs JOIN arms ON arms.id = runs.arm_id WHERE arms.experiment_id = ? ORDER BY arms.position, runs.seed')
      .all(experimentId) as Array<Record<string, unknown>>;
    return rows.map((r) => ({
      id: r.id as number,
      armId: r.arm_id as number,
      armLabel: r.arm_label as string,
      seed: r.seed as number,
      status: r.status as RunStatus,
      attempt: r.attempt as number,
      pid: r.pid as number | null,
      runDir: r.run_dir as string | null,
      startedAt: r.started_at as string | null,
      finishedAt: r.finished_at as string | null,
      wallSeconds: r.wall_seconds as number | null,
      trainSeconds: r.train_seconds as number | null,
      peakRssMB: r.peak_rss_mb as number | null,
      trainable: r.trainable as number | null,
      totalParams: r.total_params as number | null,
      savedBytes: r.saved_bytes as number | null,
      totalSteps: r.total_steps as number | null,
      exitCode: r.exit_code as number | null,
      signal: r.signal as string | null,
      failureKind: r.failure_kind as FailureKind | null,
      failureReason: r.failure_reason as string | null,
      stderrTail: r.stderr_tail as string | null,
      summary: parse<Record<string, unknown>>(r.summary_json as string | null),
    }));
  }

  /**
   * Starts a new attempt of a run: status "running", attempt + 1, and whatever an earlier
   * unfinished or failed attempt left (metrics, artifacts, figures) cleared, all at once.
   */
  startRun(runId: number, pid: number | null): number {
    return this.db.transaction(() => {
      for (const t of ['step_metrics', 'epoch_metrics', 'eval_metrics', 'artifacts']) this.db.prepare(`DELETE FROM ${t} WHERE run_id = ?`).run(runId);
      this.db
        .prepare(
          `UPDATE runs SET status = 'running', attempt = attempt + 1, pid = ?, run_dir = NULL, started_at = ?, finished_at = NULL, wall_seconds = NULL,
             train_seconds = NULL, peak_rss_mb = NULL, trainable = NULL, total_params = NULL, saved_bytes = NULL, total_steps = NULL, exit_code = NULL,
             signal = NULL, failure_kind = NULL, failure_reason = NULL, stderr_tail = NULL, summary_json = NULL WHERE id = ?`,
        )
        .run(pid, now(), runId);
      return (this.db.prepare('SELECT attempt FROM runs WHERE id = ?').get(runId) as { attempt: number }).attempt;
    })();
  }

  setRunProgress(runId: number, patch: { pid?: number; runDir?: string; totalSteps?: number }): void {
    this.db.transaction(() => {
      if (patch.pid !== undefined) this.db.prepare('UPDATE runs SET pid = ? WHERE id = ?').run(patch.pid, runId);
      if (patch.runDir !== undefined) this.db.prepare('UPDATE runs SET run_dir = ? WHERE id = ?').run(patch.runDir, runId);
      if (patch.totalSteps !== undefined) this.db.prepare('UPDATE runs SET total_steps = ? WHERE id = ?').run(patch.totalSteps, runId);
    })();
  }

  /** Appends step and epoch metrics in one transaction (a step seen twice keeps its last values). */
  addMetrics(runId: number, steps: StepMetric[], epochs: EpochMetric[] = []): void {
    if (!steps.length && !epochs.length) return;
    const insStep = this.db.prepare(
      'INSERT OR REPLACE INTO step_metrics (run_id, step, epoch, loss, lr, samples_per_sec, grad_norm, rss_mb) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    );
    const insEpoch = this.db.prepare('INSERT OR REPLACE INTO epoch_metrics (run_id, epoch, step, name, value) VALUES (?, ?, ?, ?, ?)');
    this.db.transaction(() => {
      for (const s of steps) insStep.run(runId, s.step, s.epoch ?? null, s.loss ?? null, s.lr ?? null, s.samplesPerSec ?? null, s.gradNorm ?? null, s.rssMB ?? null);
      for (const e of epochs) {
        for (const [name, value] of Object.entries(e.metrics)) if (typeof value === 'number') insEpoch.run(runId, e.epoch, e.step ?? null, name, value);
      }
    })();
  }

  /** Replaces a run's step and epoch metrics with the whole list a finished attempt reported, in one transaction. */
  replaceMetrics(runId: number, steps: StepMetric[], epochs: EpochMetric[] = []): void {
    this.db.transaction(() => {
      for (const t of ['step_metrics', 'epoch_metrics']) this.db.prepare(`DELETE FROM ${t} WHERE run_id = ?`).run(runId);
      this.addMetrics(runId, steps, epochs);
    })();
  }

  /** Records a finished attempt (completed or failed) with its figures, evaluations and artifacts, in one transaction. */
  finishRun(runId: number, f: RunFinish): void {
    const { db } = this;
    db.transaction(() => {
      db.prepare(
        `UPDATE runs SET status = ?, finished_at = ?, wall_seconds = ?, train_seconds = ?, peak_rss_mb = ?, trainable = ?, total_params = ?, saved_bytes = ?,
           exit_code = ?, signal = ?, failure_kind = ?, failure_reason = ?, stderr_tail = ?, summary_json = ?, pid = NULL WHERE id = ?`,
      ).run(
        f.status,
        now(),
        f.wallSeconds,
        f.trainSeconds ?? null,
        f.peakRssMB ?? null,
        f.trainable ?? null,
        f.totalParams ?? null,
        f.savedBytes ?? null,
        f.exitCode ?? null,
        f.signal ?? null,
        f.failureKind ?? null,
        f.failureReason ?? null,
        f.stderrTail ?? null,
        f.summary === undefined ? null : json(f.summary),
        runId,
      );
      const ins = db.prepare('INSERT OR REPLACE INTO eval_metrics (run_id, split, step, name, value, text) VALUES (?, ?, ?, ?, ?, ?)');
      for (const ev of f.evals ?? []) {
        for (const [name, v] of Object.entries(ev.metrics)) {
          if (typeof v === 'number') ins.run(runId, ev.split, ev.step, name, v, null);
          else if (typeof v === 'string') ins.run(runId, ev.split, ev.step, name, null, v);
        }
      }
      const insA = db.prepare('INSERT OR REPLACE INTO artifacts (run_id, kind, path, sha256, bytes) VALUES (?, ?, ?, ?, ?)');
      for (const a of f.artifacts ?? []) insA.run(runId, a.kind, a.path, a.sha256, a.bytes);
      db.prepare(
        `INSERT OR REPLACE INTO run_attempts (run_id, attempt, status, started_at, finished_at, exit_code, signal, failure_kind, failure_reason, stderr_tail)
           SELECT id, attempt, status, started_at, finished_at, exit_code, signal, failure_kind, failure_reason, stderr_tail FROM runs WHERE id = ?`,
      ).run(runId);
    })();
  }

  /** Marks the experiment finished (every run completed or failed) or leaves it open for --resume. */
  setExperimentStatus(experimentId: number, status: 'running' | 'completed' | 'incomplete'): void {
    this.db.transaction(() => {
      this.db.prepare('UPDATE experiments SET status = ?, finished_at = ? WHERE id = ?').run(status, status === 'running' ? null : now(), experimentId);
    })();
  }

  stepMetrics(experimentId: number): Array<{ runId: number; arm: string; seed: number } & StepMetric> {
    return (
      this.db
        .prepare(
          `SELECT s.*, r.seed, a.label FROM step_metrics s JOIN runs r ON r.id = s.run_id JOIN arms a ON a.id = r.arm_id
           WHERE a.experiment_id = ? ORDER BY a.position, r.seed, s.step`,
        )
        .all(experimentId) as Array<Record<string, unknown>>
    ).map((r) => ({
      runId: r.run_id as number,
      arm: r.label as string,
      seed: r.seed as number,
      step: r.step as number,
      epoch: (r.epoch as number | null) ?? undefined,
      loss: (r.loss as number | null) ?? undefined,
      lr: (r.lr as number | null) ?? undefined,
      samplesPerSec: (r.samples_per_sec as number | null) ?? undefined,
      gradNorm: (r.grad_norm as number | null) ?? undefined,
      rssMB: (r.rss_mb as number | null) ?? undefined,
    }));
  }

  epochMetrics(runId: number): Array<{ epoch: number; step: number | null; name: string; value: number }> {
    return this.db.prepare('SELECT epoch, step, name, value FROM epoch_metrics WHERE run_id = ? ORDER BY epoch, name').all(runId) as Array<{
      epoch: number;
      step: number | null;
      name: string;
      value: number;
    }>;
  }

  evalMetrics(runId: number): Array<{ split: string; step: number; name: string; value: number | null; text: string | null }> {
    return this.db.prepare('SELECT split, step, name, value, text FROM eval_metrics WHERE run_id = ? ORDER BY split, step, name').all(runId) as Array<{
      split: string;
      step: number;
      name: string;
      value: number | null;
      text: string | null;
    }>;
  }

  artifacts(runId: number): Artifact[] {
    return this.db.prepare('SELECT kind, path, sha256, bytes FROM artifacts WHERE run_id = ? ORDER BY path').all(runId) as Artifact[];
  }

  attempts(runId: number): Array<{ attempt: number; status: string; failureKind: string | null; failureReason: string | null }> {
    return (this.db.prepare('SELECT attempt, status, failure_kind, failure_reason FROM run_attempts WHERE run_id = ? ORDER BY attempt').all(runId) as Array<Record<string, unknown>>).map(
      (r) => ({ attempt: r.attempt as number, status: r.status as string, failureKind: r.failure_kind as string | null, failureReason: r.failure_reason as string | null }),
    );
  }

  /** The highest peak RSS recorded for an arm label and method in any experiment here: the runner's memory estimate. */
  observedPeakRssMB(label: string, method: string): number | undefined {
    const r = this.db
      .prepare(`SELECT MAX(r.peak_rss_mb) AS m FROM runs r JOIN arms a ON a.id = r.arm_id WHERE a.label = ? AND a.method = ? AND r.peak_rss_mb IS NOT NULL`)
      .get(label, method) as { m: number | null };
    return r.m ?? undefined;
  }
}
