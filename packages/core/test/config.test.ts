import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, createToolkit, definePlugin, loadConfigFile, parseJsonConfig, SchemaValidator, envelopeSchema } from '@leantune/core';

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
      `${file}:3:3: /trian: unknown key "trian". Allowed keys: $schema, name, description, plugins, model, methods, trainable, data, train, runtime, edit, compare, output. Did you mean "train"?`,
      `${file}:5:24: /train/epochs: must be integer (got string "3")`,
      `${file}:4:27: /runtime/backend: must be one of "auto", "tfjs-node-gpu", "tfjs-node", "native", "wasm", "cpu" (got "wasn"). Did you mean "wasm"?`,
    ]);
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

  it('applies defaults from the envelope and from method schemas', async () => {
    const tk = await createToolkit({ plugins: [loraLike] });
    const config = tk.resolveConfig({ model: 'tiny-text', methods: { lora: {} } });
    expect(config.model).toEqual({ name: 'tiny-text' });
    expect(config.methods.lora).toEqual({ r: 8, init: 'default' });
    expect(config.train).toMatchObject({ epochs: 1, batchSize: 16, optimizer: 'adamw', schedule: { type: 'constant', warmupSteps: 0 } });
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
