/**
 * `leantune train -c` with VPT (deep) on a Hub-layout tiny ViT: the loss falls, only the
 * prompts and the head the config makes trainable are saved, the adapter folder reloads
 * through `eval --adapter` to the run's metrics and through `predict --adapter` to the run's
 * probabilities, and `merge` refuses with VPT's reason.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTinyHfCheckpoint } from '@leantune/plugin-hf';
import { loadSafetensors } from '@leantune/tensor';
import { leantune, writeNpy } from './fixtures/cli';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const images = require('./fixtures/tiny-images.js');

describe('leantune train -c with VPT on a tiny ViT', () => {
  const cwd = mkdtempSync(join(tmpdir(), 'lt-vpt-cli-'));
  const config = join(cwd, 'vpt.json');
  let run = '';
  let metrics: Record<string, number> = {};

  beforeAll(() => {
    writeTinyHfCheckpoint('vit', join(cwd, 'tiny-vit'), { layers: 2, seed: 61 });
    writeFileSync(
      config,
      JSON.stringify({
        name: 'vpt-deep',
        plugins: ['hf', 'vpt', { name: join(__dirname, 'fixtures', 'tiny-images.js'), allowOutside: true }],
        model: { name: 'hf', path: 'tiny-vit' },
        methods: { vpt: { mode: 'deep', num_prompts: 4 } },
        trainable: ['classifier\\..*'],
        data: { name: 'tiny-images', count: 48 },
        train: { epochs: 6, batchSize: 12, learningRate: 0.05 },
        runtime: { backend: 'cpu', seed: 3 },
        output: { dir: 'runs' },
      }),
    );
  });

  it('trains: the loss of the last epoch is below the first, and the adapter folder is VPT\'s with the head as modules_to_save', async () => {
    const r = await leantune(cwd, 'train', '-c', config, '--quiet');
    expect(r.code).toBe(0);
    ({ dir: run, metrics } = JSON.parse(r.out));
    const lines = readFileSync(join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const losses = lines.filter((l) => l.type === 'step').map((l) => l.loss as number);
    expect(losses).toHaveLength(18);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const [first, last] = [mean(losses.slice(0, 3)), mean(losses.slice(-3))];
    process.stdout.write(`vpt deep CLI run: loss ${first.toFixed(3)} → ${last.toFixed(3)}, accuracy ${metrics.accuracy}\n`);
    expect(last).toBeLessThan(first * 0.9);
    // The head travels in the PEFT folder as modules_to_save, as PEFT saves it.
    const folder = join(run, 'adapters', 'vpt');
    expect(readdirSync(folder).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    expect(JSON.parse(readFileSync(join(folder, 'adapter_config.json'), 'utf8'))).toMatchObject({ peft_type: 'VPT', mode: 'deep', num_virtual_tokens: 4, num_prompt_layers: 2, modules_to_save: ['classifier'] });
    const { tensors } = loadSafetensors(join(folder, 'adapter_model.safetensors'));
    expect([...tensors.keys()].sort()).toEqual(['base_model.model.classifier.bias', 'base_model.model.classifier.weight', 'prompt_embeddings']);
    expect(tensors.get('prompt_embeddings')!.shape).toEqual([8, 8]);
  }, 120_000);

  it('eval --adapter reloads the folder to the run\'s metrics', async () => {
    const r = await leantune(cwd, 'eval', '-c', config, '--adapter', join(run, 'adapters', 'vpt'), '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out).metrics.accuracy).toBeCloseTo(metrics.accuracy, 6);
  }, 60_000);

  it('predict gives the same probabilities from the run folder and from the adapter folder (--adapter vpt:<folder>)', async () => {
    const files = images.tinyImages(3).map((r: { image: { data: Uint8Array } }, i: number) => writeNpy(join(cwd, `img${i}.npy`), r.image.data, [8, 8, 3]));
    const args = files.flatMap((f: string) => ['--image', f]);
    const fromRun = await leantune(cwd, 'predict', run, ...args);
    expect(fromRun.code).toBe(0);
    const viaAdapter = await leantune(cwd, 'predict', '-c', config, '--adapter', `vpt:${join(run, 'adapters', 'vpt')}`, ...args);
    expect(viaAdapter.code).toBe(0);
    const [a, b] = [fromRun, viaAdapter].map((r) => r.out.trim().split('\n').map((l) => JSON.parse(l)));
    expect(a).toHaveLength(3);
    a.forEach((p: { label: string; probabilities: Record<string, number> }, i: number) => {
      expect(Object.keys(p.probabilities)).toEqual(['cat', 'dog', 'bird']);
      expect(b[i].label).toBe(p.label);
      for (const k of ['cat', 'dog', 'bird']) expect(b[i].probabilities[k]).toBeCloseTo(p.probabilities[k], 6);
    });
  }, 60_000);

  it('merge refuses: prompts do not fold into weights', async () => {
    const r = await leantune(cwd, 'merge', run, '-o', 'merged');
    expect(r.code).toBe(2);
    expect(r.err).toContain('Cannot merge method "vpt"');
    expect(r.err).toContain('there is no weight to fold them into');
    expect(existsSync(join(cwd, 'merged'))).toBe(false);
  }, 60_000);
});
