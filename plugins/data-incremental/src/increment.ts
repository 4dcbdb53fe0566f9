import type { Batch, DataRecord, LoadedModel } from '@leantune/core';
import { evaluateClassifier, fit } from '@leantune/train';
import type { LoraConfig, LoraModel } from '@leantune/plugin-lora';
import { addIncrementAdapter } from './adapter';
import { checkEwcBinding, withEwc, type EwcState } from './ewc';
import { mixRehearsal } from './reservoir';

export interface IncrementTraining {
  epochs: number;
  batchSize: number;
  lr: number;
  seed: number;
}

export interface IncrementOptions {
  model: LoadedModel;
  /** The new task's training records. */
  newTrain: readonly DataRecord[];
  /** The old task's validation records: accuracy on them before and after measures forgetting. */
  oldValidation?: readonly DataRecord[];
  newValidation?: readonly DataRecord[];
  rehearsal?: { buffer: readonly DataRecord[]; ratio: number };
  ewc?: { state: EwcState; lambda: number };
  /** Train this increment as a new LoRA adapter (earlier adapters stay active and frozen). */
  /** A new LoRA adapter for this increment; `lora` is the handle earlier increments returned (their adapters on this model). */
  adapter?: { name: string; config: Partial<LoraConfig>; stack?: boolean; lora?: LoraModel };
  train: IncrementTraining;
}

export interface IncrementReport {
  oldAccuracyBefore?: number;
  oldAccuracyAfter?: number;
  /** oldAccuracyBefore − oldAccuracyAfter. */
  forgetting?: number;
  newAccuracy?: number;
  trainRecords: number;
  replayed: number;
  trainableParameters: number;
  activeAdapters?: string[];
  /** The LoRA handle holding every increment's adapter, to pass to the next increment. */
  lora?: LoraModel;
  seconds: number;
}

const accuracy = (model: LoadedModel, records?: readonly DataRecord[]) => (records?.length ? evaluateClassifier(model, records, 256).accuracy : undefined);

/**
 * One increment: (optionally) a new adapter, rehearsal mixed into the new data, EWC added to
 * the loss, trained with @leantune/train's fit; forgetting measured on the old validation set.
 */
export async function trainIncrement(o: IncrementOptions): Promise<IncrementReport> {
  const started = performance.now();
  if (!o.model.encode || !o.model.loss) throw new Error(`trainIncrement: model "${o.model.name}" has no encode()/loss()`);
  if (o.newTrain.length === 0) throw new Error('trainIncrement: newTrain is empty');
  if (o.ewc) checkEwcBinding(o.ewc.state, o.model.module);
  const oldAccuracyBefore = accuracy(o.model, o.oldValidation);
  const added = o.adapter ? addIncrementAdapter(o.adapter.lora, o.model.module, o.adapter.name, o.adapter.config, { stack: o.adapter.stack, arch: o.model.arch }) : undefined;
  const activeAdapters = added?.active;
  const mix = o.rehearsal ? mixRehearsal(o.newTrain, o.rehearsal.buffer, { ratio: o.rehearsal.ratio, seed: o.train.seed }) : { records: [...o.newTrain], replayed: 0 };
  const model = o.ewc ? withEwc(o.model, o.ewc.state, o.ewc.lambda) : o.model;
  const train = mix.records;
  await fit<Batch>({
    model: model.module,
    loss: (batch, training) => model.loss!(batch, training),
    trainSet: { length: train.length, getBatch: (idx) => model.encode!(idx.map((i) => train[i])) },
    epochs: o.train.epochs,
    batchSize: o.train.batchSize,
    optimizer: { name: 'adamw', lr: o.train.lr, weightDecay: 0 },
    seed: o.train.seed,
  });
  const oldAccuracyAfter = accuracy(o.model, o.oldValidation);
  return {
    oldAccuracyBefore,
    oldAccuracyAfter,
    forgetting: oldAccuracyBefore !== undefined && oldAccuracyAfter !== undefined ? oldAccuracyBefore - oldAccuracyAfter : undefined,
    newAccuracy: accuracy(o.model, o.newValidation),
    trainRecords: train.length,
    replayed: mix.replayed,
    trainableParameters: o.model.module.countParameters().trainable,
    ...(added ? { activeAdapters, lora: added.lora } : {}),
    seconds: (performance.now() - started) / 1000,
  };
}
