import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { captureEnvironment, ExperimentStore, type ArmRow, type RunCommand } from '../src';

export const fakeTrain = join(__dirname, 'fixtures', 'fake-train.js');

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `lt-exp-${prefix}-`));
}

/** A store with one experiment of the given arms × seeds, all runs pending. */
export function fakeExperiment(dir: string, arms: string[], seeds: number[], name = 'fake') {
  const store = ExperimentStore.open(join(dir, 'experiments.sqlite'));
  const exp = store.createExperiment({
    name,
    configFile: join(dir, 'leantune.json'),
    config: { name, model: { name: 'fake' }, data: { name: 'fake-data' } },
    seeds,
    primaryMetric: 'accuracy',
    environment: captureEnvironment({ packages: ['better-sqlite3'] }),
    arms: arms.map((label) => ({ label, method: label, config: { r: 4 }, resolvedConfig: { name: `${name}-${label}`, methods: { [label]: { r: 4 } } } })),
  });
  return { store, exp };
}

/** Runs fake-train.js for an arm; `behaviour(arm, seed)` picks ok, crash, oom or sigkill. */
export function fakeCommand(dir: string, behaviour: (arm: string, seed: number) => string = () => 'ok', env: NodeJS.ProcessEnv = {}) {
  return (arm: ArmRow, seed: number): RunCommand => ({
    command: process.execPath,
    args: [fakeTrain, join(dir, 'runs'), arm.label, String(seed), behaviour(arm.label, seed)],
    env: { ...process.env, ...env },
  });
}
