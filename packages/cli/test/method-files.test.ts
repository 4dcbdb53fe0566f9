import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadSafetensors, readSafetensorsHeader, saveSafetensors } from '@leantune/tensor';
import { join } from 'node:path';
import { cli, localConfig, fixtures, onlyRun, tempDir, tinyLora } from './helpers';

// Each method saves its own files into adapters/<id>/ and loads them back through the
// registry (recognized without naming the method): the base + adapter evaluates exactly
// as the run folder does.
describe.each([
  ['ia3', { ia3: {} }, ['adapter_config.json', 'adapter_model.safetensors']],
  ['bitfit', { bitfit: { biases: 'all' } }, ['bitfit_config.json', 'bitfit_model.safetensors']],
])('%s', (id, methods, files) => {
  it('round-trips through its own file format', async () => {
    const cwd = tempDir(`lt-${id}-`);
    const trained = await cli(cwd, ['train', '-c', localConfig(cwd), '--quiet', '--override', JSON.stringify({ methods })]);
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

// A head trained through the run's `trainable` patterns belongs to no method: it travels in
// each adapter folder as modules_to_save (PEFT's layout), so base + adapter evaluates as the
// run did. Before, the folder lacked it and the reloaded head was the fresh random one.
describe.each([
  ['lora', { lora: { r: 4, lora_alpha: 8 } }],
  ['ia3', { ia3: {} }],
  ['adapter', { adapter: {} }],
  ['bitfit', { bitfit: { biases: 'all' } }],
])('%s with a head trained through "trainable"', (id, methods) => {
  it('saves the head with the adapter and restores it on load', async () => {
    const cwd = tempDir(`lt-head-${id}-`);
    const override = JSON.stringify({ methods, trainable: ['classifier\\..*'] });
    const trained = await cli(cwd, ['train', '-c', localConfig(cwd), '--quiet', '--override', override]);
    expect(trained.code).toBe(0);
    const dir = onlyRun(cwd);
    const adapterDir = join(dir, 'adapters', id);
    const files = readdirSync(adapterDir);
    if (files.includes('adapter_config.json')) {
      const config = JSON.parse(readFileSync(join(adapterDir, 'adapter_config.json'), 'utf8'));
      expect(config.modules_to_save).toEqual(['classifier']);
      expect(config.task_type).toBe('SEQ_CLS');
      const keys = [...readSafetensorsHeader(join(adapterDir, 'adapter_model.safetensors')).tensors.keys()];
      expect(keys).toEqual(expect.arrayContaining(['base_model.model.classifier.weight', 'base_model.model.classifier.bias']));
    } else {
      expect(files).toContain('modules_to_save.safetensors');
    }
    const fromRun = JSON.parse((await cli(cwd, ['eval', dir, '--json'])).out);
    const viaAdapter = await cli(cwd, ['eval', '-c', tinyLora, '--adapter', adapterDir, '--json']);
    expect(viaAdapter.code).toBe(0);
    expect(viaAdapter.err).not.toMatch(/newly initialised/);
    const report = JSON.parse(viaAdapter.out);
    expect(report.metrics.loss).toBeCloseTo(fromRun.metrics.loss, 6);
    expect(report.confusion).toEqual(fromRun.confusion);
  }, 30_000);
});

describe('an adapter without the head it was trained with', () => {
  it('warns, naming each freshly initialised parameter', async () => {
    const cwd = tempDir('lt-head-missing-');
    const override = JSON.stringify({ methods: { ia3: {} }, trainable: ['classifier\\..*'] });
    expect((await cli(cwd, ['train', '-c', localConfig(cwd), '--quiet', '--override', override])).code).toBe(0);
    const adapterDir = join(onlyRun(cwd), 'adapters', 'ia3');
    // What adapters looked like before heads travelled with them (or one written by a tool that drops them).
    const configFile = join(adapterDir, 'adapter_config.json');
    writeFileSync(configFile, JSON.stringify({ ...JSON.parse(readFileSync(configFile, 'utf8')), modules_to_save: null }));
    const weightsFile = join(adapterDir, 'adapter_model.safetensors');
    const { tensors } = loadSafetensors(weightsFile);
    saveSafetensors(weightsFile, new Map([...tensors].filter(([k]) => !k.includes('classifier'))));
    const viaAdapter = await cli(cwd, ['eval', '-c', tinyLora, '--adapter', adapterDir, '--json']);
    expect(viaAdapter.code).toBe(0);
    expect(viaAdapter.err).toMatch(/2 parameters are newly initialised and no adapter restored them: classifier\.weight, classifier\.bias/);
  }, 30_000);

  it('refuses a head of another size, naming the tensor, and changes nothing', async () => {
    const cwd = tempDir('lt-head-shape-');
    const override = JSON.stringify({ methods: { ia3: {} }, trainable: ['classifier\\..*'] });
    expect((await cli(cwd, ['train', '-c', localConfig(cwd), '--quiet', '--override', override])).code).toBe(0);
    const adapterDir = join(onlyRun(cwd), 'adapters', 'ia3');
    const base = JSON.parse(readFileSync(tinyLora, 'utf8'));
    const threeLabels = join(cwd, 'three-labels.json');
    const plugins = base.plugins.map((p: string) => (p.startsWith('./') ? { name: join(fixtures, p), allowOutside: true } : p));
    writeFileSync(threeLabels, JSON.stringify({ ...base, plugins, model: { name: 'tiny-text', labels: ['a', 'b', 'c'] } }));
    const viaAdapter = await cli(cwd, ['eval', '-c', threeLabels, '--adapter', adapterDir, '--json']);
    expect(viaAdapter.code).not.toBe(0);
    expect(viaAdapter.err).toMatch(/modules_to_save: tensor "classifier\.weight" has shape \[2,16\], the model needs \[3,16\]/);
  }, 30_000);
});
