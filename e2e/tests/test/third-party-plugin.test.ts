import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@leantune/core';
import { saveRunFolder } from '@leantune/runner';
import { loadSafetensors, tf } from '@leantune/tensor';
import { createTrainDriver } from '@leantune/train';

const fixtures = join(__dirname, 'fixtures');
const repo = join(__dirname, '..', '..', '..');
const cliBin = join(repo, 'packages', 'cli', 'bin', 'leantune.js');
const PLUGIN = '@acme/leantune-plugin-shift';
const EVERY_HOOK = [
  // The documented order: the model, then the data stages, then the methods' inject.
  'loadModel',
  'modelLoaded',
  'loadDataset',
  'datasetStage',
  'inject:encoder.dense',
  'selectTrainable',
  'beforeTrain',
  'beforeStep',
  'afterStep',
  'afterEpoch',
  'afterTrain',
  'evaluate',
  'save',
];

describe('a third-party plugin loaded by name from a config', () => {
  beforeAll(() => tf.setBackend('cpu'));

  it('registers its method and stage and passes through every hook point, in order', async () => {
    const { toolkit, config } = await loadConfig(join(fixtures, 'shift.json'), { trainer: createTrainDriver(), log: { info: () => {}, warn: () => {} } });
    expect(toolkit.methods.get('shift')).toMatchObject({ prefix: 'shift_', family: 'adapter', plugin: PLUGIN });
    expect(toolkit.stages.get('lowercase')).toMatchObject({ stage: -990, plugin: PLUGIN });
    const run = toolkit.createRun(config);
    const metrics = await run.fit();
    const out = mkdtempSync(join(tmpdir(), 'lt-e2e-'));
    const saved = await saveRunFolder(run, metrics, out);

    expect(run.context.state.get(PLUGIN)).toEqual(EVERY_HOOK);
    // The method injected its parameter, and it alone trained: the base stayed frozen.
    expect([...run.model!.module.trainableVariables().keys()]).toEqual(['encoder.dense.shift_bias']);
    expect(run.model!.module.getSubmodule('encoder.dense').constructor.name).toBe('ShiftedLayer');
    const shift = run.model!.module.getParameter('encoder.dense.shift_bias').variable;
    expect(Math.max(...Array.from(shift.dataSync()).map(Math.abs))).toBeGreaterThan(0);
    // The stage ran and reported; the two-epoch run evaluated on validation.
    expect(run.dataset!.reports).toEqual([expect.objectContaining({ stage: 'lowercase', plugin: PLUGIN, in: 64, out: 64, dropped: 0 })]);
    expect(metrics).toEqual(expect.objectContaining({ accuracy: expect.any(Number), macro_f1: expect.any(Number), steps: 12 }));
    const stored = loadSafetensors(saved.files.trainable);
    expect([...stored.tensors.keys()]).toEqual(['encoder.dense.shift_bias']);
    expect(Array.from(stored.tensors.get('encoder.dense.shift_bias')!.dataSync())).toEqual(Array.from(shift.dataSync()));
    expect(stored.metadata).toEqual({ model: 'tiny-text', arch: 'tiny', methods: 'shift' });
  });
});

describe('the built CLI, as a user runs it', () => {
  const cwd = mkdtempSync(join(tmpdir(), 'lt-cli-e2e-'));
  const leantune = (...args: string[]) => spawnSync(process.execPath, [cliBin, ...args], { cwd, encoding: 'utf8' });

  beforeAll(() => {
    if (!existsSync(join(repo, 'packages', 'cli', 'dist', 'main.js'))) execFileSync('npx', ['tsc', '-b'], { cwd: repo });
  });

  it('trains with the third-party plugin and writes a run folder', () => {
    const r = leantune('train', '-c', join(fixtures, 'shift.json'), '--override', JSON.stringify({ output: { dir: 'runs' } }));
    expect(r.status).toBe(0);
    const hooks = r.stderr.split('\n').filter((l) => l.startsWith('[acme-shift] hook ')).map((l) => l.slice(18));
    expect(hooks).toEqual(EVERY_HOOK.filter((h) => !h.includes(':') && h !== 'datasetStage'));
    const result = JSON.parse(r.stdout);
    expect(result).toMatchObject({ run: 'acme-shift', model: 'tiny-text', methods: ['shift'] });
    expect(readdirSync(result.dir).sort()).toEqual(['adapters', 'checkpoints', 'config.json', 'data-reports.json', 'environment.json', 'metrics.json', 'metrics.jsonl', 'run.json', 'splits.json', 'trainable.safetensors']);
    // The handle's save wrote the method's own files; the definition's load (found by recognizes) reproduces the run.
    expect(readdirSync(join(result.dir, 'adapters', 'shift')).sort()).toEqual(['shift.safetensors', 'shift_config.json']);
    const viaAdapter = leantune('eval', '-c', join(fixtures, 'shift.json'), '--adapter', join(result.dir, 'adapters', 'shift'), '--json');
    expect(viaAdapter.status).toBe(0);
    expect(JSON.parse(viaAdapter.stdout).metrics.accuracy).toBeCloseTo(result.metrics.accuracy, 6);
    const environment = JSON.parse(readFileSync(join(result.dir, 'environment.json'), 'utf8'));
    expect(environment.backend).toMatchObject({ name: 'cpu', requested: 'cpu' });
    // The run records the code that ran: each plugin's real file and its package from that package's own package.json.
    expect(environment.pluginFiles).toEqual(
      expect.arrayContaining([
        { name: PLUGIN, version: '1.2.0', file: realpathSync(join(repo, 'e2e', 'third-party-plugin', 'index.js')), package: `${PLUGIN}@1.2.0` },
        { name: '@leantune/testing-tiny-model', version: '0.1.0', file: join(fixtures, 'tiny-model.js'), package: '@leantune/e2e@0.1.0' },
      ]),
    );
    expect(r.stderr).toContain('leantune: backend cpu (1 thread)');
    expect(JSON.parse(readFileSync(join(result.dir, 'metrics.json'), 'utf8'))).toEqual(result.metrics);
  });

  it('loads an ES module config', () => {
    const r = leantune('validate', '-c', join(fixtures, 'shift.mjs'));
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(`${join(fixtures, 'shift.mjs')}: valid. Plugins: ${PLUGIN}, @leantune/testing-tiny-model, @leantune/testing-tiny-data; methods: shift; model: tiny-text.\n`);
    expect(r.status).toBe(0);
  });

  it('lists the third-party plugin without a config where the project has it installed, and nowhere else', () => {
    // Inside the monorepo the fixture is installed (a workspace package in its node_modules).
    const inRepo = spawnSync(process.execPath, [cliBin, 'plugins', '--json'], { cwd: __dirname, encoding: 'utf8' });
    expect(inRepo.status).toBe(0);
    expect(JSON.parse(inRepo.stdout).methods).toContainEqual({ id: 'shift', prefix: 'shift_', family: 'adapter', plugin: PLUGIN });
    // A user's project (here a temp folder) does not have it, though the CLI's own workspace does: it is not listed,
    // and a config there cannot enable it; the CLI's own plugins still are.
    const r = leantune('plugins', '--json');
    expect(r.status).toBe(0);
    const listed = JSON.parse(r.stdout);
    expect(listed.plugins.map((p: { name: string }) => p.name)).not.toContain(PLUGIN);
    expect(listed.methods.map((m: { id: string }) => m.id)).toEqual(expect.arrayContaining(['lora', 'ia3']));
    expect(r.stdout).not.toContain('acme');
    writeFileSync(join(cwd, 'acme.json'), JSON.stringify({ plugins: ['@acme/shift'], model: 'tiny-text' }));
    const config = leantune('validate', '-c', 'acme.json');
    expect(config.status).toBe(2);
    expect(config.stderr).toContain('Cannot find plugin "@acme/shift"');
  });

  it('exits 2 on a usage error and 1 on a run failure', () => {
    expect(leantune('frobnicate').status).toBe(2);
    const r = leantune('generate', '-c', join(fixtures, 'shift.json'), '-p', 'hello');
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('is not a decoder language model');
  });
});
