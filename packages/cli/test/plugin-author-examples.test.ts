import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '@leantune/core';
import { tf } from '@leantune/tensor';
import { cli, jsonLines, tempDir } from './helpers';

// The README's "Writing a plugin" examples are these files: each is loaded through one config
// and run (train, eval from the saved adapter, merge), and the README must quote them exactly.
const repo = join(__dirname, '..', '..', '..');
const examples = join(repo, 'examples', 'plugin-authors');
const config = join(examples, 'leantune.json');
const cwd = tempDir('lt-author-examples-');
const quiet = { info: () => undefined, warn: () => undefined };

/** A copy of the config in the temp folder (runs and the report go there), loading the example files. */
function localCopy(): string {
  const data = JSON.parse(readFileSync(config, 'utf8'));
  data.plugins = data.plugins.map((p: string | [string, object]) =>
    Array.isArray(p)
      ? { name: join(examples, p[0]), options: { file: join(cwd, 'report.jsonl') }, allowOutside: true }
      : p.startsWith('./')
        ? { name: join(examples, p), allowOutside: true }
        : p,
  );
  const file = join(cwd, 'leantune.json');
  writeFileSync(file, JSON.stringify(data));
  return file;
}

describe('the plugin-author examples', () => {
  it('are quoted exactly in the README', () => {
    const readme = readFileSync(join(repo, 'README.md'), 'utf8');
    for (const name of readdirSync(examples).sort()) {
      const quoted = new RegExp(`<!-- examples/plugin-authors/${name.replace('.', '\\.')} -->\\n\`\`\`(?:js|json)\\n([\\s\\S]*?)\`\`\`\\n`).exec(readme);
      expect({ name, quoted: quoted?.[1] }).toEqual({ name, quoted: readFileSync(join(examples, name), 'utf8') });
    }
  });

  let run = '';
  let metrics: Record<string, number> = {};

  it('train through one config: model and dataset loaders, the stage in STAGE order, the method, the reporter', async () => {
    const r = await cli(cwd, ['train', '-c', localCopy(), '--quiet']);
    expect(r.code).toBe(0);
    ({ dir: run, metrics } = JSON.parse(r.out));
    expect(metrics.steps).toBeGreaterThan(0);
    const reports = JSON.parse(readFileSync(join(run, 'data-reports.json'), 'utf8'));
    expect(reports.map((s: { stage: string }) => s.stage)).toEqual(['dedupe', 'split']);
    expect(reports[0]).toMatchObject({ in: 80, out: 72, dropped: 8, dropReasons: { duplicate: 8 } });
    const events = jsonLines(readFileSync(join(cwd, 'report.jsonl'), 'utf8'));
    expect(events.filter((e) => e.type === 'step')).toHaveLength(metrics.steps);
    expect(events.filter((e) => e.type === 'epoch').map((e) => e.epoch)).toEqual([0, 1]); // epochs count from 0
    expect(events.at(-1)).toMatchObject({ type: 'final', run: 'plugin-authors', metrics: { accuracy: metrics.accuracy } });
    expect(readdirSync(join(run, 'adapters', 'scale'))).toEqual(expect.arrayContaining(['scale.safetensors', 'scale_config.json']));
  }, 60_000);

  it('evaluate from the saved adapter (recognizes, load) to the run’s own metrics', async () => {
    const r = await cli(cwd, ['eval', '-c', join(cwd, 'leantune.json'), '--adapter', join(run, 'adapters', 'scale'), '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out).metrics.accuracy).toBeCloseTo(metrics.accuracy, 6);
  }, 60_000);

  it('merge folds the gains into the base weights: same outputs, no wrapper left', async () => {
    const { toolkit, config: resolved, configDir } = await loadConfig(join(cwd, 'leantune.json'), { log: quiet });
    const runObj = toolkit.createRun(resolved, { configDir });
    const model = await runObj.loadModel();
    const paths = [...model.module.namedParameters()].map(([p]) => p);
    expect(paths).toEqual(expect.arrayContaining(['hidden.scale_gain', 'hidden.base_layer.weight']));
    expect([...model.module.trainableVariables().keys()].sort()).toEqual(['classifier.bias', 'classifier.weight', 'hidden.scale_gain']);
    model.module.getParameter('hidden.scale_gain').variable.assign(tf.randomUniform([16], 0.5, 1.5, 'float32', 3));
    const batch = model.encode!(await runObj.loadData().then((d) => d.records.slice(0, 8)));
    const before = model.predict!(batch).arraySync() as number[][];
    // Through the handle the run owns (as `leantune merge` does).
    runObj.methods.find((m) => m.id === 'scale')!.handle.mergeAndUnload!();
    expect([...model.module.namedParameters()].map(([p]) => p).sort()).toEqual(['classifier.bias', 'classifier.weight', 'hidden.bias', 'hidden.weight']);
    const after = model.predict!(batch).arraySync() as number[][];
    after.forEach((row, i) => row.forEach((v, j) => expect(v).toBeCloseTo(before[i][j], 5)));
  });
});
