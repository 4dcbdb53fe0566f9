import { tf } from '@leantune/tensor';
import { AdamW, AdamWOptions } from './adamw';
import { Optimizer } from './optimizer';
import { SGD, SGDOptions } from './sgd';

/** Optimizer choice as plain data, so a run config (and a checkpoint) can name it. */
export type OptimizerConfig =
  | ({ name: 'adamw'; lr: number } & AdamWOptions)
  | ({ name: 'sgd'; lr: number } & SGDOptions);

export function createOptimizer(config: OptimizerConfig, params: Map<string, tf.Variable>): Optimizer {
  if (!(Number.isFinite(config.lr) && config.lr >= 0)) {
    throw new Error(`optimizer.lr must be a finite number >= 0, got ${config.lr}`);
  }
  switch (config.name) {
    case 'adamw':
      return new AdamW(params, config);
    case 'sgd':
      return new SGD(params, config);
    default: {
      const name: string = (config as { name: string }).name;
      throw new Error(`Unknown optimizer "${name}"; use "adamw" or "sgd"`);
    }
  }
}
