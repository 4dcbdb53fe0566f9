import { createToolkit, definePlugin, PluginError, RegistryError, STAGE, type Plugin, type TrainDriver } from '@leantune/core';
import { tinyDataPlugin, tinyModelPlugin } from '@leantune/testing';
import { Linear, Module, tf } from '@leantune/tensor';

const plugin = (name: string, extra: Partial<Plugin> = {}): Plugin => ({
  meta: { name, version: '1.0.0', core: '^0.1.0' },
  apply: () => {},
  ...extra,
});

/** Wraps a Linear and adds a `shift_bias` parameter: enough to see injection and selection. */
class Shifted extends Module {
  constructor(readonly base: Module, dim: number) {
    super();
    this.addModule('base_layer', base);
    this.addParameter('shift_bias', tf.zeros([dim]));
  }
  forward(x: tf.Tensor) {
    return tf.add(this.child<Module>('base_layer')!.forward(x) as tf.Tensor, this.param('shift_bias'));
  }
}

describe('Toolkit', () => {
  beforeAll(() => tf.setBackend('cpu'));

  it('calls every hook point of a run in order, with stages ordered by number', async () => {
    const calls: string[] = [];
    const recorder = definePlugin({
      meta: { name: 'recorder', version: '1.0.0', core: '^0.1.0' },
      apply(ctx) {
        ctx.methods.register({
          id: 'shift',
          prefix: 'shift_',
          family: 'adapter',
          configSchema: { type: 'object' },
          inject(model, config, mctx) {
            calls.push(`inject:${mctx.arch}`);
            const dense = model.module.getSubmodule('encoder.dense');
            model.module.setSubmodule('encoder.dense', new Shifted(dense, (dense as Linear).outFeatures));
            return { config, trains: (path) => path.endsWith('shift_bias') };
          },
        });
        // Registered out of order on purpose: the run must still follow the numbers.
        ctx.stages.register({ name: 'encode-ish', stage: STAGE.ENCODE, run: (d, _o, rctx) => (calls.push(`stage:encode (model ${rctx.model?.name})`), d) });
        ctx.stages.register({ name: 'clean-ish', stage: STAGE.CLEAN, run: (d) => (calls.push('stage:clean'), d) });
        ctx.stages.register({ name: 'third-party', stage: STAGE.CLEAN + 1, run: (d) => (calls.push('stage:clean+1'), d) });
        ctx.hooks.run.tap('recorder', (run) => {
          run.hooks.modelLoaded.tapPromise('recorder', async (m) => void calls.push(`modelLoaded:${m.name}`));
          run.hooks.selectTrainable.tap('recorder', (set) => (calls.push(`selectTrainable:${[...set].join(',')}`), set));
          run.hooks.beforeTrain.tapPromise('recorder', async () => void calls.push('beforeTrain'));
          run.hooks.beforeStep.tap('recorder', () => void calls.push('beforeStep'));
          run.hooks.afterStep.tap('recorder', (logs) => void calls.push(`afterStep:${logs.step}`));
          run.hooks.afterEpoch.tapPromise('recorder', async () => void calls.push('afterEpoch'));
          run.hooks.afterTrain.tapPromise('recorder', async () => void calls.push('afterTrain'));
          run.hooks.evaluate.tapPromise('recorder', async (m) => (calls.push('evaluate'), { ...m, seen: 1 }));
          run.hooks.save.tapPromise('recorder', async () => void calls.push('save'));
        });
      },
    });
    const driver: TrainDriver = {
      async fit(run, model) {
        const state = { run: run.context, model, epoch: 0, step: 0, stopRequested: false };
        await run.hooks.beforeTrain.promise(state);
        run.hooks.beforeStep.call(state);
        run.hooks.afterStep.call({ step: 1, epoch: 0, loss: 1, lr: 0.1 }, state);
        await run.hooks.afterEpoch.promise({ epoch: 0, trainLoss: 1 }, state);
        await run.hooks.afterTrain.promise(state);
        return { accuracy: 0.5 };
      },
    };
    const tk = await createToolkit({ plugins: [tinyModelPlugin, tinyDataPlugin, recorder], trainer: driver });
    const run = tk.createRun({ model: 'tiny-text', methods: { shift: {} }, data: { name: 'tiny-sentiment' }, runtime: { backend: 'cpu' } });
    const metrics = await run.fit();
    await run.save({ dir: '/nowhere', files: {} });
    expect(metrics).toEqual({ accuracy: 0.5, seen: 1 });
    expect(calls).toEqual([
      // The documented order: the base model, the dataset stages (ENCODE with the model in
      // context, for its tokenizer), then the methods' inject and the trainable selection.
      'modelLoaded:tiny-text',
      'stage:clean',
      'stage:clean+1',
      'stage:encode (model tiny-text)',
      'inject:tiny',
      'selectTrainable:encoder.dense.shift_bias',
      'beforeTrain',
      'beforeStep',
      'afterStep:1',
      'afterEpoch',
      'afterTrain',
      'evaluate',
      'save',
    ]);
    // Frozen by default: only the method's parameter trains, the base stays frozen.
    expect([...run.model!.module.trainableVariables().keys()]).toEqual(['encoder.dense.shift_bias']);
    expect(run.model!.loader).toBe('tiny-text');
  });

  it('refuses a method that needs an extension point the model lacks, naming both, before anything is injected', async () => {
    const needy = definePlugin({
      meta: { name: 'needy', version: '1.0.0', core: '^0.1.0' },
      apply(ctx) {
        ctx.methods.register({
          id: 'needs-embeddings',
          family: 'prompt',
          requires: ['textTokenEmbeddings'],
          configSchema: { type: 'object' },
          inject: () => {
            throw new Error('inject must not be called');
          },
        });
      },
    });
    const tk = await createToolkit({ plugins: [tinyModelPlugin, needy] });
    const run = tk.createRun({ model: 'tiny-text', methods: { 'needs-embeddings': {} }, runtime: { backend: 'cpu' } });
    await expect(run.loadModel()).rejects.toThrow(
      /\/methods\/needs-embeddings: method "needs-embeddings" \(needy\) needs the model extension point textTokenEmbeddings, which model "tiny-text" \(loader tiny-text, arch tiny\) does not provide/,
    );
  });

  it('unfreezes explicit trainable patterns, and warns about a pattern that matches nothing', async () => {
    const warnings: string[] = [];
    const tk = await createToolkit({ plugins: [tinyModelPlugin], log: { info: () => {}, warn: (m) => warnings.push(m) } });
    const run = tk.createRun({ model: 'tiny-text', trainable: ['classifier\\..*', 'nothing\\.here'], runtime: { backend: 'cpu' } });
    const model = await run.loadModel();
    expect([...model.module.trainableVariables().keys()]).toEqual(['classifier.weight', 'classifier.bias']);
    expect(warnings).toEqual(['/trainable/1: pattern "nothing\\.here" matches no parameter']);
  });

  it('fails an unknown model, listing the loaders asked and close names', async () => {
    const tk = await createToolkit({ plugins: [tinyModelPlugin] });
    await expect(tk.createRun({ model: 'tiny-txt', runtime: { backend: 'cpu' } }).loadModel()).rejects.toThrow(
      'No model loader recognised model "tiny-txt". Loaders asked: tiny-text. Did you mean "tiny-text"?',
    );
  });

  it('rejects a plugin built for another core version', async () => {
    await expect(createToolkit({ plugins: [plugin('old', { meta: { name: 'old', version: '3.1.0', core: '^2.0.0' } })] })).rejects.toThrow(
      new PluginError('Plugin old@3.1.0 requires @leantune/core ^2.0.0, but this is @leantune/core 0.1.0. Install a version of old built for core 0.1.0, or a matching core.'),
    );
  });

  it('wraps an exception thrown in apply with the plugin name', async () => {
    const broken = plugin('broken', { apply: () => { throw new Error('boom'); } });
    const err = await createToolkit({ plugins: [broken] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PluginError);
    expect((err as PluginError).message).toMatch(/^Plugin broken@1\.0\.0 failed in apply\(\): boom\n {4}at .*toolkit\.test\.ts:\d+:\d+\)?$/);
    expect((err as PluginError).exitCode).toBe(2);
  });

  it('surfaces a duplicate method id from two plugins', async () => {
    const m = { id: 'dup', prefix: 'a_', family: 'selective' as const, configSchema: {}, inject: (x: Module) => x };
    const a = plugin('a', { apply: (ctx) => ctx.methods.register(m) });
    const b = plugin('b', { apply: (ctx) => ctx.methods.register({ ...m, prefix: 'b_' }) });
    await expect(createToolkit({ plugins: [a, b] })).rejects.toThrow(RegistryError);
  });

  it('applies plugins in dependency order and checks dependency ranges', async () => {
    const order: string[] = [];
    const base = plugin('base', { apply: () => void order.push('base') });
    const ext = plugin('ext', { dependencies: { base: '^1.0.0' }, apply: () => void order.push('ext') });
    await createToolkit({ plugins: [ext, base] });
    expect(order).toEqual(['base', 'ext']);
    await expect(createToolkit({ plugins: [plugin('ext2', { dependencies: { base: '^2.0.0' } }), base] })).rejects.toThrow(
      'Plugin ext2 needs base ^2.0.0, but base@1.0.0 is enabled.',
    );
    await expect(createToolkit({ plugins: [ext] })).rejects.toThrow('Plugin ext depends on base, which is not enabled. Add "base" to the plugins list.');
    const x = plugin('x', { dependencies: { y: '*' } });
    const y = plugin('y', { dependencies: { x: '*' } });
    await expect(createToolkit({ plugins: [x, y] })).rejects.toThrow('Plugin dependency cycle: x → y → x');
    await expect(createToolkit({ plugins: [base, base] })).rejects.toThrow('Plugin base is enabled twice; list it once.');
  });

  it('validates plugin options before apply, with defaults applied', async () => {
    let seen: unknown;
    const opt = plugin('opt', {
      optionsSchema: { type: 'object', properties: { k: { type: 'integer', default: 3 } }, additionalProperties: false },
      apply: (ctx) => void (seen = ctx.options),
    });
    await createToolkit({ plugins: [opt] });
    expect(seen).toEqual({ k: 3 });
    await expect(createToolkit({ plugins: [[opt, { k: 'x' }]] })).rejects.toThrow('Options of plugin opt is invalid:\n/k: must be integer (got string "x")');
  });
});
