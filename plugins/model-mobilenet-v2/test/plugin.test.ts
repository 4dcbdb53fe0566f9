import { createToolkit, type Logger } from '@leantune/core';
import { tinyDataPlugin } from '@leantune/testing';
import mobilenetPlugin, { loadMobileNetV2, parseSpec } from '../src';

const quiet: Logger = { info: () => undefined, warn: () => undefined };

describe('mobilenet-v2 spec', () => {
  it('fills defaults', () => {
    expect(parseSpec({ name: 'mobilenet-v2' })).toEqual({ name: 'mobilenet-v2', inputSize: 224, head: 'mlp', batchNorm: 'frozen' });
  });

  it('rejects bad options with the pointer, the rule and the value', () => {
    expect(() => parseSpec({ name: 'mobilenet-v2', inputSize: 100 })).toThrow(/Model spec "mobilenet-v2" is invalid:\n\/model\/inputSize: must be multiple of 32 \(got 100\)/);
    expect(() => parseSpec({ name: 'mobilenet-v2', head: 'mlpp' })).toThrow(/\/model\/head: must be one of "mlp", "linear" \(got "mlpp"\)\. Did you mean "mlp"\?/);
    expect(() => parseSpec({ name: 'mobilenet-v2', size: 96 })).toThrow(/\/model\/size: unknown key "size"\. Allowed keys: name, labels, numLabels, inputSize, head, batchNorm/);
    expect(() => parseSpec({ name: 'mobilenet-v2', labels: ['a', 'a'] })).toThrow(/\/model\/labels: must NOT have duplicate items/);
    expect(() => parseSpec({ name: 'mobilenet-v2', labels: ['a', 'b'], numLabels: 3 })).toThrow(/numLabels \(3\) disagrees with labels \(2 names\)/);
  });

  it('does not change the caller\'s spec', async () => {
    const spec = { name: 'mobilenet-v2', numLabels: 2, inputSize: 32 };
    const model = await loadMobileNetV2(spec);
    expect(spec).toEqual({ name: 'mobilenet-v2', numLabels: 2, inputSize: 32 });
    model.module.dispose();
  });
});

describe('the mobilenet-v2 plugin', () => {
  it('registers a model loader that a run uses, with labels from the run\'s dataset', async () => {
    const tk = await createToolkit({ plugins: [mobilenetPlugin, tinyDataPlugin], log: quiet });
    expect(tk.models.list().map((l) => [l.name, l.plugin])).toContainEqual(['mobilenet-v2', '@leantune/plugin-mobilenet-v2']);
    const run = tk.createRun({
      model: { name: 'mobilenet-v2', inputSize: 32 },
      data: { name: 'tiny-sentiment' },
      trainable: ['classifier\\..*'],
      runtime: { backend: 'cpu' },
    });
    const model = await run.loadModel();
    try {
      expect(model.arch).toBe('mobilenet-v2');
      expect(model.loader).toBe('mobilenet-v2');
      expect(model.labels).toEqual(['neg', 'pos']);
      expect(model.module.getParameter('classifier.weight').shape).toEqual([2, 128]);
      expect([...model.module.trainableVariables().keys()]).toEqual(['classifier.weight', 'classifier.bias']);
    } finally {
      model.module.dispose();
    }
  });

  it("reports invalid options when the config is resolved (the loader's optionsSchema), before any run exists", async () => {
    const tk = await createToolkit({ plugins: [mobilenetPlugin], log: quiet });
    expect(() => tk.createRun({ model: { name: 'mobilenet-v2', inputSize: 0 }, runtime: { backend: 'cpu' } })).toThrow(
      /Model options for loader "mobilenet-v2" \(@leantune\/plugin-mobilenet-v2\) is invalid:\n\/model\/inputSize: must be >= 32 \(got 0\)/,
    );
  });
});
