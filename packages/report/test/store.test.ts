import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { collectArtifacts, ExperimentStore, hashPath, migrate, MIGRATIONS, SCHEMA_VERSION } from '../src';
import { fakeExperiment, tempDir } from './helpers';

describe('experiment store', () => {
  it('creates arms × seeds pending runs, and finds experiments by name or id (naming the ones it holds when not)', () => {
    const dir = tempDir('store');
    const { store, exp } = fakeExperiment(dir, ['lora', 'ia3'], [1, 2, 3], 'first');
    expect(store.db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    const runs = store.runs(exp.id);
    expect(runs.map((r) => `${r.armLabel}/${r.seed}/${r.status}`)).toEqual([
      'lora/1/pending',
      'lora/2/pending',
      'lora/3/pending',
      'ia3/1/pending',
      'ia3/2/pending',
      'ia3/3/pending',
    ]);
    expect(store.experiment(String(exp.id)).name).toBe('first');
    expect(store.experiment('first').seeds).toEqual([1, 2, 3]);
    expect(() => store.experiment('nope')).toThrow(/No experiment "nope" in .*experiments\.sqlite\. It holds: first/);
    expect(store.environment(exp.id)).toMatchObject({ nodeVersion: process.version, versions: { 'better-sqlite3': expect.stringMatching(/^12\./) } });
    // One run per arm and seed: the schema refuses a second.
    expect(() => store.db.prepare('INSERT INTO runs (arm_id, seed) VALUES (?, ?)').run(runs[0].armId, 1)).toThrow(/UNIQUE/);
    store.close();
  });

  it('a new attempt clears what the last one left, and finished attempts are all kept', () => {
    const dir = tempDir('attempts');
    const { store, exp } = fakeExperiment(dir, ['lora'], [7]);
    const [run] = store.runs(exp.id);
    expect(store.startRun(run.id, 123)).toBe(1);
    store.addMetrics(run.id, [{ step: 1, loss: 2 }, { step: 2, loss: 1.5 }], [{ epoch: 0, step: 2, metrics: { accuracy: 0.5, note: 'text is skipped' } }]);
    store.finishRun(run.id, { status: 'failed', wallSeconds: 1, exitCode: 3, failureKind: 'crashed', failureReason: 'exit 3: boom', stderrTail: 'boom' });
    expect(store.runs(exp.id)[0]).toMatchObject({ status: 'failed', attempt: 1, failureKind: 'crashed', failureReason: 'exit 3: boom', pid: null });
    expect(store.stepMetrics(exp.id)).toHaveLength(2);
    expect(store.epochMetrics(run.id)).toEqual([{ epoch: 0, step: 2, name: 'accuracy', value: 0.5 }]);

    expect(store.startRun(run.id, 124)).toBe(2);
    expect(store.stepMetrics(exp.id)).toHaveLength(0);
    expect(store.runs(exp.id)[0]).toMatchObject({ status: 'running', attempt: 2, failureKind: null, pid: 124 });
    store.addMetrics(run.id, [{ step: 1, loss: 1.9 }]);
    store.finishRun(run.id, { status: 'completed', wallSeconds: 2, trainSeconds: 1.5, evals: [{ split: 'validation', step: 1, metrics: { accuracy: 0.75, label: 'x' } }] });
    expect(store.evalMetrics(run.id)).toEqual([
      { split: 'validation', step: 1, name: 'accuracy', value: 0.75, text: null },
      { split: 'validation', step: 1, name: 'label', value: null, text: 'x' },
    ]);
    expect(store.attempts(run.id)).toEqual([
      { attempt: 1, status: 'failed', failureKind: 'crashed', failureReason: 'exit 3: boom' },
      { attempt: 2, status: 'completed', failureKind: null, failureReason: null },
    ]);
    store.close();
  });

  it('migrates a version-1 file to the latest, keeping its rows and back-filling the attempts table', () => {
    const dir = tempDir('migrate');
    const file = join(dir, 'old.sqlite');
    const db = new Database(file);
    expect(migrate(db, 1)).toBe(1);
    db.exec(`INSERT INTO experiments (id, name, config_json, seeds_json, primary_metric, created_at) VALUES (1, 'old', '{}', '[1]', 'accuracy', 'then');
      INSERT INTO arms (id, experiment_id, position, label, method, config_json) VALUES (1, 1, 0, 'lora', 'lora', '{}');
      INSERT INTO runs (id, arm_id, seed, status, attempt, failure_kind) VALUES (1, 1, 1, 'failed', 1, 'crashed');`);
    db.close();
    const store = ExperimentStore.open(file);
    expect(store.db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.at(-1)!.version);
    expect(store.runs(1)).toHaveLength(1);
    expect(store.attempts(1)).toEqual([{ attempt: 1, status: 'failed', failureKind: 'crashed', failureReason: null }]);
    store.close();
  });

  it('refuses a file from a newer leantune, and a read-only open of a missing file, saying what to do', () => {
    const dir = tempDir('newer');
    const file = join(dir, 'new.sqlite');
    const db = new Database(file);
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    expect(() => ExperimentStore.open(file)).toThrow(new RegExp(`schema version ${SCHEMA_VERSION + 1}, newer than this leantune knows \\(${SCHEMA_VERSION}\\); upgrade`));
    expect(() => ExperimentStore.open(join(dir, 'missing.sqlite'), { readonly: true })).toThrow(/No experiment store at .*missing\.sqlite: run `leantune compare` first/);
  });

  it('hashes adapter folders by their files: same bytes, same hash; one byte changed, another', () => {
    const dir = tempDir('hash');
    const run = join(dir, 'run');
    mkdirSync(join(run, 'adapters', 'lora'), { recursive: true });
    writeFileSync(join(run, 'adapters', 'lora', 'adapter_config.json'), '{"r":4}');
    writeFileSync(join(run, 'adapters', 'lora', 'adapter_model.safetensors'), 'abc');
    writeFileSync(join(run, 'trainable.safetensors'), 'abc');
    const arts = collectArtifacts(run);
    expect(arts.map((a) => [a.kind, a.bytes])).toEqual([
      ['adapter:lora', 10],
      ['trainable-weights', 3],
    ]);
    // sha256("abc") is the FIPS 180-2 test vector.
    expect(arts[1].sha256).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    const before = hashPath(join(run, 'adapters', 'lora')).sha256;
    writeFileSync(join(run, 'adapters', 'lora', 'adapter_model.safetensors'), 'abd');
    expect(hashPath(join(run, 'adapters', 'lora')).sha256).not.toBe(before);
  });
});
