import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createToolkit, definePlugin, type CommandDefinition } from '@leantune/core';
import { cli, tempDir } from './helpers';

const dir = tempDir('lt-plugin-commands-');
/** stderr without the warnings about installed packages that fail to load (listed with help and unknown commands). */
const errors = (err: string) => err.replace(/^warning: skipped .*\n/gm, '');

/** A plugin module in `dir` whose apply registers the given commands (source text of objects). */
function pluginFile(file: string, name: string, commands: string[]): string {
  writeFileSync(join(dir, file), `module.exports = { meta: { name: '${name}', version: '1.0.0', core: '*' }, apply(ctx) { ${commands.map((c) => `ctx.commands.register(${c});`).join(' ')} } };`);
  return `./${file}`;
}

function config(file: string, plugins: string[]): string {
  const path = join(dir, file);
  writeFileSync(path, JSON.stringify({ name: file.replace('.json', ''), plugins, model: 'x' }));
  return path;
}

const hello = `{
  name: 'hello',
  description: 'Greets someone by name.',
  arguments: [{ name: 'who', description: 'whom to greet', required: true }],
  options: [
    { name: 'times', short: 't', value: 'n', type: 'number', default: 1, description: 'how often' },
    { name: 'shout', type: 'boolean', description: 'upper case' },
  ],
  config: { description: 'config with the greeting plugin' },
  examples: ['leantune hello world -t 2'],
  run(args, io) {
    const text = 'hello ' + args.who;
    for (let i = 0; i < args.times; i++) io.out((args.shout ? text.toUpperCase() : text) + ' from ' + io.config.config.name + ' in ' + io.cwd + '\\n');
    return args.who === 'nobody' ? 4 : undefined;
  },
}`;
const dataCount = `{ name: 'data count', description: 'Counts records.', config: {}, run(args, io) { io.out('0\\n'); } }`;

describe('plugin commands (ctx.commands.register)', () => {
  const greet = config('greet.json', [pluginFile('greet.js', 'acme-greet', [hello, dataCount])]);

  it('a third-party plugin\'s commands appear in help with the plugin named, and run with their arguments and the loaded config', async () => {
    const top = await cli(dir, ['--help', '-c', greet]);
    expect(top.code).toBe(0);
    expect(top.out).toMatch(/hello \[options\] <who>\s+Greets someone by name\. \(plugin acme-greet\)/);
    const data = await cli(dir, ['data', '--help', '-c', greet]);
    expect(data.out).toMatch(/count \[options\]\s+Counts records\. \(plugin acme-greet\)/);
    // The data plugins installed beside the CLI stay listed with their plugin.
    expect(data.out).toMatch(/pack \[options\]\s+Write the config's dataset[\s\S]*?\(plugin @leantune\/plugin-data-compress\)/);
    expect(data.out).toMatch(/drift \[options\]\s+Compare new data[\s\S]*?\(plugin\s+@leantune\/plugin-data-monitor\)/);
    const own = await cli(dir, ['hello', '--help', '-c', greet]);
    expect(own.out).toContain('-t, --times <n>');
    expect(own.out).toContain('--shout');
    expect(own.out).toContain('Example:\n  leantune hello world -t 2');
    expect(own.out).toContain('From plugin acme-greet.');

    const ran = await cli(dir, ['hello', 'world', '-t', '2', '--shout', '-c', greet]);
    expect(ran).toEqual({ code: 0, err: '', out: `HELLO WORLD from greet in ${dir}\n`.repeat(2) });
    expect((await cli(dir, ['data', 'count', '-c', greet])).out).toBe('0\n');
  });

  it('the exit code run returns is the command\'s; a bad number is a usage error naming the option', async () => {
    expect((await cli(dir, ['hello', 'nobody', '-c', greet])).code).toBe(4);
    const bad = await cli(dir, ['hello', 'x', '-t', 'many', '-c', greet]);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('--times must be a number, got "many"');
  });

  it('a duplicate command is refused, naming both plugins', async () => {
    const file = config('dup.json', [pluginFile('one.js', 'acme-one', [hello]), pluginFile('two.js', 'acme-two', [hello])]);
    const r = await cli(dir, ['hello', 'x', '-c', file]);
    expect(r).toMatchObject({ code: 2, out: '' });
    expect(r.err).toBe('leantune: Duplicate command "hello": registered by acme-one and again by acme-two. Enable only one of them, or rename one command.\n');
  });

  it('a command clashing with a built-in one, under no group, or of the wrong shape is refused naming the plugin', async () => {
    const clash = config('clash.json', [pluginFile('clash.js', 'acme-clash', [`{ name: 'train', description: 'x', run() {} }`])]);
    expect((await cli(dir, ['data', '--help', '-c', clash])).err).toBe(
      'leantune: Plugin acme-clash registers command "train", which is a built-in command of leantune. Rename the plugin\'s command.\n',
    );
    const nogroup = config('nogroup.json', [pluginFile('nogroup.js', 'acme-nogroup', [`{ name: 'model pull', description: 'x', run() {} }`])]);
    const r = await cli(dir, ['--help', '-c', nogroup]);
    expect(r.code).toBe(2);
    expect(r.err).toContain('Plugin acme-nogroup registers command "model pull", but "model" is not a command group (groups: data)');
    const shape = config('shape.json', [pluginFile('shape.js', 'acme-shape', [`{ name: 'Data  Pack', options: [{ name: 'x', type: 'int' }] }`])]);
    const s = await cli(dir, ['--help', '-c', shape]);
    expect(s.code).toBe(2);
    expect(s.err).toContain('Command "Data  Pack" from plugin acme-shape is not valid: name must be lower-case words separated by single spaces');
    expect(s.err).toContain('run(args, io) must be a function; options[0].description must be a string; options[0].type must be one of string, number, boolean');
  });

  it('a mistyped command names the plugin that provides the close one, and whether the config enables it', async () => {
    const r = await cli(dir, ['data', 'pak', '-c', greet]);
    expect(r.code).toBe(2);
    expect(errors(r.err)).toBe(`leantune: Unknown command "leantune data pak". Did you mean "leantune data pack" (plugin @leantune/plugin-data-compress; installed, not enabled in ${greet})?\n`);
    const plain = await cli(dir, ['pul', 'gpt2']);
    expect(errors(plain.err)).toBe('leantune: Unknown command "leantune pul". Did you mean "leantune pull" (plugin @leantune/plugin-hf)?\n');
  });

  it('io.loadDataset without -c: a spec no default-config loader answers goes to an installed plugin\'s loader (data drift between packs)', async () => {
    const shift = join(__dirname, '..', '..', '..', 'e2e', 'tests', 'test', 'fixtures', 'shift.json');
    expect((await cli(dir, ['data', 'pack', '-c', shift, '-o', 'drift-pack'])).code).toBe(0);
    const pack = JSON.stringify({ name: 'pack', path: 'drift-pack' });
    const r = await cli(dir, ['data', 'drift', '--reference', pack, '--current', pack]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('Recommendation: no action.');
  });

  it('registrations are checked in the toolkit too: a plain plugin object, duplicates named by both plugins', async () => {
    const command: CommandDefinition = { name: 'data hello', description: 'd', run: () => 0 };
    const a = definePlugin({ meta: { name: 'a', version: '1.0.0', core: '*' }, apply: (ctx) => ctx.commands.register(command) });
    const b = definePlugin({ meta: { name: 'b', version: '1.0.0', core: '*' }, apply: (ctx) => ctx.commands.register(command) });
    const toolkit = await createToolkit({ plugins: [a] });
    expect(toolkit.commands.list()).toEqual([{ ...command, plugin: 'a' }]);
    await expect(createToolkit({ plugins: [a, b] })).rejects.toThrow('Duplicate command "data hello": registered by a and again by b');
  });
});
