export interface EarlyStoppingConfig {
  /** The metric to watch, e.g. "loss" or "macroF1" from evalFn, or "train_loss". */
  monitor?: string;
  /** Evaluations without improvement tolerated before stopping. */
  patience: number;
  /** An improvement must beat the best by more than this. */
  minDelta?: number;
  mode?: 'min' | 'max';
}

/** Everything needed to continue early stopping after a resume. */
export interface EarlyStoppingState {
  best: number | null;
  bestEpoch: number | null;
  wait: number;
  stopped: boolean;
}

/** Keras-style early stopping: stop once `patience` evaluations in a row fail to improve. */
export class EarlyStopping {
  readonly patience: number;
  readonly minDelta: number;
  readonly mode: 'min' | 'max';
  private s: EarlyStoppingState = { best: null, bestEpoch: null, wait: 0, stopped: false };

  constructor(config: EarlyStoppingConfig) {
    this.patience = config.patience;
    this.minDelta = config.minDelta ?? 0;
    this.mode = config.mode ?? 'min';
    if (!Number.isInteger(this.patience) || this.patience < 0) {
      throw new Error(`earlyStopping.patience must be an integer >= 0, got ${config.patience}`);
    }
    if (!(this.minDelta >= 0)) throw new Error(`earlyStopping.minDelta must be >= 0, got ${config.minDelta}`);
    if (this.mode !== 'min' && this.mode !== 'max') throw new Error(`earlyStopping.mode must be "min" or "max", got "${String(config.mode)}"`);
  }

  get state(): EarlyStoppingState {
    return { ...this.s };
  }

  loadState(state: EarlyStoppingState): void {
    this.s = { ...state };
  }

  /** Records one evaluation; returns whether it improved and whether to stop now. */
  update(value: number, epoch = 0): { improved: boolean; shouldStop: boolean } {
    if (Number.isNaN(value)) throw new Error('EarlyStopping.update: the monitored value is NaN');
    const { best } = this.s;
    const improved = best === null || (this.mode === 'min' ? value < best - this.minDelta : value > best + this.minDelta);
    if (improved) {
      this.s.best = value;
      this.s.bestEpoch = epoch;
      this.s.wait = 0;
    } else {
      this.s.wait++;
      if (this.s.wait >= this.patience) this.s.stopped = true;
    }
    return { improved, shouldStop: this.s.stopped };
  }
}
