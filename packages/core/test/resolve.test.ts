import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createToolkit, importPlugin, loadPlugin, pluginNameCandidates, resolvePlugin, shortPluginName } from '@leantune/core';

describe('plugin name resolution (Babel rules)', () => {
  it.each([
    ['lora', ['@leantune/plugin-lora', 'leantune-plugin-lora']],
    ['@leantune/lora', ['@leantune/plugin-lora']],
    ['@leantune/plugin-lora', ['@leantune/plugin-lora']],
    ['@acme/shift', ['@acme/leantune-plugin-shift']],
    ['@acme/leantune-plugin-shift', ['@acme/leantune-plugin-shift']],
    ['@acme', ['@acme/leantune-plugin']],
    ['leantune-plugin-foo', ['leantune-plugin-foo']],
    ['module:some-exact-name', ['some-exact-name']],
  ])('%s → %j', (name, expected) => {
    expect(pluginNameCandidates(name)).toEqual(expected);
  });

  it('turns package names back into the short names configs use', () => {
    expect(shortPluginName('@leantune/plugin-lora')).toBe('lora');
    expect(shortPluginName('leantune-plugin-foo')).toBe('foo');
    expect(shortPluginName('@acme/leantune-plugin-shift')).toBe('@acme/shift');
  });

  describe('on disk', () => {
    const root = mkdtempSync(join(tmpdir(), 'lt-resolve-'));
    const pkg = (name: string, body: string) => {
      const dir = join(root, 'node_modules', name);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, main: 'index.js' }));
      writeFileSync(join(dir, 'index.js'), body);
      return dir;
    };
    const good = (name: string) => `module.exports = { meta: { name: '${name}', version: '1.0.0', core: '^0.1.0' }, apply() {} };`;
    beforeAll(() => {
      pkg('leantune-plugin-shout', good('leantune-plugin-shout'));
      pkg('@acme/leantune-plugin-shift', `exports.default = { meta: { name: '@acme/leantune-plugin-shift', version: '2.0.0', core: '^0.1.0' }, apply() {} };`);
      pkg('not-a-plugin', 'module.exports = { hello: 1 };');
      writeFileSync(join(root, 'local.js'), good('local'));
    });

    it('finds short, scoped, relative and exact names from the config folder', async () => {
      expect(resolvePlugin('shout', root, 'x').file).toBe(join(root, 'node_modules/leantune-plugin-shout/index.js'));
      expect(resolvePlugin('@acme/shift', root, 'x').file).toBe(join(root, 'node_modules/@acme/leantune-plugin-shift/index.js'));
      expect(resolvePlugin('./local.js', root, 'x').file).toBe(join(root, 'local.js'));
      expect(resolvePlugin('./local', root, 'x').file).toBe(join(root, 'local.js'));
      const shift = await importPlugin(resolvePlugin('@acme/shift', root, 'x'), 'x');
      expect(shift.meta.version).toBe('2.0.0');
    });

    it('lists the names tried and suggests close matches when a plugin is missing', () => {
      expect(() => resolvePlugin('shuot', root, 'plugins[0] in c.json')).toThrow(
        `Cannot find plugin "shuot" (plugins[0] in c.json). Tried: @leantune/plugin-shuot, leantune-plugin-shuot from ${root}. Did you mean "shout"? Install it (npm install @leantune/plugin-shuot) or fix the name.`,
      );
      expect(() => resolvePlugin('./nope.js', root, 'plugins[1] in c.json')).toThrow(
        `Cannot find plugin file "./nope.js" (plugins[1] in c.json): ${join(root, 'nope.js')} does not exist. Paths are relative to the config file's folder.`,
      );
    });

    it('refuses a name whose segments would leave node_modules, before requiring anything', () => {
      for (const name of ['shout/../../local', 'module:../local', '@acme/shift/../../../local', 'shout\\..\\x', 'module:C:/x', 'shout//x', 'shout/./x']) {
        expect(() => resolvePlugin(name, root, 'plugins[0] in c.json')).toThrow(`Plugin name "${name}" (plugins[0] in c.json) is not a package name`);
      }
      // A file inside a package is still a package name.
      expect(resolvePlugin('module:leantune-plugin-shout/index.js', root, 'x').file).toBe(join(root, 'node_modules/leantune-plugin-shout/index.js'));
    });

    it('refuses a path outside the config folder unless allowOutside, relative or absolute', () => {
      const project = join(root, 'project');
      mkdirSync(project, { recursive: true });
      for (const request of ['../local.js', join(root, 'local.js')]) {
        expect(() => resolvePlugin(request, project, 'plugins[0] in c.json')).toThrow(
          `Plugin "${request}" (plugins[0] in c.json) resolves to ${join(root, 'local.js')}, outside the config file's folder ${project}.`,
        );
        expect(resolvePlugin(request, project, 'x', { allowOutside: true }).file).toBe(join(root, 'local.js'));
      }
    });

    it('records the file and its package, and warns once when meta.name claims another package', async () => {
      const shout = await loadPlugin('shout', root, 'x');
      expect(shout.origin).toEqual({ file: join(root, 'node_modules/leantune-plugin-shout/index.js'), package: { name: 'leantune-plugin-shout', version: '?', manifest: join(root, 'node_modules/leantune-plugin-shout/package.json') } });
      // A loose file may call itself anything that is not an installed package.
      expect((await loadPlugin('./local.js', root, 'x')).origin?.warning).toBeUndefined();
      writeFileSync(join(root, 'impostor.js'), good('leantune-plugin-shout'));
      const impostor = await loadPlugin('./impostor.js', root, 'plugins[1]');
      expect(impostor.origin?.warning).toContain(`calls itself leantune-plugin-shout (meta.name), but the file that ran is ${join(root, 'impostor.js')}`);
      // A package whose entry calls itself by another name.
      pkg('leantune-plugin-liar', good('@acme/leantune-plugin-shift'));
      const liar = await loadPlugin('liar', root, 'x');
      expect(liar.origin?.warning).toContain('from package leantune-plugin-liar@?');
      const warnings: string[] = [];
      const toolkit = await createToolkit({ log: { info: () => undefined, warn: (m) => warnings.push(m) }, plugins: [impostor] });
      expect(warnings).toEqual([impostor.origin?.warning]);
      expect(toolkit.plugins[0].origin?.file).toBe(join(root, 'impostor.js'));
    });

    it('rejects a module that is not a plugin, naming what is missing', async () => {
      await expect(importPlugin(resolvePlugin('module:not-a-plugin', root, 'x'), 'plugins[2]')).rejects.toThrow(
        `Module ${join(root, 'node_modules/not-a-plugin/index.js')} (plugin "module:not-a-plugin", plugins[2]) is not a leantune plugin: meta is missing; apply must be a function.`,
      );
    });
  });
});
