import path from 'node:path';
import { createToolkit } from '@leantune/core';
import { Conv1D, Linear, Module, SafetensorsFile, saveSafetensors, tf } from '@leantune/tensor';
import plugin, { checkpointDir, loadHfCheckpoint, TINY_ARCHS, writeTinyHfCheckpoint } from '../src';
import { record, recordingLogger, tempDir } from './helpers';

test.each(TINY_ARCHS)('%s: module parameter names and shapes are exactly the checkpoint keys', async (arch) => {
  const dir = tempDir(`names-${arch}`);
  writeTinyHfCheckpoint(arch, dir, { layers: 2, gpt2Prefix: true });
  const m = await loadHfCheckpoint(dir, { log: recordingLogger() });
  const st = SafetensorsFile.open(path.join(dir, 'model.safetensors'));
  const fromFile = new Map(st.keys().map((k) => [k, st.info(k).shape]));
  st.close();
  const fromModule = new Map([...m.module.namedParameters()].map(([k, p]) => [k, p.shape]));
  expect([...fromModule.keys()].sort()).toEqual([...fromFile.keys()].sort());
  for (const [k, shape] of fromModule) expect([k, shape]).toEqual([k, fromFile.get(k)]);
  m.module.dispose();
});

test('real checkpoint key spellings resolve, including old gamma/beta LayerNorm names', async () => {
  const dir = tempDir('gamma');
  writeTinyHfCheckpoint('bert', dir);
  const file = path.join(dir, 'model.safetensors');
  const st = SafetensorsFile.open(file);
  const tensors = st.getAll();
  st.close();
  const renamed = new Map([...tensors].map(([k, t]) => [k.replace(/LayerNorm\.weight$/, 'LayerNorm.gamma').replace(/LayerNorm\.bias$/, 'LayerNorm.beta'), t]));
  saveSafetensors(file, renamed);
  const m = await loadHfCheckpoint(dir, { log: recordingLogger() });
  const expected = tensors.get('bert.embeddings.LayerNorm.weight')!.dataSync();
  expect(Array.from(m.module.getParameter('bert.embeddings.LayerNorm.weight').variable.dataSync())).toEqual(Array.from(expected));
  tensors.forEach((t) => t.dispose());
});

test('the modules PEFT methods target by default exist under their transformers names', async () => {
  const targets: Record<string, Array<[string, typeof Linear | typeof Conv1D]>> = {
    bert: [['bert.encoder.layer.0.attention.self.query', Linear], ['bert.encoder.layer.0.attention.self.value', Linear]],
    roberta: [['roberta.encoder.layer.0.attention.self.query', Linear]],
    gpt2: [['transformer.h.0.attn.c_attn', Conv1D], ['transformer.h.0.mlp.c_fc', Conv1D]],
    vit: [['vit.encoder.layer.0.attention.attention.query', Linear], ['vit.encoder.layer.0.attention.attention.value', Linear]],
    clip: [['text_model.encoder.layers.0.self_attn.q_proj', Linear], ['vision_model.encoder.layers.0.self_attn.v_proj', Linear]],
    ...Object.fromEntries(['llama', 'qwen2', 'mistral'].map((arch) => [arch, ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.o_proj', 'mlp.gate_proj', 'mlp.up_proj', 'mlp.down_proj'].map((n): [string, typeof Linear] => [`model.layers.0.${n}`, Linear])])),
  };
  for (const arch of TINY_ARCHS) {
    const dir = tempDir(`targets-${arch}`);
    writeTinyHfCheckpoint(arch, dir);
    const m = await loadHfCheckpoint(dir, { log: recordingLogger() });
    expect(m.arch).toBe(arch);
    for (const [p, cls] of targets[arch]) expect(m.module.getSubmodule(p)).toBeInstanceOf(cls);
    m.module.dispose();
  }
});

test('a module swapped in place is used by the forward (as LoRA injection does)', async () => {
  const dir = tempDir('swap');
  writeTinyHfCheckpoint('bert', dir);
  const m = await loadHfCheckpoint(dir, { log: recordingLogger() });
  const batch = m.encode!([record('a', { text: 'good film' })]);
  const before = m.predict!(batch).dataSync()[0];
  class Zero extends Module {
    forward(x: tf.Tensor): tf.Tensor {
      return tf.zeros([...x.shape.slice(0, -1), 8]);
    }
  }
  m.module.setSubmodule('bert.encoder.layer.0.attention.self.value', new Zero());
  expect(m.predict!(batch).dataSync()[0]).not.toBeCloseTo(before, 5);
});

describe('plugin', () => {
  const dir = tempDir('plugin');
  writeTinyHfCheckpoint('bert', dir);

  test('answers { name: "hf", path } and a folder holding config.json, nothing else', () => {
    expect(checkpointDir({ name: 'hf', path: dir })).toBe(dir);
    expect(checkpointDir({ name: dir })).toBe(dir);
    expect(checkpointDir({ name: 'tiny-text' })).toBeUndefined();
    expect(checkpointDir({ name: path.join(dir, 'nope') })).toBeUndefined();
  });

  test('registers the "hf" model loader through the toolkit', async () => {
    const toolkit = await createToolkit({ plugins: [plugin] });
    const hf = toolkit.models.get('hf')!;
    expect(hf.test({ name: 'hf', path: dir })).toBe(true);
    const log = recordingLogger();
    const model = await hf.load({ name: dir, labels: ['neg', 'pos'] }, { log } as never);
    expect(model.arch).toBe('bert');
    expect(model.labels).toEqual(['neg', 'pos']);
  });
});

describe('freshHead through the plugin', () => {
  test('a new head named by the dataset when the spec names no labels; the checkpoint\'s head and names otherwise', async () => {
    const dir = tempDir('fresh-head');
    writeTinyHfCheckpoint('bert', dir); // two labels: neg, pos
    const hf = (await createToolkit({ plugins: [plugin] })).models.get('hf')!;
    const datasetLabels = async () => ['spam', 'ham'];
    const kept = await hf.load({ name: 'hf', path: dir }, { log: recordingLogger(), datasetLabels } as never);
    expect(kept.labels).toEqual(['neg', 'pos']);
    const log = recordingLogger();
    const fresh = await hf.load({ name: 'hf', path: dir, freshHead: true }, { log, datasetLabels } as never);
    expect(fresh.labels).toEqual(['spam', 'ham']);
    expect(log.warnings.join('\n')).toMatch(/classifier/);
    await expect(hf.load({ name: 'hf', path: dir, freshHead: true }, { log: recordingLogger(), datasetLabels: async () => undefined } as never)).rejects.toThrow(/freshHead needs the new head's labels/);
  });
});

describe('model spec options', () => {
  test('"path" resolves from the config file\'s folder and "maxLength" cuts texts to that many tokens', async () => {
    const root = tempDir('spec-options');
    writeTinyHfCheckpoint('gpt2', path.join(root, 'ckpt'));
    const toolkit = await createToolkit({ plugins: [plugin] });
    const hf = toolkit.models.get('hf')!;
    const log = recordingLogger();
    const model = await hf.load({ name: 'hf', path: 'ckpt', maxLength: 5 }, { log, configDir: root } as never);
    const batch = model.encode!([{ id: 'a', text: 'a long enough text that tokenizes to many tokens', meta: { source: 't', row: 0 } }]);
    expect((batch.inputs as Record<string, { shape: number[] }>).input_ids.shape).toEqual([1, 5]);
    expect(log.warnings[0]).toMatch(/1 of 1 texts are longer than 5 tokens/);
    await expect(hf.load({ name: 'hf', path: 'ckpt', maxLength: 0 }, { log, configDir: root } as never)).rejects.toThrow('model.maxLength must be a positive integer (tokens per text), got 0');
  });
});
