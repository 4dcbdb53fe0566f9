import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixtures, tempDir } from './helpers';

// What a plugin author meets when something goes wrong, through the built CLI as a user runs it.
const repo = join(__dirname, '..', '..', '..');
const cliBin = join(repo, 'packages', 'cli', 'bin', 'leantune.js');
const cwd = tempDir('lt-authors-');
const leantune = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [cliBin, ...args], { cwd, encoding: 'utf8', env: { ...process.env, LEANTUNE_DEBUG: '', ...env } });

beforeAll(() => {
  if (!existsSync(join(repo, 'packages', 'cli', 'dist', 'main.js'))) execFileSync('npx', ['tsc', '-b'], { cwd: repo });
});

describe('a plugin that throws', () => {
  const plugin = join(cwd, 'boom.js');
  writeFileSync(
    plugin,
    [
      "'use strict';",
      'module.exports = {',
      "  meta: { name: 'boom', version: '1.0.0', core: '*' },",
      '  apply(ctx) {',
      "    if (ctx.options.in === 'apply') throw new Error('kaput in apply');",
      "    ctx.methods.register({ id: 'boom', prefix: 'boom_', family: 'adapter', configSchema: { type: 'object' },",
      "      inject() { throw new Error('kaput in inject'); },",
      '    });',
      '  },',
      '};',
      '',
    ].join('\n'),
  );
  const config = (where: string) => {
    const file = join(cwd, `boom-${where}.json`);
    writeFileSync(file, JSON.stringify({ plugins: [[plugin, { in: where }], join(fixtures, 'tiny-model.js'), join(fixtures, 'tiny-data.js')], model: 'tiny-text', methods: { boom: {} }, data: { name: 'tiny-sentiment' }, runtime: { backend: 'cpu' } }));
    return file;
  };

  it('in apply: the error shows the plugin’s own file:line, and LEANTUNE_DEBUG=1 the whole stack', () => {
    const r = leantune(['validate', '-c', config('apply')]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('Plugin boom@1.0.0 failed in apply(): kaput in apply\n');
    expect(r.stderr).toContain(`${plugin}:5:`);
    const debug = leantune(['validate', '-c', config('apply')], { LEANTUNE_DEBUG: '1' });
    expect(debug.stderr).toMatch(/caused by: Error: kaput in apply\n\s+at .*boom\.js:5:\d+/);
    expect(debug.stderr).toContain('toolkit.js:');
  });

  it('in inject: the error shows the plugin’s own file:line', () => {
    const r = leantune(['train', '-c', config('inject'), '--quiet']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('Method "boom" failed to inject into model "tiny-text": kaput in inject\n');
    expect(r.stderr).toContain(`${plugin}:7:`);
  });
});
