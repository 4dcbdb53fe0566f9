import { tf } from '@leantune/tensor';
import { createTrainDriver } from '@leantune/train';
import {
  checkIdentityAtInit,
  checkInvalidConfigs,
  checkLossFalls,
  checkMerge,
  checkNoLeaks,
  checkRegistration,
  checkSaveLoad,
  checkTrainableParameters,
  describeMethodContract,
  formatParameterCounts,
  runMethodContract,
  trainableSafetensors,
  type CheckResult,
  type MethodContractOptions,
  type SaveLoadContext,
} from '../src';
import { join } from 'node:path';
import { definePlugin } from '@leantune/core';
import { loadSafetensors, saveSafetensors, type Module } from '@leantune/tensor';
import { disposeLeaked, scaleOffsetPlugin, type Defect } from './scale-offset-method';

const trainer = createTrainDriver();

function contract(defect?: Defect, extra: Partial<MethodContractOptions> = {}): MethodContractOptions {
  return {
    plugin: scaleOffsetPlugin(defect),
    method: defect === 'prefix-names-base-parameters' ? 'enc-scale-offset' : 'scale-offset',
    config: { target_modules: ['dense'] },
    trainer,
    identityAtInit: true,
    mergeable: true,
    invalidConfigs: [{ config: { target_modules: [] }, message: /must NOT have fewer than 1 items/ }],
    // A scale and an offset on a frozen random base learn little: 0.703 → 0.655 here.
    loss: { minRelativeDrop: 0.05 },
    ...extra,
  };
}

/** The one failed problem text of a result, for matching. */
function problems(result: CheckResult): string {
  return result.problems.join('\n');
}

beforeAll(() => tf.setBackend('cpu'));
afterAll(disposeLeaked);

// The correct method passes the whole suite, declared the way a plugin's own test does.
const collected: CheckResult[] = [];
describeMethodContract(contract(undefined, { label: 'correct fixture', onResult: (r) => void collected.push(r) }));

describe('the contract suite itself', () => {
  it('reported every check of the correct method, with parameter counts', () => {
    expect(collected.map((r) => [r.check, r.ok])).toEqual([
      ['registration', true],
      ['trainable', true],
      ['identity', true],
      ['save-load', true],
      ['merge', true],
      ['leaks', true],
      ['loss', true],
      ['invalid-configs', true],
    ]);
    const counts = collected.find((r) => r.check === 'trainable')!;
    // Base: embed 64×16 + dense 16×16+16 + classifier 2×16+2 = 1330; scale + offset on dense = 2×16.
    expect(counts.measured).toMatchObject({ trainable: 32, total: 1362, base: 1330, trainablePaths: ['encoder.dense.so_scale', 'encoder.dense.so_offset'] });
    expect(formatParameterCounts(counts)).toBe('scale-offset: trainable params: 32 || all params: 1,362 || trainable%: 2.3495');
    expect(collected.find((r) => r.check === 'leaks')!.measured.perStep).toBe(0);
  });

  it('frees every tensor it makes, even for a method that fails its checks', async () => {
    const before = tf.memory().numTensors;
    await runMethodContract(contract(), ['registration', 'trainable', 'identity', 'save-load', 'merge', 'invalid-configs']);
    await runMethodContract(contract('merge-forgets-scale'), ['merge', 'save-load']);
    await runMethodContract(contract(undefined, { plugin: scaleOffsetPlugin(undefined, { files: true }) }), ['save-load', 'merge']);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('skips checks that do not apply, and refuses to declare tests outside a test runner', async () => {
    const results = await runMethodContract(contract(undefined, { identityAtInit: false, mergeable: false }), ['identity', 'merge']);
    expect(results.map((r) => [r.check, r.ok, r.skipped])).toEqual([
      ['identity', true, 'identityAtInit is not set'],
      ['merge', true, 'mergeable: false'],
    ]);
    const reasoned = await runMethodContract(contract(undefined, { mergeable: false, mergeSkipReason: 'trains base biases in place; nothing to fold' }), ['merge']);
    expect(reasoned.map((r) => [r.ok, r.skipped])).toEqual([[true, 'trains base biases in place; nothing to fold']]);
    const g = globalThis as Record<string, unknown>;
    const saved = g.describe;
    delete g.describe;
    try {
      expect(() => describeMethodContract(contract())).toThrow(/must be called in a test file .* use runMethodContract/);
    } finally {
      g.describe = saved;
    }
  });
});

/** Declares a contract into recording describe/it globals and returns what it declared. */
function declared(options: MethodContractOptions): Array<{ title: string; skipped: boolean }> {
  const g = globalThis as Record<string, unknown>;
  const saved = { describe: g.describe, it: g.it };
  const tests: Array<{ title: string; skipped: boolean }> = [];
  const it = (title: string) => void tests.push({ title, skipped: false });
  it.skip = (title: string) => void tests.push({ title, skipped: true });
  g.describe = (_name: string, body: () => void) => body();
  g.it = it;
  try {
    describeMethodContract(options);
  } finally {
    Object.assign(g, saved);
  }
  return tests;
}

describe('what the declared suite shows in the jest report', () => {
  it('a check that does not apply is declared skipped, with the reason in its title', () => {
    const tests = declared(contract(undefined, { identityAtInit: false, mergeable: false, mergeSkipReason: 'no linear map to fold' }));
    expect(tests.filter((t) => t.skipped).map((t) => t.title)).toEqual([
      "computes the base model's outputs at init (skipped: identityAtInit is not set)",
      'merged outputs equal unmerged ones (skipped: no linear map to fold)',
    ]);
    expect(tests.filter((t) => !t.skipped)).toHaveLength(6);
  });

  it('a check that applies is declared as a test that runs, its title free of any skip', () => {
    const tests = declared(contract());
    expect(tests.map((t) => t.skipped)).toEqual(new Array(8).fill(false));
    expect(tests.find((t) => t.title.startsWith('merged outputs'))!.title).toBe('merged outputs equal unmerged ones');
  });
});

describe('the suite catches defective methods', () => {
  it('a plugin that does not register the method', async () => {
    const r = await checkRegistration(contract(undefined, { method: 'scale-ofset' }));
    expect(r.ok).toBe(false);
    expect(problems(r)).toMatch(/registered no method "scale-ofset" \(it registered: scale-offset\)/);
  });

  it('a prefix that names base parameters', async () => {
    const registration = await checkRegistration(contract('prefix-names-base-parameters'));
    expect(problems(registration)).toMatch(/prefix "enc" already names base parameters \(encoder\.dense\.weight, encoder\.dense\.bias\)/);
    const trainable = await checkTrainableParameters(contract('prefix-names-base-parameters'));
    expect(problems(trainable)).toMatch(/base parameters are trainable: encoder\.dense\.base_layer\.weight \(base encoder\.dense\.weight\)/);
  });

  it('a handle whose trains() claims the base', async () => {
    const r = await checkTrainableParameters(contract('trains-every-parameter'));
    expect(r.ok).toBe(false);
    expect(problems(r)).toMatch(/base parameters are trainable: embed\.weight, encoder\.dense\.base_layer\.weight \(base encoder\.dense\.weight\)/);
    expect(r.measured.trainable).toBe(1362);
  });

  it('a tensor leaked per forward pass', async () => {
    const r = await checkNoLeaks(contract('leaks-a-tensor-per-forward'));
    expect(r.ok).toBe(false);
    expect(problems(r)).toMatch(/tensor count went from \d+ after step 3 to \d+ after step 15/);
    // At least one kept tensor per training step (evaluations between epochs add more).
    expect(Number(r.measured.atStep15) - Number(r.measured.atStep3)).toBeGreaterThanOrEqual(12);
  });

  it('a parameter the forward pass never uses, and a merge that then changes the output', async () => {
    const loss = await checkLossFalls(contract('offset-not-in-forward'));
    expect(problems(loss)).toMatch(/trainable parameters never changed: encoder\.dense\.so_offset;/);
    const merge = await checkMerge(contract('offset-not-in-forward'));
    expect(problems(merge)).toMatch(/merged outputs differ from unmerged by/);
  });

  it('a merge that forgets part of the delta', async () => {
    const r = await checkMerge(contract('merge-forgets-scale'));
    expect(r.ok).toBe(false);
    expect(Number(r.measured.maxAbsDiff)).toBeGreaterThan(1e-3);
  });

  it('mergeable: true on a method without merge()', async () => {
    const r = await checkMerge(contract('no-merge'));
    expect(r.problems).toEqual(['mergeable: true, but method "scale-offset"\'s handle has no mergeAndUnload()']);
  });

  it('a method without merge() whose contract does not say so: a failure, never a pass that compared nothing', async () => {
    const auto = await checkMerge(contract('no-merge', { mergeable: undefined }));
    expect([auto.ok, auto.skipped]).toEqual([false, undefined]);
    expect(problems(auto)).toMatch(/method "scale-offset"'s handle has no mergeAndUnload\(\), so merged and unmerged outputs cannot be compared; declare mergeable: false with mergeSkipReason/);
  });

  it('a method that is not a no-op at init', async () => {
    const r = await checkIdentityAtInit(contract('nonzero-init'));
    expect(problems(r)).toMatch(/at init the injected model's outputs differ from the base model's by/);
    expect(Number(r.measured.maxAbsDiff)).toBeGreaterThan(1e-3);
  });

  it('a saver that drops a tensor', async () => {
    const r = await checkSaveLoad(
      contract(undefined, {
        saveLoad: {
          save: (model, dir) => {
            const kept = [...model.module.trainableVariables()].filter(([path]) => !path.endsWith('so_scale'));
            saveSafetensors(join(dir, 'trainable.safetensors'), new Map(kept));
          },
          // Loads whatever the file holds, as a lenient loader would.
          load: (model, dir) => {
            const { tensors } = loadSafetensors(join(dir, 'trainable.safetensors'));
            model.module.loadStateDict(tensors);
            tf.dispose([...tensors.values()]);
          },
        },
      }),
    );
    expect(problems(r)).toMatch(/after save and load into a fresh model the outputs differ by/);
    // The default loader names the mismatch instead of loading half a state.
    const stray = { x: tf.zeros([1]) };
    const strict = await checkSaveLoad(contract(undefined, { saveLoad: { save: (_m, dir) => saveSafetensors(join(dir, 'trainable.safetensors'), stray), load: trainableSafetensors.load } }));
    stray.x.dispose();
    expect(problems(strict)).toMatch(/does not match the model's trainable parameters \(missing: encoder\.dense\.so_scale, encoder\.dense\.so_offset; unexpected: x\)/);
  });

  it('a schema that accepts invalid and unknown keys', async () => {
    const r = await checkInvalidConfigs(contract('schema-accepts-anything'));
    expect(r.problems).toEqual([
      'invalidConfigs[0] {"target_modules":[]} was accepted; the method\'s configSchema must reject it',
      'invalidConfigs[1] {"target_modules":["dense"],"contract_unknown_key":true} was accepted; the method\'s configSchema must reject it',
    ]);
  });

  it('an invalid-config message that does not match what the caller expects', async () => {
    const r = await checkInvalidConfigs(contract(undefined, { invalidConfigs: [{ config: { target_modules: 'dense' }, message: /fewer than/ }] }));
    expect(problems(r)).toMatch(/invalidConfigs\[0\] \{"target_modules":"dense"\}: the message does not match \/fewer than\/: .*\/methods\/scale-offset\/target_modules: must be array/s);
  });
});

describe('save and load through the method\'s handle', () => {
  const withFiles = (defect?: Defect, extra: Partial<MethodContractOptions> = {}) => contract(defect, { plugin: scaleOffsetPlugin(defect, { files: true }), ...extra });

  it('is the default when the handle saves and the method loads: handle.save, then load onto a bare base', async () => {
    const r = await checkSaveLoad(withFiles());
    expect([r.ok, r.problems, r.measured.saveLoad, r.measured.files]).toEqual([true, [], 'method files (handle.save, method.load)', ['so.safetensors']]);
    // Without them, the trainable variables in one file.
    const plain = await checkSaveLoad(contract());
    expect([plain.ok, plain.measured.saveLoad, plain.measured.files]).toEqual([true, 'trainable.safetensors', ['trainable.safetensors']]);
  });

  it('catches a load that wraps the layers but leaves the saved values unread', async () => {
    const r = await checkSaveLoad(withFiles('load-drops-values'));
    expect(problems(r)).toMatch(/after save and load into a fresh model the outputs differ by/);
  });

  it('a custom SaveLoad gets the run, the method and the run\'s handle', async () => {
    const seen: unknown[][] = [];
    const record = (what: string, context: SaveLoadContext) =>
      void seen.push([what, context.method.id, context.run.methods.map((m) => m.id), context.handle === context.run.methods[0]?.handle, context.handle?.trains('encoder.dense.so_scale', undefined as never)]);
    const r = await checkSaveLoad(
      contract(undefined, {
        saveLoad: {
          save: (model, dir, context) => {
            record('save', context);
            return trainableSafetensors.save(model, dir, context);
          },
          load: (model, dir, context) => {
            record('load', context);
            return trainableSafetensors.load(model, dir, context);
          },
        },
      }),
    );
    expect([r.ok, r.measured.saveLoad]).toEqual([true, 'custom']);
    expect(seen).toEqual([
      ['save', 'scale-offset', ['scale-offset'], true, true],
      ['load', 'scale-offset', ['scale-offset'], true, true],
    ]);
  });
});

/**
 * BitFit in miniature: trains encoder.dense.bias in place. The defective variant also writes
 * to a frozen base weight whenever it runs in training mode.
 */
function inPlaceBiasPlugin(touchesFrozenWeight = false) {
  return definePlugin({
    meta: { name: '@contract-fixtures/in-place-bias', version: '1.0.0', core: '^0.1.0' },
    apply(ctx) {
      ctx.methods.register({
        id: 'in-place-bias',
        prefix: 'ipb_',
        family: 'selective',
        configSchema: { type: 'object', additionalProperties: false, properties: {} },
        inPlace: true,
        inject(loaded, config) {
          const model: Module = loaded.module;
          const handle = { config, trains: (path: string) => path === 'encoder.dense.bias' };
          if (!touchesFrozenWeight) return handle;
          const classifier = model.getSubmodule('classifier');
          const forward = classifier.forward.bind(classifier);
          classifier.forward = (x) => {
            const weight = classifier.getParameter('weight').variable;
            if (classifier.training) tf.tidy(() => weight.assign(tf.mul(weight, 1.01)));
            return forward(x);
          };
          return handle;
        },
      });
    },
  });
}

describe('methods that train base parameters in place (trainsBaseParameters)', () => {
  const inPlace = (touches = false, extra: Partial<MethodContractOptions> = {}): MethodContractOptions => ({
    plugin: inPlaceBiasPlugin(touches),
    method: 'in-place-bias',
    config: {},
    trainer,
    trainsBaseParameters: true,
    // One bias vector on the frozen random base learns slowly; the check here is what moves.
    loss: { steps: 6, minRelativeDrop: -1 },
    ...extra,
  });

  it('may train and move the base parameters they select, and only those', async () => {
    const trainable = await checkTrainableParameters(inPlace());
    expect([trainable.ok, trainable.measured.trainable, trainable.measured.baseTrainable, trainable.measured.trainablePaths]).toEqual([true, 16, 16, ['encoder.dense.bias']]);
    const loss = await checkLossFalls(inPlace());
    expect([loss.ok, loss.problems]).toEqual([true, []]);
  });

  it('fail the base-frozen checks when they do not declare it, naming the option', async () => {
    const trainable = await checkTrainableParameters(inPlace(false, { trainsBaseParameters: false }));
    expect(problems(trainable)).toMatch(/base parameters are trainable: encoder\.dense\.bias; .*declares trainsBaseParameters: true/);
    const loss = await checkLossFalls(inPlace(false, { trainsBaseParameters: false }));
    expect(problems(loss)).toMatch(/training changed base parameters: encoder\.dense\.bias;/);
  });

  it('still catch a frozen base parameter that changes in training', async () => {
    const r = await checkLossFalls(inPlace(true));
    expect(r.problems).toEqual(['training changed frozen base parameters: classifier.weight; the base must stay frozen']);
  });
});
