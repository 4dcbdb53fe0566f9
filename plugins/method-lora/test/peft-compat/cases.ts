import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { loadHfCheckpoint, writeTinyHfCheckpoint } from '@leantune/plugin-hf';
import { createMobileNetV2 } from '@leantune/plugin-mobilenet-v2';
import { Conv2d, LayerNorm, saveSafetensors, setSeed, tf, type Module } from '@leantune/tensor';
import { LoraConv2d, LoraEmbedding } from '../../src';
import { randn } from '@leantune/testing';
import { maxAbsDiff, quietLog as quiet, tempDir } from '@leantune/testing';

/**
 * The PEFT compatibility suite's driver: write_peft_adapter.py (NumPy, an independent
 * re-implementation of PEFT 0.18.0's save path and layer math) writes an adapter folder the way
 * PEFT does plus the outputs PEFT's layers give; the test loads the folder into leantune and
 * compares each layer's output. Shared by the LoRA and IA3 tests.
 */
export const PEFT_WRITER = path.join(__dirname, 'write_peft_adapter.py');

/** /usr/bin/python3 (Debian's, which has NumPy) or python3 on PATH; undefined skips the suite. */
export const python = ['/usr/bin/python3', 'python3'].find((exe) => spawnSync(exe, ['-c', 'import numpy']).status === 0);

/**
 * Where the suite must run (CI=true, where .ci/run installs NumPy, or LEANTUNE_REQUIRE_NUMPY=1),
 * a python3 without NumPy fails it instead of skipping it.
 */
const numpyRequired = process.env.CI === 'true' || process.env.LEANTUNE_REQUIRE_NUMPY === '1';

/** describe when NumPy is there; else a skip, or (where required) one failing test that says why. */
export function describeWithNumpy(title: string, body: () => void): void {
  if (python) describe(title, body);
  else if (numpyRequired) describe(title, () => it('needs python3 with NumPy', () => { throw new Error('no python3 with NumPy (/usr/bin/python3 or python3 on PATH); .ci/run installs Debian\'s python3-numpy'); }));
  else describe.skip(title, body);
}

/** gpt2, bert: the tiny Hub-layout checkpoints; conv: MobileNetV2 (32×32, its Conv2d layers). */
export type CompatArch = 'gpt2' | 'bert' | 'conv';

export interface CompatCase {
  name: string;
  arch: CompatArch;
  peftType: 'LORA' | 'IA3' | 'LN_TUNING';
  config: Record<string, unknown>;
  adapterName?: string;
}

export interface CompatResult {
  model: Module;
  /** The folder to load (a subfolder for a non-default adapter, as PEFT writes it). */
  folder: string;
  /** Max |leantune − PEFT| over each checked layer's output. */
  diffs: Array<[string, number]>;
}

const checkpoints = new Map<string, string>();

function checkpoint(arch: 'gpt2' | 'bert'): string {
  if (!checkpoints.has(arch)) {
    const dir = tempDir(`peft-compat-${arch}`);
    writeTinyHfCheckpoint(arch, dir, { layers: 2, seed: 17 });
    checkpoints.set(arch, dir);
  }
  return checkpoints.get(arch)!;
}

/** A fresh base model of the case's layout, and what the Python side reads of it. */
async function baseModel(arch: CompatArch): Promise<{ model: Module; spec: Record<string, unknown> }> {
  if (arch !== 'conv') {
    const ckpt = checkpoint(arch);
    const model = (await loadHfCheckpoint(ckpt, { log: quiet })).module;
    return { model, spec: { checkpoint: path.join(ckpt, 'model.safetensors'), module_prefix: arch === 'gpt2' ? 'transformer.' : '' } };
  }
  // MobileNetV2 (eval: batch norm on running statistics); its Conv2d weights, torch layout, and each one's stride/padding/groups.
  const model = createMobileNetV2({ name: 'mobilenet-v2', inputSize: 32, labels: ['a', 'b'] }).module.eval();
  const tensors: Record<string, tf.Tensor> = {};
  const convLayers: Record<string, { stride: number; padding: Conv2d['padding']; groups: number }> = {};
  for (const [p, m] of model.namedModules()) {
    if (!(m instanceof Conv2d)) continue;
    for (const [name, param] of m.namedParameters('', false)) tensors[`${p}.${name}`] = param.variable;
    convLayers[p] = { stride: m.stride, padding: m.padding, groups: m.groups };
  }
  const file = path.join(tempDir('peft-compat-conv'), 'convs.safetensors');
  saveSafetensors(file, tensors);
  return { model, spec: { checkpoint: file, module_prefix: '', conv_layers: convLayers } };
}

/** Writes the case with the Python writer, loads the base model, calls `load`, compares every layer. */
export async function runCompatCase(c: CompatCase, seed: number, load: (model: Module, folder: string, adapterName: string, c: CompatCase) => void): Promise<CompatResult> {
  const { model, spec: base } = await baseModel(c.arch);
  const out = tempDir(`peft-compat-${c.name.replace(/\W+/g, '-')}`);
  const adapterName = c.adapterName ?? 'default';
  const spec = {
    ...base,
    arch: c.arch,
    peft_type: c.peftType,
    config: c.config,
    adapter_name: adapterName,
    out,
    seed,
    rows: 3,
  };
  const specFile = path.join(out, 'spec.json');
  fs.writeFileSync(specFile, JSON.stringify(spec));
  const run = spawnSync(python!, [PEFT_WRITER, specFile], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`write_peft_adapter.py failed: ${run.stderr}`);
  const folder = adapterName === 'default' ? out : path.join(out, adapterName);
  load(model, folder, adapterName, c);
  const expected = JSON.parse(fs.readFileSync(path.join(out, 'expected.json'), 'utf8')) as Record<string, { x: number[][]; y: number[][]; ids?: boolean }>;
  const diffs = Object.entries(expected).map(([layer, { x, y, ids }]): [string, number] => {
    const input = ids ? tf.tensor(x, undefined, 'int32') : tf.tensor(x);
    const got = tf.tidy(() => maxAbsDiff(model.getSubmodule(layer).forward(input) as tf.Tensor, tf.tensor(y)));
    input.dispose();
    return [layer, got];
  });
  return { model, folder, diffs };
}

/** The suite's table row: case, layers checked, worst difference. */
export function tableRow(c: CompatCase, r: CompatResult): string {
  return `| ${c.name} | ${c.arch} | ${r.diffs.length} | ${Math.max(...r.diffs.map(([, d]) => d)).toExponential(1)} |`;
}

/**
 * The suite for one method: skipped without NumPy; each case written, loaded by `load`, checked
 * layer by layer (|Δ| < 1e-4) and by `check`; the table printed at the end (the closing note).
 */
export function describePeftCompat(title: string, cases: CompatCase[], seedBase: number, load: (model: Module, folder: string, adapterName: string, c: CompatCase) => void, check?: (c: CompatCase, r: CompatResult) => void): void {
  describeWithNumpy(title, () => {
    const rows: string[] = [];
    beforeAll(async () => {
      await tf.setBackend('cpu');
      setSeed(3);
    });
    afterAll(() => {
      if (rows.length) console.log(['| case | layout | layers | max abs diff |', '| --- | --- | --- | --- |', ...rows].join('\n'));
    });
    it.each(cases.map((c, i) => [c.name, c, i] as const))('%s', async (_name, c, i) => {
      const result = await runCompatCase(c, seedBase + i, load);
      expect(result.diffs.length).toBeGreaterThan(0);
      for (const [layer, diff] of result.diffs) expect([layer, diff < 1e-4]).toEqual([layer, true]);
      check?.(c, result);
      rows.push(tableRow(c, result));
    });
  });
}

/** A method handle that saves itself as a PEFT folder (LoraModel, Ia3Model). */
export interface SavingHandle {
  save(dir: string): string;
  layers(): Array<[string, Module]>;
  /** Paths of the parameters training moves (default: those under `.lora_` / `.ia3_`). */
  trained?(): string[];
}

/** An input for one adapted layer as PEFT's would take it: token ids, an NHWC image, or rows of features. */
function layerInput(module: Module, seed: number): { x: tf.Tensor; ids: boolean } {
  if (module instanceof LoraEmbedding) return { x: tf.tensor2d(Array.from({ length: 12 }, (_, i) => (i * 7 + seed) % module.inFeatures), [3, 4], 'int32'), ids: true };
  if (module instanceof LoraConv2d) return { x: randn([1, 8, 8, module.inFeatures], seed), ids: false };
  const width = module instanceof LayerNorm ? module.normalizedShape : (module as unknown as { inFeatures: number }).inFeatures;
  return { x: randn([3, width], seed), ids: false };
}

/**
 * The other way: leantune injects `c.config` into the base model, the adapter parameters move
 * ("training"), leantune saves; the Python side reads the folder as PEFT 0.18.0's from_pretrained
 * would, lists what PEFT would not accept (config fields, keys, shapes, metadata) and computes
 * each layer's output, which must equal leantune's.
 */
export async function runReadCase(c: CompatCase, seed: number, inject: (model: Module, c: CompatCase) => SavingHandle): Promise<{ problems: string[]; diffs: Array<[string, number]> }> {
  const { model, spec: base } = await baseModel(c.arch);
  const handle = inject(model, c);
  let n = seed;
  const trained = new Set(handle.trained?.() ?? []);
  for (const [p, param] of model.namedParameters()) {
    if (handle.trained ? trained.has(p) : /\.(lora_|ia3_)/.test(p)) param.variable.assign(tf.tidy(() => tf.add(param.variable, tf.mul(randn(param.shape, n++), 0.2))));
  }
  const folder = handle.save(tempDir(`peft-read-${c.name.replace(/\W+/g, '-')}`));
  const inputs: Record<string, unknown> = {};
  const ours: Record<string, tf.Tensor> = {};
  for (const [layer, module] of handle.layers()) {
    const { x } = layerInput(module, n++);
    inputs[layer] = x.arraySync();
    ours[layer] = module.forward(x) as tf.Tensor;
  }
  const out = path.join(folder, 'peft-read.json');
  const specFile = path.join(folder, 'read-spec.json');
  fs.writeFileSync(specFile, JSON.stringify({ ...base, arch: c.arch, peft_type: c.peftType, folder, inputs, out }));
  const run = spawnSync(python!, [PEFT_WRITER, '--read', specFile], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`write_peft_adapter.py --read failed: ${run.stderr}`);
  const result = JSON.parse(fs.readFileSync(out, 'utf8')) as { problems: string[]; outputs: Record<string, number[]> };
  fs.rmSync(out);
  fs.rmSync(specFile);
  const diffs = Object.entries(result.outputs).map(([layer, y]): [string, number] => [layer, tf.tidy(() => maxAbsDiff(ours[layer], tf.tensor(y)))]);
  return { problems: result.problems, diffs };
}

/** The read direction for one method: leantune saves, PEFT's loader (re-implemented) agrees. */
export function describePeftRead(title: string, cases: CompatCase[], seedBase: number, inject: (model: Module, c: CompatCase) => SavingHandle): void {
  describeWithNumpy(title, () => {
    beforeAll(async () => {
      await tf.setBackend('cpu');
      setSeed(5);
    });
    it.each(cases.map((c, i) => [c.name, c, i] as const))('%s', async (_name, c, i) => {
      const { problems, diffs } = await runReadCase(c, seedBase + i, inject);
      expect(problems).toEqual([]);
      expect(diffs.length).toBeGreaterThan(0);
      for (const [layer, diff] of diffs) expect([layer, diff < 1e-4]).toEqual([layer, true]);
    });
  });
}
