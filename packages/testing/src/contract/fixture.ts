import { join } from 'node:path';
import {
  createToolkit,
  definePlugin,
  type Batch,
  type DataRecord,
  type LoadedModel,
  type MethodHandle,
  type PluginInput,
  type RegisteredMethod,
  type Run,
  type Toolkit,
} from '@leantune/core';
import { loadSafetensors, saveSafetensors, tf, type Module } from '@leantune/tensor';
import { quietLog } from '../fixtures/env';
import { tinySentiment } from '../tiny-data';
import { tinyLoadedModel } from '../tiny-model';
import type { MethodContractOptions, SaveLoad } from './types';

const FIXTURE_PLUGIN = '@leantune/testing-contract-fixture';
/** Names no real loader uses, so the contract's fixture never shadows a plugin's own. */
export const CONTRACT_MODEL = 'contract-model';
export const CONTRACT_DATA = 'contract-data';
const PROBE_SIZE = 8;

function contractData(options: MethodContractOptions): { train: DataRecord[]; validation: DataRecord[] } {
  if (options.data) return { train: options.data.train, validation: options.data.validation ?? [] };
  const records = tinySentiment(64);
  return { train: records.slice(0, 48), validation: records.slice(48) };
}

/** Serves the contract's model and records under fixed names, whatever the caller passed. */
function fixturePlugin(options: MethodContractOptions) {
  const factory = typeof options.model === 'function' ? options.model : () => tinyLoadedModel(['neg', 'pos']);
  const { train, validation } = contractData(options);
  return definePlugin({
    meta: { name: FIXTURE_PLUGIN, version: '0.1.0', core: '^0.1.0' },
    apply(ctx) {
      ctx.models.register({ name: CONTRACT_MODEL, models: [CONTRACT_MODEL], test: (s) => s.name === CONTRACT_MODEL, load: async () => factory() });
      ctx.datasets.register({
        name: CONTRACT_DATA,
        datasets: [CONTRACT_DATA],
        test: (s) => s.name === CONTRACT_DATA,
        load: async () => ({ name: CONTRACT_DATA, records: [...train, ...validation], splits: { train, validation }, reports: [] }),
      });
    },
  });
}

/** A toolkit with the plugin under test, its companions and the fixture model and data. */
export async function contractToolkit(options: MethodContractOptions): Promise<Toolkit> {
  const plugins: PluginInput[] = [...(options.plugins ?? []), [options.plugin, options.pluginOptions ?? {}], fixturePlugin(options)];
  return createToolkit({ plugins, log: quietLog, trainer: options.trainer });
}

/** A run config for the contract; a fresh deep copy of the method config each time. */
export function contractConfig(options: MethodContractOptions, withMethod = true, train: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: `contract-${options.method}`,
    model: CONTRACT_MODEL,
    methods: withMethod ? { [options.method]: structuredClone(options.config) } : {},
    data: { name: CONTRACT_DATA },
    train: { epochs: 1, batchSize: 8, learningRate: 0.05, optimizer: 'adamw', ...options.train, ...train },
    runtime: { backend: options.backend ?? 'cpu', seed: options.seed ?? 7 },
  };
}

export function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  if (!tf.util.arraysEqual(a.shape, b.shape)) return Number.POSITIVE_INFINITY;
  return tf.tidy(() => tf.max(tf.abs(tf.sub(tf.cast(a, 'float32'), tf.cast(b, 'float32')))).dataSync()[0]);
}

/** The compared output: logits where the inputs are one tensor, else `predict`, always in eval mode. */
export function modelOutputs(options: MethodContractOptions, model: LoadedModel, batch: Batch): tf.Tensor {
  model.module.eval();
  if (options.outputs) return options.outputs(model, batch);
  if (batch.inputs instanceof tf.Tensor) {
    const inputs = batch.inputs;
    return tf.tidy(() => model.module.forward(inputs) as tf.Tensor);
  }
  if (model.predict) return model.predict(batch);
  throw new Error(`Model "${model.name}" takes several inputs and has no predict(); pass outputs: (model, batch) => tensor to the contract`);
}

/** One loaded model through a real Run, with the base model's outputs taken before injection. */
export interface ContractSession {
  toolkit: Toolkit;
  run: Run;
  model: LoadedModel;
  method: RegisteredMethod;
  /** The method's handle in this run (undefined when opened without the method). */
  handle?: MethodHandle;
  probe: Batch;
  baseOutputs: tf.Tensor;
  /** The variables of the model as loaded, before any method touched it. */
  baseVariables: Map<tf.Variable, string>;
  outputs(): tf.Tensor;
  dispose(): void;
}

export async function openSession(options: MethodContractOptions, withMethod = true, train: Record<string, unknown> = {}): Promise<ContractSession> {
  const toolkit = await contractToolkit(options);
  const method = toolkit.methods.get(options.method);
  if (!method) throw new Error(`Plugin ${options.plugin.meta.name} registered no method "${options.method}" (it registered: ${toolkit.methods.ids().join(', ') || 'none'})`);
  const run = toolkit.createRun(contractConfig(options, withMethod, train));
  const { train: trainRecords, validation } = contractData(options);
  const probeRecords = [...validation, ...trainRecords].slice(0, PROBE_SIZE);
  let probe: Batch | undefined;
  let baseOutputs: tf.Tensor | undefined;
  const baseVariables = new Map<tf.Variable, string>();
  run.hooks.modelLoaded.tapPromise(FIXTURE_PLUGIN, async (loaded) => {
    if (!loaded.encode) throw new Error(`Model "${loaded.name}" has no encode(); the contract needs one to build batches`);
    probe = loaded.encode(probeRecords);
    baseOutputs = modelOutputs(options, loaded, probe);
    for (const [path, p] of loaded.module.namedParameters()) baseVariables.set(p.variable, path);
  });
  const model = await run.loadModel();
  // Every variable seen, so a merge or load that drops a method's parameters frees them too.
  const seen = new Set<tf.Variable>([...baseVariables.keys(), ...[...model.module.namedParameters()].map(([, p]) => p.variable)]);
  const session: ContractSession = {
    toolkit,
    run,
    model,
    method,
    handle: run.methods.find((m) => m.id === options.method)?.handle,
    probe: probe!,
    baseOutputs: baseOutputs!,
    baseVariables,
    outputs: () => modelOutputs(options, model, probe!),
    dispose() {
      const tensors = [baseOutputs!, ...(probe!.inputs instanceof tf.Tensor ? [probe!.inputs] : Object.values(probe!.inputs))];
      if (probe!.targets) tensors.push(probe!.targets);
      for (const [, p] of model.module.namedParameters()) seen.add(p.variable);
      for (const t of [...tensors, ...seen]) if (!t.isDisposed) t.dispose();
    },
  };
  return session;
}

/** Adds seeded noise to every trainable variable, so trained state differs from a fresh init. */
export function perturbTrainable(model: LoadedModel, seed: number): void {
  let i = 0;
  for (const [, variable] of model.module.trainableVariables()) {
    tf.tidy(() => variable.assign(tf.add(variable, tf.randomNormal(variable.shape, 0, 0.1, 'float32', seed + i++))));
  }
}

/**
 * The method's own files, driven through its handle: `handle.save(dir)`, then the
 * definition's `load` onto a bare base model, whose handle the run adopts. What a user's
 * `leantune eval --adapter` does.
 */
export const methodFiles: SaveLoad = {
  into: 'base',
  async save(_model, dir, { handle, method }) {
    if (!handle?.save) throw new Error(`method "${method.id}" has no handle.save`);
    await handle.save(dir);
  },
  async load(model, dir, { run, method }) {
    if (!method.load) throw new Error(`method "${method.id}" registers no load()`);
    const handle = await method.load(model, dir);
    run.adopt(method.id, method, handle, 'adapter');
    return handle.module;
  },
};

/**
 * A method's files through its standalone functions instead of `handle.save` and the
 * definition's `load`: `save` gets the run's handle (checked to be a `kind`), `load` the
 * bare base module, and the run adopts the handle `load` returns.
 */
export function standaloneFiles<H extends MethodHandle<any>>(
  kind: abstract new (...args: any[]) => H,
  save: (handle: H, dir: string) => unknown,
  load: (module: Module, dir: string) => H,
): SaveLoad {
  return {
    into: 'base',
    save(_model, dir, { handle, method }) {
      if (!(handle instanceof kind)) throw new Error(`method "${method.id}"'s handle in the run is not a ${kind.name}`);
      save(handle, dir);
    },
    load(model, dir, { run, method }) {
      const handle = load(model.module, dir);
      run.adopt(method.id, method, handle, 'adapter');
      return handle.module;
    },
  };
}

/** The default SaveLoad: every trainable variable by dotted path, in one safetensors file. */
export const trainableSafetensors: SaveLoad = {
  save(model, dir) {
    saveSafetensors(join(dir, 'trainable.safetensors'), model.module.trainableVariables());
  },
  load(model, dir) {
    const file = join(dir, 'trainable.safetensors');
    const { tensors } = loadSafetensors(file);
    try {
      const expected = [...model.module.trainableVariables().keys()];
      const missing = expected.filter((k) => !tensors.has(k));
      const unexpected = [...tensors.keys()].filter((k) => !expected.includes(k));
      if (missing.length || unexpected.length) {
        throw new Error(`${file} does not match the model's trainable parameters (missing: ${missing.join(', ') || 'none'}; unexpected: ${unexpected.join(', ') || 'none'})`);
      }
      model.module.loadStateDict(tensors, { source: file });
    } finally {
      tf.dispose([...tensors.values()]);
    }
  },
};
