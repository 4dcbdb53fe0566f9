import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ADAPTER_CONFIG_NAME, ADAPTER_WEIGHTS_NAME, adapterFolderFiles, assignFloat32, closestHint, doesNotFitError, peftConfigHeader, planForConfig, readJsonConfig, safetensorsShapes, tensorFitProblems, withSafetensors, writeAdapterFolder } from '@leantune/peft';
import { loadSafetensors, tf } from '@leantune/tensor';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lt-adapter-files-'));
let n = 0;
const freshDir = () => path.join(root, `d${++n}`);

beforeAll(async () => {
  await tf.setBackend('cpu');
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

describe('adapter folder files', () => {
  it('writes PEFT-named files: weights with format pt, config as indented JSON with a final newline', () => {
    const dir = freshDir();
    const w = tf.tensor2d([[1, 2], [3, 4]]);
    expect(writeAdapterFolder(dir, new Map([['base_model.model.fc.lora_A.weight', w]]), { peft_type: 'LORA', r: 2 })).toBe(dir);
    expect(fs.readFileSync(path.join(dir, ADAPTER_CONFIG_NAME), 'utf8')).toBe('{\n  "peft_type": "LORA",\n  "r": 2\n}\n');
    const { tensors, metadata } = loadSafetensors(path.join(dir, ADAPTER_WEIGHTS_NAME));
    expect(metadata).toEqual({ format: 'pt' });
    expect(Array.from(tensors.get('base_model.model.fc.lora_A.weight')!.dataSync())).toEqual([1, 2, 3, 4]);
    tf.dispose([w, ...tensors.values()]);
    const other = freshDir();
    const b = tf.tensor1d([5]);
    writeAdapterFolder(other, new Map([['bias', b]]), {}, { config: 'c.json', weights: 'w.safetensors' });
    expect(fs.readdirSync(other).sort()).toEqual(['c.json', 'w.safetensors']);
    expect(safetensorsShapes(path.join(other, 'w.safetensors'))).toEqual(new Map([['bias', [1]]]));
    b.dispose();
  });

  it('starts a config with PEFT\'s common fields, in PEFT\'s order', () => {
    expect(JSON.stringify(peftConfigHeader('IA3', { taskType: 'SEQ_CLS' }))).toBe(
      '{"peft_type":"IA3","task_type":"SEQ_CLS","base_model_name_or_path":null,"revision":null,"inference_mode":true,"auto_mapping":null,"peft_version":"0.18.0"}',
    );
    expect(peftConfigHeader('LORA', { baseModelNameOrPath: 'gpt2' }).base_model_name_or_path).toBe('gpt2');
  });

  it('names the missing file and what a folder holds', () => {
    const dir = freshDir();
    fs.mkdirSync(dir);
    expect(() => adapterFolderFiles(dir, 'IA3 adapter')).toThrow(
      `Cannot load IA3 adapter: ${path.join(dir, ADAPTER_CONFIG_NAME)} does not exist (a PEFT adapter folder holds adapter_config.json and adapter_model.safetensors)`,
    );
    fs.writeFileSync(path.join(dir, ADAPTER_CONFIG_NAME), '{}');
    expect(() => adapterFolderFiles(dir, 'adapter', 'an adapter folder')).toThrow(
      `Cannot load adapter: ${path.join(dir, ADAPTER_WEIGHTS_NAME)} does not exist (an adapter folder holds adapter_config.json and adapter_model.safetensors)`,
    );
    fs.writeFileSync(path.join(dir, ADAPTER_WEIGHTS_NAME), '');
    expect(adapterFolderFiles(dir, 'x')).toEqual({ configFile: path.join(dir, ADAPTER_CONFIG_NAME), weightsFile: path.join(dir, ADAPTER_WEIGHTS_NAME) });
  });

  it('reads a JSON config, naming the file when it is not JSON', () => {
    const file = path.join(root, 'config.json');
    fs.writeFileSync(file, '{"r": 8}');
    expect(readJsonConfig(file)).toEqual({ r: 8 });
    fs.writeFileSync(file, '{"r": 8');
    expect(() => readJsonConfig(file)).toThrow(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: not valid JSON \\(.+\\)$`));
  });

  it('says which config does not fit the model, keeping the cause', () => {
    expect(planForConfig('a/adapter_config.json', () => 42)).toBe(42);
    const cause = new Error('target_modules ["q"] matched no module');
    let caught: Error | undefined;
    try {
      planForConfig('a/adapter_config.json', () => {
        throw cause;
      });
    } catch (err) {
      caught = err as Error;
    }
    expect(caught?.message).toBe('a/adapter_config.json does not fit this model: target_modules ["q"] matched no module');
    expect(caught?.cause).toBe(cause);
  });
});

describe('tensor fit checks', () => {
  it('lists missing keys, wrong shapes and unexpected keys, each with the closest name', () => {
    const expected = new Map([
      ['m.h.0.lora_A.weight', [2, 4]],
      ['m.h.0.lora_B.weight', [4, 2]],
      ['m.h.1.lora_A.weight', [2, 4]],
    ]);
    const inFile = new Map([
      ['m.h.0.lora_A.weight', [2, 4]],
      ['m.h.0.lora_B.weight', [4, 3]],
      ['m.h.1.lora_a.weight', [2, 4]],
      ['unrelated', [1]],
    ]);
    expect(tensorFitProblems(expected, inFile)).toEqual([
      'tensor "m.h.0.lora_B.weight" has shape [4,3], the model needs [4,2]',
      'missing tensor "m.h.1.lora_A.weight" (closest: "m.h.1.lora_a.weight")',
      'unexpected tensor "m.h.1.lora_a.weight" (closest: "m.h.1.lora_A.weight")',
      'unexpected tensor "unrelated"',
    ]);
    expect(tensorFitProblems(expected, new Map(expected))).toEqual([]);
    expect(closestHint('bias', ['bias_', 'weight', 'bia'])).toBe(' (closest: "bia", "bias_")');
    expect(closestHint('bias', [])).toBe('');
  });

  it('shows the first 12 problems, counting the rest only when asked', () => {
    const problems = Array.from({ length: 14 }, (_, i) => `p${i}`);
    const twelve = problems.slice(0, 12).join('\n- ');
    expect(doesNotFitError('w.safetensors', problems).message).toBe(`w.safetensors does not fit this model:\n- ${twelve}`);
    expect(doesNotFitError('w.safetensors', problems, { countRest: true, note: 'another size?' }).message).toBe(
      `w.safetensors does not fit this model (another size?):\n- ${twelve}\n- … 2 more`,
    );
    expect(doesNotFitError('w.safetensors', ['only'], { countRest: true }).message).toBe('w.safetensors does not fit this model:\n- only');
  });
});

describe('loading tensors', () => {
  it('frees the loaded tensors after use, also when use throws, and assigns with a float32 cast', () => {
    const dir = freshDir();
    const saved = tf.tensor1d([7, 8], 'int32');
    writeAdapterFolder(dir, new Map([['v', saved]]), {});
    saved.dispose();
    const file = path.join(dir, ADAPTER_WEIGHTS_NAME);
    const target = tf.variable(tf.zeros([2]));
    const before = tf.memory().numTensors;
    const keys = withSafetensors(file, (tensors) => {
      assignFloat32(target, tensors.get('v')!);
      return [...tensors.keys()];
    });
    expect(keys).toEqual(['v']);
    expect(target.dtype).toBe('float32');
    expect(Array.from(target.dataSync())).toEqual([7, 8]);
    expect(() =>
      withSafetensors(file, () => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(tf.memory().numTensors).toBe(before);
    target.dispose();
  });
});
