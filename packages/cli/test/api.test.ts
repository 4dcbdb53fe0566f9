import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadSafetensors } from '@leantune/tensor';
import { tempDir } from './helpers';

/** The README's example, run exactly as printed there. */
function readmeExample(): (outDir: string) => Promise<{ metrics: Record<string, number>; dir: string; prediction: { label: string; probabilities: Record<string, number> } }> {
  const readme = readFileSync(join(__dirname, '..', 'README.md'), 'utf8');
  const code = /<!-- api-example -->\n```js\n([\s\S]*?)```/.exec(readme)?.[1];
  if (!code) throw new Error('README.md has no api-example block');
  return new Function('require', `${code}\nreturn example;`)(require);
}

describe('the programmatic API (README example)', () => {
  it('trains, saves a run folder and predicts from it', async () => {
    const out = tempDir('lt-api-');
    const { metrics, dir, prediction } = await readmeExample()(out);
    expect(dir.startsWith(join(out, 'runs'))).toBe(true);
    expect(metrics.steps).toBe(12);
    expect(metrics.accuracy).toBeGreaterThanOrEqual(0);
    // The saved weights are what predict used: the PEFT adapter holds the trained head.
    expect(loadSafetensors(join(dir, 'adapters', 'lora', 'adapter_model.safetensors')).tensors.has('base_model.model.classifier.weight')).toBe(true);
    expect(JSON.parse(readFileSync(join(dir, 'metrics.json'), 'utf8'))).toMatchObject(metrics);
    expect(prediction.probabilities.neg + prediction.probabilities.pos).toBeCloseTo(1, 6);
    expect(prediction.label).toBe(prediction.probabilities.pos > 0.5 ? 'pos' : 'neg');
  }, 20_000);
});
