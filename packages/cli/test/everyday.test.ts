import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeTinyHfCheckpoint } from '@leantune/plugin-hf';
import { cli, fixtures, jsonLines, localConfig, onlyRun, tempDir } from './helpers';

// Issue 18, item 7: the smaller things a user meets on the everyday path.
const cliManifest = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8'));

describe('the everyday path', () => {
  it('leantune --version prints the CLI\'s version', async () => {
    for (const flag of ['--version', '-V']) {
      const r = await cli(tempDir('lt-version-'), [flag]);
      expect(r.code).toBe(0);
      expect(r.out).toMatch(new RegExp(`^${cliManifest.version.replace(/\./g, '\\.')} \\(@leantune/core \\d+\\.\\d+\\.\\d+, node v\\d+`));
    }
  });

  it('prints the run folder on its own line when training starts, also with --quiet', async () => {
    const cwd = tempDir('lt-folder-');
    const r = await cli(cwd, ['train', '-c', localConfig(cwd), '--quiet']);
    expect(r.code).toBe(0);
    const dir = onlyRun(cwd);
    expect(r.err.split('\n')).toContain(`run folder: ${dir}`);
    // stdout stays one JSON line.
    expect(JSON.parse(r.out).dir).toBe(dir);
  }, 30_000);

  it('output.dir resolves from the config file\'s folder, not the current one; --override output from the current one', async () => {
    const cwd = tempDir('lt-output-');
    const project = join(cwd, 'project', 'configs');
    mkdirSync(project, { recursive: true });
    const config = localConfig(project);
    const r = await cli(cwd, ['train', '-c', config, '--quiet', '--override', JSON.stringify({ train: { epochs: 1, batchSize: 8, learningRate: 0.05 } })]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out).dir.startsWith(join(project, 'runs'))).toBe(true);
    expect(existsSync(join(cwd, 'runs'))).toBe(false);
    const given = await cli(cwd, ['train', '-c', config, '--quiet', '--override', JSON.stringify({ train: { epochs: 1, batchSize: 8, learningRate: 0.05 }, output: { dir: 'here' } })]);
    expect(given.code).toBe(0);
    expect(JSON.parse(given.out).dir.startsWith(join(cwd, 'here'))).toBe(true);
  }, 30_000);

  it('counts truncated texts over the whole run: one warning at the first, the total in a closing warning and the summary', async () => {
    const cwd = tempDir('lt-trunc-');
    const bert = join(cwd, 'bert');
    writeTinyHfCheckpoint('bert', bert);
    const config = join(cwd, 'bert.json');
    // Every text is [CLS] word word [SEP]: 4 tokens, cut to 3; tiny-sentiment's 64 records hold 16 distinct texts.
    writeFileSync(
      config,
      JSON.stringify({
        name: 'trunc',
        plugins: ['hf', { name: join(fixtures, 'tiny-data.js'), allowOutside: true }, 'lora'],
        model: { name: 'hf', path: bert, maxLength: 3 },
        methods: { lora: { r: 2 } },
        trainable: ['classifier\\..*'],
        data: { name: 'tiny-sentiment', count: 64 },
        train: { epochs: 2, batchSize: 8, learningRate: 0.01 },
        runtime: { backend: 'cpu' },
      }),
    );
    const r = await cli(cwd, ['train', '-c', config, '--quiet']);
    expect(r.code).toBe(0);
    const warnings = r.err.split('\n').filter((l) => l.startsWith('warning: ') && l.includes('truncated'));
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatch(/8 of 8 texts are longer than 3 tokens .*\(later batches are counted, not reported one by one; the run's summary gives the total\)/);
    expect(warnings[1]).toBe('warning: bert: 16 of 16 texts were truncated to 3 tokens over the run (longest 4 tokens); raise model.maxLength to keep more of them');
    expect(JSON.parse(r.out).truncated).toEqual({ texts: 16, of: 16, maxLength: 3, longest: 4 });
  }, 60_000);
});
