/**
 * Learning-rate schedules as pure functions of the optimizer step (0-based: the lr used
 * by the step about to run), so a resumed run needs no schedule state at all. They follow
 * Hugging Face's get_*_schedule_with_warmup: during warmup lr = base·step/warmup (step 0
 * runs at lr 0), then decay over the remaining steps down to base·minLrRatio.
 */
export type ScheduleConfig =
  | { kind: 'constant'; warmupSteps?: number }
  | { kind: 'linear' | 'cosine'; warmupSteps?: number; totalSteps?: number; minLrRatio?: number };

export type LrSchedule = (step: number) => number;

function checkCount(value: number, field: string): void {
  if (!Number.isInteger(value) || value < 0) throw new Error(`schedule.${field} must be an integer >= 0, got ${value}`);
}

/** The multiplier of the base lr at `step`, in [minLrRatio, 1] after warmup. */
export function scheduleFactor(config: ScheduleConfig, step: number, defaultTotalSteps?: number): number {
  const warmup = config.warmupSteps ?? 0;
  if (step < warmup) return step / warmup;
  if (config.kind === 'constant') return 1;
  const total = config.totalSteps ?? defaultTotalSteps;
  if (total === undefined) throw new Error(`schedule.totalSteps is required for a ${config.kind} schedule outside the trainer`);
  const minRatio = config.minLrRatio ?? 0;
  const progress = Math.min(1, (step - warmup) / Math.max(1, total - warmup));
  const shape = config.kind === 'cosine' ? 0.5 * (1 + Math.cos(Math.PI * progress)) : 1 - progress;
  return minRatio + (1 - minRatio) * shape;
}

/** Validates the config and returns lr(step) = baseLr · factor(step). */
export function createLrSchedule(config: ScheduleConfig, baseLr: number, defaultTotalSteps?: number): LrSchedule {
  if (!['constant', 'linear', 'cosine'].includes(config.kind)) {
    throw new Error(`schedule.kind "${String(config.kind)}" is not one of constant, linear, cosine`);
  }
  if (!(Number.isFinite(baseLr) && baseLr >= 0)) throw new Error(`schedule: base lr must be a finite number >= 0, got ${baseLr}`);
  checkCount(config.warmupSteps ?? 0, 'warmupSteps');
  if (config.kind !== 'constant') {
    const total = config.totalSteps ?? defaultTotalSteps;
    if (total === undefined) throw new Error(`schedule.totalSteps is required for a ${config.kind} schedule`);
    checkCount(total, 'totalSteps');
    if (total < (config.warmupSteps ?? 0)) {
      throw new Error(`schedule.totalSteps (${total}) must be >= warmupSteps (${config.warmupSteps})`);
    }
    const minRatio = config.minLrRatio ?? 0;
    if (!(minRatio >= 0 && minRatio <= 1)) throw new Error(`schedule.minLrRatio must be in [0, 1], got ${minRatio}`);
  }
  return (step: number) => {
    if (!Number.isInteger(step) || step < 0) throw new Error(`lr schedule: step must be an integer >= 0, got ${step}`);
    return baseLr * scheduleFactor(config, step, defaultTotalSteps);
  };
}
