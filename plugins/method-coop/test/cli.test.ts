/**
 * `leantune train -c` with CoOp on a Hub-layout tiny CLIP: the loss falls, the adapter folder
 * is CoOp's, `eval --adapter` and `predict --adapter` reproduce the run, `merge` refuses.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTinyHfCheckpoint } from '@leantune/plugin-hf';
import { leantune, writeNpy } from '../../method-vpt/test/fixtures/cli';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const images = require('../../method-vpt/test/fixtures/tiny-images.js');

describe('leantune train -c with CoOp on a tiny CLIP', () => {
  const cwd = mkdtempSync(join(tmpdir(), 'lt-coop-cli-'));
  const config = join(cwd, 'coop.json');
  let run = '';
  let metrics: Record<string, number> = {};

  beforeAll(() => {
    writeTinyHfCheckpoint('clip', join(cwd, 'tiny-clip'), { layers: 2, seed: 61 });
    writeFileSync(
      config,
      JSON.stringify({
        name: 'coop',
        plugins: ['hf', 'coop', { name: join(__dirname, '..', '..', 'method-vpt', 'test', 'fixtures', 'tiny-images.js'), allowOutside: true }],
        model: { name: 'hf', path: 'tiny-clip', labels: ['cat', 'dog', 'bird'] },
        methods: { coop: { ctx_init: 'a photo of a', class_token_position: 'end' } },
        data: { name: 'tiny-images', count: 48 },
        train: { epochs: 4, batchSize: 12, learningRate: 0.05 },
        runtime: { backend: 'cpu', seed: 3 },
        output: { dir: 'runs' },
      }),
    );
  });

  it('trains the context: the loss of the last steps is below the first, and the folder is CoOp\'s', async () => {
    const r = await leantune(cwd, 'train', '-c', config, '--quiet');
    expect(r.code).toBe(0);
    ({ dir: run, metrics } = JSON.parse(r.out));
    const losses = readFileSync(join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((l) => l.type === 'step').map((l) => l.loss as number);
    expect(losses).toHaveLength(12);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const [first, last] = [mean(losses.slice(0, 3)), mean(losses.slice(-3))];
    process.stdout.write(`coop CLI run: loss ${first.toFixed(3)} → ${last.toFixed(3)}, accuracy ${metrics.accuracy}\n`);
    expect(last).toBeLessThan(first * 0.9);
    const folder = join(run, 'adapters', 'coop');
    expect(readdirSync(folder).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    expect(JSON.parse(readFileSync(join(folder, 'adapter_config.json'), 'utf8'))).toMatchObject({ peft_type: 'COOP', n_ctx: 4, ctx_init: 'a photo of a', csc: false, class_names: ['cat', 'dog', 'bird'] });
  }, 120_000);

  it('eval --adapter and predict --adapter reproduce the run', async () => {
    const folder = join(run, 'adapters', 'coop');
    const e = await leantune(cwd, 'eval', '-c', config, '--adapter', folder, '--json');
    expect(e.code).toBe(0);
    expect(JSON.parse(e.out).metrics.accuracy).toBeCloseTo(metrics.accuracy, 6);
    const files = images.tinyImages(3).map((r: { image: { data: Uint8Array } }, i: number) => writeNpy(join(cwd, `img${i}.npy`), r.image.data, [8, 8, 3]));
    const args = files.flatMap((f: string) => ['--image', f]);
    const a = await leantune(cwd, 'predict', run, ...args);
    const b = await leantune(cwd, 'predict', '-c', config, '--adapter', `coop:${folder}`, ...args);
    expect([a.code, b.code]).toEqual([0, 0]);
    const [pa, pb] = [a, b].map((r) => r.out.trim().split('\n').map((l) => JSON.parse(l)));
    pa.forEach((p: { probabilities: Record<string, number> }, i: number) => {
      for (const k of ['cat', 'dog', 'bird']) expect(pb[i].probabilities[k]).toBeCloseTo(p.probabilities[k], 6);
    });
  }, 60_000);

  it('merge refuses: the context does not fold into weights', async () => {
    const r = await leantune(cwd, 'merge', run, '-o', 'merged');
    expect(r.code).toBe(2);
    expect(r.err).toContain('Cannot merge method "coop"');
    expect(r.err).toContain('there is no weight to fold it into');
    expect(existsSync(join(cwd, 'merged'))).toBe(false);
  }, 60_000);
});
