import { join } from 'node:path';
import { tempDir } from '@leantune/testing';
import { tf } from '@leantune/tensor';
import { computeFisher, disposeEwc, ewcPenalty, loadEwc, rebindEwc, saveEwc, trainIncrement, withEwc } from '@leantune/plugin-data-incremental';
import { point, scalarModel } from './helpers';

describe('EWC', () => {
  // loss = (w·x − y)², per-example gradient 2(w·x − y)·x. At w = 0.5: (1, 0) → 1, (2, 1) → 0. Fisher = (1² + 0²)/2.
  const old = [point('p', 1, 0), point('q', 2, 1)];

  it('diagonal Fisher, anchor and penalty by hand', () => {
    const model = scalarModel(0.5);
    const state = computeFisher(model, old, { samples: 10 });
    expect(state.samples).toBe(2);
    expect(state.entries.map((e) => e.path)).toEqual(['w']);
    expect(Array.from(state.entries[0].fisher.dataSync())).toEqual([0.5]);
    expect(Array.from(state.entries[0].anchor.dataSync())).toEqual([0.5]);
    model.module.getParameter('w').variable.assign(tf.tensor1d([1.5]));
    expect(ewcPenalty(state).dataSync()[0]).toBeCloseTo(0.5, 6); // 0.5·(1.5 − 0.5)²
    const wrapped = withEwc(model, state, 2);
    const batch = model.encode!([point('r', 1, 0)]);
    expect(wrapped.loss!(batch, true).dataSync()[0]).toBeCloseTo(2.25 + (2 / 2) * 0.5, 6); // (1.5)² + λ/2·penalty
    expect(wrapped.module).toBe(model.module);
    // The gradient of the penalty pulls w back: d/dw [λ/2·F·(w − w*)²] = λ·F·(w − w*) = 1.
    const { grads } = tf.variableGrads(() => tf.sub(wrapped.loss!(batch, true), model.loss!(batch, true)) as tf.Scalar, [model.module.getParameter('w').variable]);
    expect(Object.values(grads)[0].dataSync()[0]).toBeCloseTo(1, 5);
    tf.dispose([...Object.values(grads), batch.inputs as tf.Tensor, batch.targets!]);
    disposeEwc(state);
  });

  it('leaks no tensors and survives a save/load round trip', async () => {
    const model = scalarModel(0.5);
    const before = tf.memory().numTensors;
    const state = computeFisher(model, old);
    expect(tf.memory().numTensors).toBe(before + 2); // anchor + fisher, nothing else
    const file = join(tempDir('ewc'), 'ewc.safetensors');
    await saveEwc(state, file);
    const loaded = await loadEwc(model.module, file);
    expect(loaded.samples).toBe(2);
    expect(loaded.entries[0].variable).toBe(model.module.getParameter('w').variable);
    expect(Array.from(loaded.entries[0].fisher.dataSync())).toEqual([0.5]);
    disposeEwc(state);
    disposeEwc(loaded);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a state bound to another model is refused by trainIncrement until rebound', async () => {
    const state = computeFisher(scalarModel(0.5), old);
    const copy = scalarModel(1.5);
    const train = { epochs: 1, batchSize: 2, lr: 0.1, seed: 0 };
    await expect(trainIncrement({ model: copy, newTrain: old, ewc: { state, lambda: 1 }, train })).rejects.toThrow("EWC state is bound to another model's parameters (w); bind it with rebindEwc(state, model.module)");
    const bound = rebindEwc(state, copy.module);
    expect(bound.entries[0].variable).toBe(copy.module.getParameter('w').variable);
    expect(ewcPenalty(bound).dataSync()[0]).toBeCloseTo(0.5, 6);
    await trainIncrement({ model: copy, newTrain: old, ewc: { state: bound, lambda: 1 }, train });
    disposeEwc(state);
  });

  it('bad input is named', async () => {
    const model = scalarModel(0.5);
    expect(() => computeFisher(model, [])).toThrow('computeFisher: no records of the old task');
    expect(() => computeFisher(model, old, { paths: ['v'] })).toThrow('computeFisher: no parameter "v" in model "scalar"');
    expect(() => withEwc(model, { entries: [], samples: 0 }, -1)).toThrow('EWC lambda must be a finite number >= 0 (got -1)');
    const dir = tempDir('ewc');
    const state = computeFisher(model, old);
    await saveEwc({ ...state, entries: state.entries.map((e) => ({ ...e, path: 'other' })) }, join(dir, 'x.safetensors'));
    await expect(loadEwc(model.module, join(dir, 'x.safetensors'))).rejects.toThrow('does not fit the model: no parameter "other" in the model');
    disposeEwc(state);
  });
});
