import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { cli, onlyRun, tempDir, tinyLora } from './helpers';

// Each method saves its own files into adapters/<id>/ and loads them back through the
// registry (recognized without naming the method): the base + adapter evaluates exactly
// as the run folder does.
describe.each([
  ['ia3', { ia3: {} }, ['adapter_config.json', 'adapter_model.safetensors']],
  ['bitfit', { bitfit: { biases: 'all' } }, ['bitfit_config.json', 'bitfit_model.safetensors']],
])('%s', (id, methods, files) => {
  it('round-trips through its own file format', async () => {
    const cwd = tempDir(`lt-${id}-`);
    const trained = await cli(cwd, ['train', '-c', tinyLora, '--quiet', '--override', JSON.stringify({ methods })]);
    expect(trained.code).toBe(0);
    const dir = onlyRun(cwd);
    expect(readdirSync(join(dir, 'adapters', id)).sort()).toEqual(files);
    const fromRun = JSON.parse((await cli(cwd, ['eval', dir, '--json'])).out);
    const viaAdapter = await cli(cwd, ['eval', '-c', tinyLora, '--adapter', join(dir, 'adapters', id), '--json']);
    expect(viaAdapter.code).toBe(0);
    const report = JSON.parse(viaAdapter.out);
    expect(report.metrics.loss).toBeCloseTo(fromRun.metrics.loss, 6);
    expect(report.confusion).toEqual(fromRun.confusion);
  }, 20_000);
});
