import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, createToolkit, definePlugin, loadConfig, loadConfigFile, parseJsonConfig, SchemaValidator, envelopeSchema, type TrainDriver } from '@leantune/core';

const dir = mkdtempSync(join(tmpdir(), 'lt-config-'));
const write = (name: string, text: string) => {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
};

const loraLike = definePlugin({
  meta: { name: 'fake-lora', version: '1.0.0', core: '^0.1.0' },
  apply(ctx) {
    ctx.methods.register({
      id: 'lora',
      prefix: 'lora_',
      family: 'reparameterization',
      configSchema: {
        type: 'object',
        additionalProperties: false,
        properties: {
          r: { type: 'integer', minimum: 1, default: 8 },
          init: { enum: ['default', 'gaussian', 'pissa'], default: 'default' },
        },
      },
      inject: (m) => m,
    });
    ctx.stages.register({ name: 'clean', stage: -1000, optionsSchema: { type: 'object', properties: { minLength: { type: 'integer' } } }, run: (d) => d });
  },
});

async function secondPassError(text: string): Promise<string> {
  const file = write('c.json', text);
  const source = await loadConfigFile(file);
  const tk = await createToolkit({ plugins: [loraLike] });
  try {
    tk.resolveConfig(source.data, source);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a validation error');
}

describe('config files', () => {
  it('reports a JSON syntax error with its line and column', async () => {
    const file = write('bad.json', '{\n  "model": "tiny-text",\n  "name": "x",,\n}');
    await expect(loadConfigFile(file)).rejects.toThrow(`${file}:3:15: JSON syntax error (PropertyNameExpected). Fix the JSON at that position.`);
  });

  it('rejects a trailing comma and comments in .json (strict JSON)', () => {
    expect(() => parseJsonConfig('{"model": "a",}', 'f.json')).toThrow('f.json:1:15: JSON syntax error (PropertyNameExpected)');
    expect(() => parseJsonConfig('// hi\n{"model": "a"}', 'f.json')).toThrow('f.json:1:1: JSON syntax error (InvalidCommentToken)');
  });

  it('names a missing file and an unsupported extension', async () => {
    await expect(loadConfigFile(join(dir, 'none.json'))).rejects.toThrow(`Config file not found: ${join(dir, 'none.json')}. Pass an existing file with -c <config.json>.`);
    const yaml = write('c.yaml', 'model: x');
    await expect(loadConfigFile(yaml)).rejects.toThrow(`Config file ${yaml} has extension ".yaml"; use .json, .js, .cjs or .mjs.`);
  });

  it('envelope pass: unknown key, enum and type errors carry pointer, line, column and allowed values', async () => {
    const file = write('env.json', '{\n  "model": "tiny-text",\n  "trian": {},\n  "runtime": { "backend": "wasn" },\n  "train": { "epochs": "3" }\n}');
    const source = await loadConfigFile(file);
    let message = '';
    try {
      new SchemaValidator().assert(envelopeSchema(), source.data, source);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message.split('\n')).toEqual([
      `Config is invalid (${file}):`,
      `${file}:3:3: /trian: unknown key "trian". Allowed keys: $schema, name, description, plugins, model, methods, trainable, data, train, runtime, edit, compare, sweep, output. Did you mean "train"?`,
      `${file}:4:27: /runtime/backend: must be one of "auto", "tfjs-node-gpu", "tfjs-node", "native", "wasm", "cpu" (got "wasn"). Did you mean "wasm"?`,
    ]);
  });

  it('an enum that allows null (PEFT\'s init_weights: "zero" or null) reports a bad string, with close strings as hints', () => {
    const schema = { type: 'object', properties: { init_weights: { enum: ['zero', null] } } };
    expect(() => new SchemaValidator().assert(schema, { init_weights: 'zeros' })).toThrow(/\/init_weights: must be one of "zero", null \(got "zeros"\)\. Did you mean "zero"\?/);
  });

  it('envelope pass: a missing required key points at its object', async () => {
    const file = write('req.json', '{ "name": "x" }');
    const source = await loadConfigFile(file);
    expect(() => new SchemaValidator().assert(envelopeSchema(), source.data, source)).toThrow(`${file}:1:1: (root): missing required key "model"`);
  });

  it('second pass: a method config violation names the method field and its line', async () => {
    const message = await secondPassError('{\n  "model": "tiny-text",\n  "methods": {\n    "lora": { "r": 0, "init": "kaiming" }\n  }\n}');
    expect(message.split('\n').slice(1)).toEqual([
      `${join(dir, 'c.json')}:4:20: /methods/lora/r: must be >= 1 (got 0)`,
      `${join(dir, 'c.json')}:4:31: /methods/lora/init: must be one of "default", "gaussian", "pissa" (got "kaiming").`,
    ]);
  });

  it('second pass: an unknown method lists the registered ones', async () => {
    const message = await secondPassError('{ "model": "m", "methods": { "lorra": {} } }');
    expect(message).toContain(`${join(dir, 'c.json')}:1:30: /methods/lorra: unknown key "lorra". Allowed keys: lora. Did you mean "lora"?`);
  });

  it('second pass: dataset stage options are validated against the stage schema', async () => {
    const message = await secondPassError('{ "model": "m", "data": { "name": "d", "stages": { "clean": { "minLength": 1.5 }, "dedup": {} } } }');
    expect(message).toContain('/data/stages/clean/minLength: must be integer (got number 1.5)');
    expect(message).toContain('/data/stages/dedup: unknown key "dedup". Allowed keys: clean.');
  });

  it('second pass: the trainer registers the schema of "train" (its errors and defaults are its own)', async () => {
    const trainer: TrainDriver = {
      fit: async () => ({}),
      configSchema: { type: 'object', additionalProperties: false, properties: { epochs: { type: 'integer', minimum: 1, default: 2 } } },
    };
    const file = write('train.json', '{\n  "model": "tiny-text",\n  "train": { "epochs": "3" }\n}');
    await expect(loadConfig(file, { trainer })).rejects.toThrow(`${file}:3:24: /train/epochs: must be integer (got string "3")`);
    const tk = await createToolkit({ trainer });
    expect(tk.resolveConfig({ model: 'tiny-text' }).train).toEqual({ epochs: 2 });
    // Without a trainer the section is the trainer's business: kept as written, nothing filled in.
    expect((await createToolkit()).resolveConfig({ model: 'tiny-text', train: { anything: 1 } }).train).toEqual({ anything: 1 });
  });

  it('validates a config once: a run of a resolved config does not validate it again', async () => {
    const tk = await createToolkit({ plugins: [loraLike] });
    const config = tk.resolveConfig({ model: 'tiny-text', methods: { lora: {} } });
    const combined = jest.spyOn(tk, 'combinedSchema');
    expect(tk.resolveConfig(config)).toBe(config);
    tk.createRun(config);
    expect(combined).not.toHaveBeenCalled();
    tk.createRun({ model: 'tiny-text' });
    expect(combined).toHaveBeenCalledTimes(1);
  });

  it("second pass: a model loader's optionsSchema checks the model spec, pointing into /model", async () => {
    const loader = definePlugin({
      meta: { name: 'schema-loader', version: '1.0.0', core: '^0.1.0' },
      apply(ctx) {
        ctx.models.register({
          name: 'strict',
          test: (spec) => spec.name === 'strict',
          load: async () => {
            throw new Error('not loaded in this test');
          },
          optionsSchema: { type: 'object', additionalProperties: false, properties: { maxLength: { type: 'integer', minimum: 1, default: 128 } } },
        });
      },
    });
    const tk = await createToolkit({ plugins: [loader] });
    expect(tk.resolveConfig({ model: { name: 'strict' } }).model).toEqual({ name: 'strict', maxLength: 128 });
    expect(() => tk.resolveConfig({ model: { name: 'strict', maxLenght: 64 } })).toThrow(/Model options for loader "strict" \(schema-loader\) is invalid:\n\/model\/maxLenght: unknown key "maxLenght"\. Allowed keys: name, quantize, maxLength\. Did you mean "maxLength"\?/);
    // A spec the loader does not answer is not its business.
    expect(tk.resolveConfig({ model: { name: 'other', maxLenght: 64 } }).model).toEqual({ name: 'other', maxLenght: 64 });
  });

  it('model.quantize is the run\'s: the loader is handed the model options without it (a loader that checks its own options accepts the config)', async () => {
    const seen: unknown[] = [];
    const loader = definePlugin({
      meta: { name: 'own-check-loader', version: '1.0.0', core: '^0.1.0' },
      apply(ctx) {
        ctx.models.register({
          name: 'own-check',
          test: (spec) => spec.name === 'own-check',
          load: async (spec) => {
            seen.push(spec);
            throw new Error('not loaded in this test');
          },
        });
      },
    });
    const tk = await createToolkit({ plugins: [loader] });
    const run = tk.createRun({ model: { name: 'own-check', maxLength: 8, quantize: { type: 'nf4', doubleQuant: true } }, runtime: { backend: 'cpu' } });
    expect(run.config.model.quantize).toEqual({ type: 'nf4', doubleQuant: true });
    await expect(run.loadBaseModel()).rejects.toThrow('not loaded in this test');
    expect(seen).toEqual([{ name: 'own-check', maxLength: 8 }]);
  });

  it('applies defaults from the envelope and from method schemas', async () => {
    const tk = await createToolkit({ plugins: [loraLike] });
    const config = tk.resolveConfig({ model: 'tiny-text', methods: { lora: {} } });
    expect(config.model).toEqual({ name: 'tiny-text' });
    expect(config.methods.lora).toEqual({ r: 8, init: 'default' });
    expect(config.runtime).toEqual({ backend: 'auto', seed: 42 });
    expect(config.output).toEqual({ dir: 'runs' });
  });

  // .mjs needs a real ESM loader, which jest lacks; the CLI e2e test loads one.
  it('loads .js and .cjs configs, including a function export', async () => {
    const cjs = write('a.cjs', 'module.exports = { model: "tiny-text", name: "from-cjs" };');
    const js = write('b.js', 'module.exports = async () => ({ model: "tiny-text", name: "from-js" });');
    expect((await loadConfigFile(cjs)).data).toEqual({ model: 'tiny-text', name: 'from-cjs' });
    expect(((await loadConfigFile(js)).data as { name: string }).name).toBe('from-js');
  });
});

describe('stage options', () => {
  it('fills every enabled stage\'s schema defaults, even for a stage the config does not name', async () => {
    const stagePlugin = definePlugin({
      meta: { name: 'stage-defaults', version: '1.0.0', core: '^0.1.0' },
      apply(ctx) {
        ctx.stages.register({ name: 'dedupe', stage: -1000, optionsSchema: { type: 'object', properties: { threshold: { type: 'number', default: 0.9 } } }, run: (d) => d });
      },
    });
    const tk = await createToolkit({ plugins: [stagePlugin] });
    const config = tk.resolveConfig({ model: 'm', data: { name: 'd' } });
    expect(config.data!.stages).toEqual({ dedupe: { threshold: 0.9 } });
  });
});
