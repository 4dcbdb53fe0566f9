/**
 * `leantune train -c` with hard-prompt on a tiny Hub-layout CLIP evaluates without a step and
 * writes the templates into the run's adapter folder; `eval --adapter` reproduces the metrics.
 */
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTinyHfCheckpoint } from '@leantune/plugin-hf';
import { leantune } from '../../method-vpt/test/fixtures/cli';

it('train -c evaluates zero-shot with the ensembled templates; eval --adapter reproduces it from hard_prompt.json', async () => {
  const cwd = mkdtempSync(join(tmpdir(), 'lt-hard-prompt-cli-'));
  writeTinyHfCheckpoint('clip', join(cwd, 'tiny-clip'), { layers: 2, seed: 61 });
  const config = join(cwd, 'zero-shot.json');
  const templates = ['a photo of a {}.', 'a low resolution photo of the {}.'];
  writeFileSync(
    config,
    JSON.stringify({
      name: 'zero-shot',
      plugins: ['hf', 'hard-prompt', { name: join(__dirname, '..', '..', 'method-vpt', 'test', 'fixtures', 'tiny-images.js'), allowOutside: true }],
      model: { name: 'hf', path: 'tiny-clip', labels: ['cat', 'dog', 'bird'] },
      methods: { 'hard-prompt': { templates } },
      data: { name: 'tiny-images', count: 48 },
      train: { epochs: 1, batchSize: 8 },
      runtime: { backend: 'cpu', seed: 3 },
      output: { dir: 'runs' },
    }),
  );
  const r = await leantune(cwd, 'train', '-c', config, '--quiet');
  expect(r.code).toBe(0);
  const { dir, metrics } = JSON.parse(r.out);
  expect(typeof metrics.accuracy).toBe('number');
  const folder = join(dir, 'adapters', 'hard-prompt');
  expect(readdirSync(folder)).toEqual(['hard_prompt.json']);
  expect(JSON.parse(readFileSync(join(folder, 'hard_prompt.json'), 'utf8'))).toMatchObject({ templates, class_names: ['cat', 'dog', 'bird'] });
  const e = await leantune(cwd, 'eval', '-c', config, '--adapter', folder, '--json');
  expect(e.code).toBe(0);
  expect(JSON.parse(e.out).metrics.accuracy).toBeCloseTo(metrics.accuracy, 6);
  expect(JSON.parse(e.out).metrics.loss).toBeCloseTo(metrics.loss, 5);
}, 120_000);
