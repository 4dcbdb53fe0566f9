/**
 * Merging into a base quantized with model.quantize (issue 17): dequantize (merge into the
 * fp32 values, write fp32) or requantize (merge, quantize again, report the added error).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, type LoadedModel } from '@leantune/core';
import { Linear, loadSafetensors, quantizeModule, quantizeWeight, tf, type QuantizeSpec } from '@leantune/tensor';
import { mergeTrained, type TrainedModel } from '../src';

/** A Linear base (quantized per spec) and a method whose merge adds `delta` to its weight. */
function setup(spec: QuantizeSpec | undefined) {
  tf.setBackend('cpu');
  const base = new Linear(128, 6, { bias: false });
  base.loadStateDict({ weight: tf.tidy(() => tf.mul(tf.randomNormal([6, 128], 0, 1, 'float32', 4), 0.02)) });
  base.freeze();
  if (spec) quantizeModule(base, spec);
  const delta = tf.tidy(() => tf.mul(tf.randomNormal([6, 128], 0, 1, 'float32', 8), 0.005));
  const handle = {
    trains: () => false,
    mergeAndUnload: () => {
      const w = base.getParameter('weight').variable;
      tf.tidy(() => w.assign(tf.add(w, delta)));
      return base;
    },
  };
  const model: LoadedModel = { name: 'q', arch: 'q', loader: 'test', module: base };
  const trained = {
    model,
    run: { methods: [{ id: 'delta', method: { id: 'delta', family: 'reparameterization' }, handle, from: 'config' }], context: { configDir: '/' } },
    config: { model: { name: 'q', ...(spec ? { quantize: spec } : {}) }, plugins: [] },
    origin: 'test',
    toolkit: {},
  } as unknown as TrainedModel;
  return { base, delta, trained };
}

function written(dir: string): Float32Array {
  const file = loadSafetensors(path.join(dir, 'model.safetensors'));
  const out = file.tensors.get('weight')!.dataSync() as Float32Array;
  for (const t of file.tensors.values()) t.dispose();
  return out;
}

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lt-merge-quant-'));

test.each([['int8'], ['nf4']] as const)('%s base: dequantize writes dequant(W) + ΔW in fp32; requantize writes Q(dequant(W) + ΔW) and reports the error it adds', (type) => {
  const spec: QuantizeSpec = { type, doubleQuant: false };
  const a = setup(spec);
  const expected = tf.tidy(() => tf.add(a.base.getParameter('weight').quantized!.toTensor(), a.delta).dataSync() as Float32Array);
  const deq = mergeTrained(a.trained, path.join(root, `${type}-deq`));
  expect(deq.quantized).toEqual({ mode: 'dequantize', spec, weights: 1 });
  expect(written(deq.dir)).toEqual(expected);
  const record = JSON.parse(fs.readFileSync(path.join(deq.dir, 'leantune-merged.json'), 'utf8'));
  expect(record.model).toEqual({ name: 'q' });

  const b = setup(spec);
  const req = mergeTrained(b.trained, path.join(root, `${type}-req`), { quantized: 'requantize' });
  const merged = tf.tensor2d(expected, [6, 128]);
  const q = quantizeWeight(merged, spec);
  const grid = q.dequantize();
  expect(written(req.dir)).toEqual(grid);
  let d2 = 0;
  let w2 = 0;
  for (let i = 0; i < grid.length; i++) {
    d2 += (grid[i] - expected[i]) ** 2;
    w2 += expected[i] ** 2;
  }
  const error = Math.sqrt(d2 / w2);
  expect(req.quantized?.mode).toBe('requantize');
  expect(req.quantized?.requantize?.relativeError).toBeCloseTo(error, 6);
  expect(req.quantized?.requantize?.worst).toEqual({ path: 'weight', relativeError: req.quantized?.requantize?.relativeError });
  expect(error).toBeGreaterThan(type === 'nf4' ? 0.01 : 1e-4);
  merged.dispose();
});

test('--quantized on a base that is not quantized is refused, naming the option', () => {
  const { trained } = setup(undefined);
  expect(() => mergeTrained(trained, path.join(root, 'plain'), { quantized: 'requantize' })).toThrow(ConfigError);
  expect(() => mergeTrained(setup(undefined).trained, path.join(root, 'plain2'), { quantized: 'dequantize' })).toThrow(/--quantized dequantize: the base of test is not quantized/);
  const plain = mergeTrained(setup(undefined).trained, path.join(root, 'plain3'));
  expect(plain.quantized).toBeUndefined();
});
