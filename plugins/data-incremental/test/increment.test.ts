import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { SyncHook } from 'tapable';
import { createRunHooks, type Dataset, type Run } from '@leantune/core';
import { tempDir } from '@leantune/testing';
import plugin, { addIncrementAdapter, computeFisher, disposeEwc, loadReplayBuffer, rehearsalStage, saveEwc, saveRecords, saveReplayBuffer, ReservoirBuffer, trainIncrement } from '@leantune/plugin-data-incremental';
import { blobs, ctx, mlpModel, point, scalarModel } from './helpers';

const train = { epochs: 15, batchSize: 16, lr: 0.05, seed: 2 };
const taskA = () => [...blobs('a', 40, 1), ...blobs('b', 40, 2)];
const taskB = () => [...blobs('c', 40, 3), ...blobs('d', 40, 4)];
const valA = () => [...blobs('a', 30, 5), ...blobs('b', 30, 6)];

describe('trainIncrement', () => {
  it('measures forgetting; rehearsal keeps the old task where plain fine-tuning loses it', async () => {
    const runs = [];
    for (const rehearse of [false, true]) {
      const model = mlpModel(7);
      await trainIncrement({ model, newTrain: taskA(), train });
      const buffer = new ReservoirBuffer(30, 1).addAll(taskA()).items();
      runs.push(await trainIncrement({ model, newTrain: taskB(), oldValidation: valA(), newValidation: [...blobs('c', 30, 7), ...blobs('d', 30, 8)], rehearsal: rehearse ? { buffer, ratio: 0.3 } : undefined, train }));
    }
    const [plain, rehearsed] = runs;
    for (const r of runs) {
      expect(r.oldAccuracyBefore).toBe(1);
      expect(r.forgetting).toBeCloseTo(r.oldAccuracyBefore! - r.oldAccuracyAfter!, 12);
      expect(r.newAccuracy).toBeGreaterThan(0.95);
    }
    expect(plain.replayed).toBe(0);
    expect(rehearsed.replayed).toBe(34); // round(80 · 0.3/0.7)
    expect(rehearsed.trainRecords).toBe(114);
    expect(plain.forgetting).toBeGreaterThan(0.5);
    expect(rehearsed.forgetting).toBeLessThan(0.1);
  });

  it('an increment as a LoRA adapter trains only that adapter; earlier ones stay active and frozen', async () => {
    const model = mlpModel(7);
    const config = { r: 2, target_modules: ['fc1', 'head'] };
    const first = addIncrementAdapter(undefined, model.module, 'task1', config);
    expect(first.active).toEqual(['task1']);
    // Later increments add to the handle the first one returned: the adapters live on it, not at module scope.
    const second = addIncrementAdapter(first.lora, model.module, 'task2', config);
    expect(second.lora).toBe(first.lora);
    expect(second.active).toEqual(['task1', 'task2']);
    expect(second.lora.activeAdapters()).toEqual(['task1', 'task2']);
    const trainable = [...model.module.trainableVariables().keys()].sort();
    expect(trainable).toEqual(['fc1.lora_A.task2.weight', 'fc1.lora_B.task2.weight', 'head.lora_A.task2.weight', 'head.lora_B.task2.weight']);
    const report = await trainIncrement({ model, newTrain: taskB(), adapter: { name: 'task3', config, stack: false, lora: second.lora }, train: { ...train, epochs: 1 } });
    expect(report.activeAdapters).toEqual(['task3']);
    expect(report.lora).toBe(first.lora);
    expect([report.lora!.adapterNames(), report.lora!.activeAdapters()]).toEqual([['task1', 'task2', 'task3'], ['task3']]);
    expect(report.trainableParameters).toBe(2 * 2 + 16 * 2 + 16 * 2 + 4 * 2);
    // The same config object on another model starts a handle of its own; a handle is bound to its model.
    const other = mlpModel(8);
    expect(() => addIncrementAdapter(first.lora, other.module, 'task1', config)).toThrow(/the LoRA handle belongs to another model/);
    const fresh = addIncrementAdapter(undefined, other.module, 'task1', config);
    expect(fresh.lora).not.toBe(first.lora);
    expect(fresh.lora.adapterNames()).toEqual(['task1']);
    expect(config).toEqual({ r: 2, target_modules: ['fc1', 'head'] });
    expect(() => addIncrementAdapter(first.lora, model.module, 'task2', config)).toThrow(/LoRA adapter "task2" already exists on this model/);
  });
});

describe('rehearsal stage', () => {
  it('replays buffer records into the train split, writes an updated buffer, and never overwrites its input', async () => {
    const dir = tempDir('rehearsal');
    await saveReplayBuffer(new ReservoirBuffer(5, 1).addAll(taskA()), join(dir, 'buffer.jsonl'));
    const records = taskB().slice(0, 10);
    const ds: Dataset = { name: 'b', records, splits: { train: records.slice(0, 8), validation: records.slice(8) }, reports: [] };
    const out = await rehearsalStage.run(ds, { buffer: 'buffer.jsonl', ratio: 0.5, updateBuffer: 'next.jsonl' }, ctx(dir));
    expect(out.splits!.train).toHaveLength(16);
    expect(out.splits!.validation).toBe(ds.splits!.validation);
    expect(out.records).toHaveLength(18);
    expect(out.reports[0]).toMatchObject({ stage: 'rehearsal', in: 10, out: 18, dropped: 0, details: { replayed: 8, unique: 5, bufferSize: 5, seen: 88 } });
    const next = await loadReplayBuffer(join(dir, 'next.jsonl'));
    expect([next.size, next.seen, next.capacity]).toEqual([5, 88, 5]);
    await expect(rehearsalStage.run(ds, { buffer: 'buffer.jsonl', updateBuffer: 'buffer.jsonl' }, ctx(dir))).rejects.toThrow('updateBuffer must differ from buffer');
    await expect(rehearsalStage.run(ds, {}, ctx(dir))).rejects.toThrow('give "buffer" (records to replay), "updateBuffer" (a buffer to write), or both');
    await expect(rehearsalStage.run(ds, { buffer: 'missing.jsonl' }, ctx(dir))).rejects.toThrow(/missing.jsonl cannot be read \(ENOENT\)/);
  });

  it('the first task creates the buffer; typed arrays survive the file', async () => {
    const dir = tempDir('rehearsal');
    const records = [{ id: 'i', label: 'x', image: { data: Float32Array.from([0.25, 1e-7]), shape: [1, 2, 1] }, meta: { source: 'u', row: 0 } }];
    await rehearsalStage.run({ name: 'a', records, reports: [] }, { updateBuffer: 'first.jsonl', capacity: 4 }, ctx(dir));
    const buf = await loadReplayBuffer(join(dir, 'first.jsonl'));
    expect(buf.items()).toEqual(records);
    expect(existsSync(join(dir, 'first.jsonl.tmp-' + process.pid))).toBe(false);
  });
});

describe('plugin run taps', () => {
  it('EWC from a file wraps the loss at modelLoaded; oldValidation adds forgetting to the metrics', async () => {
    const dir = tempDir('incremental');
    const trained = scalarModel(0.5);
    const state = computeFisher(trained, [point('p', 1, 0), point('q', 2, 1)]);
    await saveEwc(state, join(dir, 'ewc.safetensors'));
    disposeEwc(state);
    await saveRecords([point('p', 1, 0)], join(dir, 'old.jsonl'));
    const runHook = new SyncHook<[Run]>(['run']);
    await plugin.apply({ options: { ewc: { file: 'ewc.safetensors', lambda: 2 }, oldValidation: 'old.jsonl' }, stages: { register: () => {} }, hooks: { run: runHook } } as never);
    const hooks = createRunHooks();
    runHook.call({ hooks, context: ctx(dir) } as unknown as Run);
    const model = scalarModel(1.5);
    const base = model.loss!;
    await hooks.modelLoaded.promise(model, ctx(dir));
    const batch = model.encode!([point('r', 1, 0)]);
    expect(model.loss!(batch, true).dataSync()[0]).toBeCloseTo(base(batch, true).dataSync()[0] + 0.5, 6);
    // A regression model has no classifier head: evaluateClassifier refuses, naming the model.
    await expect(hooks.beforeTrain.promise({ model } as never)).rejects.toThrow(/has no classification head/);
  });

  it('oldValidation: accuracy before training and after, and their difference, join the run metrics', async () => {
    const dir = tempDir('incremental');
    await saveRecords(valA(), join(dir, 'old.jsonl'));
    const runHook = new SyncHook<[Run]>(['run']);
    await plugin.apply({ options: { oldValidation: 'old.jsonl' }, stages: { register: () => {} }, hooks: { run: runHook } } as never);
    const hooks = createRunHooks();
    runHook.call({ hooks, context: ctx(dir) } as unknown as Run);
    const model = mlpModel(7);
    await trainIncrement({ model, newTrain: taskA(), train });
    await hooks.modelLoaded.promise(model, ctx(dir));
    await hooks.beforeTrain.promise({ model } as never);
    await trainIncrement({ model, newTrain: taskB(), train });
    const metrics = await hooks.evaluate.promise({ accuracy: 0.9 }, ctx(dir));
    expect(metrics.old_accuracy_before).toBe(1);
    expect(metrics.forgetting).toBeCloseTo(1 - metrics.old_accuracy, 12);
    expect(metrics.forgetting).toBeGreaterThan(0.5);
    expect(metrics.accuracy).toBe(0.9);
  });
});
