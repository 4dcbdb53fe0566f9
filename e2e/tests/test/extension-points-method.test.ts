/**
 * A third-party method (e2e/third-party-plugin's "acme-prompt") built on two model extension
 * points: virtual tokens at the input embeddings and a tap on the last layer's hidden states.
 * Through the CLI on a Hub-layout BERT checkpoint: it trains only its tokens (and the head the
 * config makes trainable), the tap reports every epoch, its files reload through its handle to
 * the same metrics, merge refuses with its reason, and a model without the points fails
 * validation naming both.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTinyHfCheckpoint } from '@leantune/plugin-hf';
import { loadSafetensors } from '@leantune/tensor';

const repo = join(__dirname, '..', '..', '..');
const cliBin = join(repo, 'packages', 'cli', 'bin', 'leantune.js');
const fixtures = join(__dirname, 'fixtures');

describe('a third-party prompt method on two extension points (virtual tokens + hidden-state tap)', () => {
  const cwd = mkdtempSync(join(tmpdir(), 'lt-points-e2e-'));
  const leantune = (...args: string[]) => spawnSync(process.execPath, [cliBin, ...args], { cwd, encoding: 'utf8' });
  const checkpoint = join(cwd, 'tiny-bert');
  const config = join(cwd, 'prompt.json');
  let run = '';
  let metrics: Record<string, number> = {};

  beforeAll(() => {
    writeTinyHfCheckpoint('bert', checkpoint, { layers: 2, seed: 5 });
    writeFileSync(
      config,
      JSON.stringify({
        name: 'acme-prompt',
        plugins: [{ name: join(repo, 'e2e', 'third-party-plugin', 'index.js'), allowOutside: true }, '@leantune/plugin-hf', { name: join(fixtures, 'tiny-data.js'), allowOutside: true }],
        model: { name: 'hf', path: 'tiny-bert' },
        methods: { 'acme-prompt': { num_virtual_tokens: 4 } },
        trainable: ['classifier\\..*'],
        data: { name: 'tiny-sentiment' },
        train: { epochs: 2, batchSize: 8, learningRate: 0.05 },
        runtime: { backend: 'cpu', seed: 3 },
        output: { dir: 'runs' },
      }),
    );
  });

  it('trains its virtual tokens and the head only, with the tap reporting the last layer every epoch', () => {
    const r = leantune('train', '-c', config);
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.status).toBe(0);
    ({ dir: run, metrics } = JSON.parse(r.stdout));
    // 4 virtual tokens of the model's width before every input; the tap saw [batch, 4 + [CLS] + tokens + [SEP], width].
    const width = JSON.parse(readFileSync(join(checkpoint, 'config.json'), 'utf8')).hidden_size as number;
    const taps = r.stderr.split('\n').filter((l) => l.startsWith('[acme-prompt]'));
    expect(taps).toHaveLength(2);
    taps.forEach((line, epoch) => {
      const m = /^\[acme-prompt\] epoch (\d): layer 1 output \[(\d+),(\d+),(\d+)\], virtual-token mean \|h\| (\d+\.\d{4}) \((\d+) passes\)$/.exec(line);
      expect(m).not.toBeNull();
      const [, e, batch, length, dim, meanAbs] = m!;
      expect([Number(e), Number(dim)]).toEqual([epoch, width]);
      expect(Number(batch)).toBeLessThanOrEqual(8);
      expect(Number(length)).toBeGreaterThanOrEqual(4 + 3);
      expect(Number(meanAbs)).toBeGreaterThan(0);
    });
    const trained = loadSafetensors(join(run, 'trainable.safetensors')).tensors;
    expect([...trained.keys()].sort()).toEqual(['acme_prompt.embeddings', 'classifier.bias', 'classifier.weight']);
    expect(trained.get('acme_prompt.embeddings')!.shape).toEqual([4, width]);
    expect(readdirSync(join(run, 'adapters', 'acme-prompt')).sort()).toEqual(['acme_prompt.safetensors', 'acme_prompt_config.json', 'modules_to_save.safetensors']);
  }, 120_000);

  it('reloads from its own files through its handle (recognizes + load) to the run’s metrics', () => {
    const r = leantune('eval', '-c', config, '--adapter', join(run, 'adapters', 'acme-prompt'), '--json');
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout).metrics.accuracy).toBeCloseTo(metrics.accuracy, 6);
    expect(JSON.parse(r.stdout).metrics.macro_f1).toBeCloseTo(metrics.macro_f1, 6);
  }, 60_000);

  it('merge refuses with the handle’s reason and writes nothing', () => {
    const r = leantune('merge', run, '-o', 'merged');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('Cannot merge method "acme-prompt"');
    expect(r.stderr).toContain('adds learned tokens to every input; there is no weight to fold them into');
    expect(existsSync(join(cwd, 'merged'))).toBe(false);
  }, 60_000);

  it('on a model without the extension points, fails before any run folder, naming the method and what is missing', () => {
    const tiny = join(cwd, 'tiny.json');
    writeFileSync(
      tiny,
      JSON.stringify({
        plugins: [{ name: join(repo, 'e2e', 'third-party-plugin', 'index.js'), allowOutside: true }, { name: join(fixtures, 'tiny-model.js'), allowOutside: true }, { name: join(fixtures, 'tiny-data.js'), allowOutside: true }],
        model: 'tiny-text',
        methods: { 'acme-prompt': {} },
        data: { name: 'tiny-sentiment' },
        runtime: { backend: 'cpu' },
        output: { dir: 'tiny-runs' },
      }),
    );
    const r = leantune('train', '-c', tiny);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('method "acme-prompt" (@acme/leantune-plugin-shift) needs the model extension points inputEmbeddings, hiddenStates, which model "tiny-text"');
    expect(existsSync(join(cwd, 'tiny-runs'))).toBe(false);
  }, 60_000);
});
