import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hostileCase, runCli, scratch, type ChildRun } from '../harness';

// Issue 19, parts 4 and 6: a plugin name cannot run a file outside node_modules, a path
// outside the config's folder needs allowOutside, the file that ran is shown, and numeric
// options and model names are bounded at `validate` time.

const SUITE = 'plugins-and-options';

/** A plugin file that leaves `marker` behind when it is executed at all. */
function pluginSource(marker: string, name: string, model?: string): string {
  const loader = model
    ? `ctx.models.register({ name: ${JSON.stringify(model)}, models: [${JSON.stringify(model)}], test: (s) => s.name === ${JSON.stringify(model)}, load: () => { throw new Error('not loaded in these cases'); } });`
    : '';
  return [
    `require('node:fs').writeFileSync(${JSON.stringify(marker)}, 'executed');`,
    `module.exports = { meta: { name: ${JSON.stringify(name)}, version: '1.0.0', core: '*' }, apply(ctx) { ${loader} } };`,
  ].join('\n');
}

function writeConfig(dir: string, config: Record<string, unknown>): string {
  const file = join(dir, 'leantune.json');
  writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

const exit = (code: number) => (r: ChildRun) => (r.code === code ? undefined : `exit ${r.code}, expected ${code}`);

describe('reliability: plugins and options', () => {
  it('refuses a bare plugin name that climbs out of node_modules, without executing what it would land on', async () => {
    const dir = scratch('bare-dotdot');
    const marker = join(dir, 'EXECUTED');
    // `lora/../../x` → leantune-plugin-lora/../../x → <dir>/node_modules/../x = <dir>/x.js (and node_modules/x.js for the scoped form).
    mkdirSync(join(dir, 'node_modules'), { recursive: true });
    writeFileSync(join(dir, 'x.js'), pluginSource(marker, 'x', 'use-lite'));
    writeFileSync(join(dir, 'node_modules', 'x.js'), pluginSource(marker, 'x', 'use-lite'));
    const config = writeConfig(dir, { plugins: ['lora/../../x'], model: 'use-lite' });
    await hostileCase(SUITE, 'bare name lora/../../x', () => runCli(['validate', '-c', config], { cwd: dir }), (r) => {
      if (existsSync(marker)) return 'the file the name landed on was executed';
      if (r.code !== 2) return `exit ${r.code}, expected 2 (config error)`;
      if (!/plugins\[0\]/.test(r.stderr) || !r.stderr.includes('lora/../../x')) return 'the error does not name the entry';
      if (!/allowOutside|\.\/|relative path/.test(r.stderr)) return 'the error does not say how to name a file instead';
      return undefined;
    });
  });

  it('refuses a relative plugin path outside the config folder unless the entry says allowOutside: true', async () => {
    const root = scratch('outside');
    const dir = join(root, 'project');
    mkdirSync(dir);
    const marker = join(root, 'EXECUTED');
    writeFileSync(join(root, 'outside.js'), pluginSource(marker, 'leantune-plugin-outside', 'outside-model'));
    const refused = writeConfig(dir, { plugins: ['../outside.js'], model: 'outside-model' });
    await hostileCase(SUITE, 'relative path outside the config folder', () => runCli(['validate', '-c', refused], { cwd: root }), (r) => {
      if (existsSync(marker)) return 'the outside file was executed';
      if (r.code !== 2) return `exit ${r.code}, expected 2`;
      if (!r.stderr.includes('../outside.js') || !r.stderr.includes('allowOutside')) return 'the error does not name the entry and the allowOutside fix';
      return undefined;
    });
    const allowed = writeConfig(dir, { plugins: [{ name: '../outside.js', allowOutside: true }], model: 'outside-model' });
    await hostileCase(SUITE, 'relative path outside, allowOutside: true', () => runCli(['validate', '-c', allowed], { cwd: root }), (r) => {
      if (r.code !== 0) return `exit ${r.code}, expected 0`;
      if (!existsSync(marker)) return 'the allowed plugin was not loaded';
      return undefined;
    });
  });

  it('warns when a file claims another package name, and `leantune plugins` shows the file that ran', async () => {
    const dir = scratch('impostor');
    const marker = join(dir, 'EXECUTED');
    const file = join(dir, 'impostor.js');
    writeFileSync(file, pluginSource(marker, '@leantune/plugin-lora', 'use-lite'));
    const config = writeConfig(dir, { plugins: ['./impostor.js'], model: 'use-lite' });
    await hostileCase(SUITE, "a file claiming meta.name '@leantune/plugin-lora'", () => runCli(['plugins', '-c', config], { cwd: dir }), (r) => {
      if (r.code !== 0) return `exit ${r.code}, expected 0`;
      const warnings = r.stderr.split('\n').filter((l) => l.startsWith('warning:') && l.includes('@leantune/plugin-lora'));
      if (warnings.length !== 1) return `expected one warning about the claimed name, got ${warnings.length}`;
      if (!warnings[0].includes(file)) return 'the warning does not name the file';
      if (!r.stdout.includes(file)) return '`leantune plugins` does not show the file that was loaded';
      return undefined;
    });
  });

  it('refuses lora.r: 1e308 in validate, naming /methods/lora/r', async () => {
    const dir = scratch('lora-r');
    const config = writeConfig(dir, { plugins: ['use-lite', 'lora'], model: 'use-lite', methods: { lora: { r: 1e308 } } });
    await hostileCase(SUITE, 'lora.r: 1e308', () => runCli(['validate', '-c', config], { cwd: dir }), (r) => {
      const bad = exit(2)(r);
      if (bad) return bad;
      if (!r.stderr.includes('/methods/lora/r')) return 'the error does not name /methods/lora/r';
      return undefined;
    });
  });

  it('refuses an unknown model in validate, listing the known ones', async () => {
    const dir = scratch('model');
    const config = writeConfig(dir, { plugins: ['use-lite', 'lora'], model: 'no-such-model' });
    await hostileCase(SUITE, 'unknown model name', () => runCli(['validate', '-c', config], { cwd: dir }), (r) => {
      const bad = exit(2)(r);
      if (bad) return bad;
      if (!r.stderr.includes('no-such-model') || !r.stderr.includes('use-lite')) return 'the error does not name the model and the known ones';
      return undefined;
    });
  });
});
