import type { Logger } from './types';

/** Texts a model cut to its maximum length over a run: distinct texts (a text met again, in a later epoch, counts once). */
export interface TruncationReport {
  /** Distinct texts that were cut. */
  texts: number;
  /** Distinct texts encoded. */
  of: number;
  maxLength: number;
  /** Tokens in the longest text seen. */
  longest: number;
}

/**
 * Counts truncated texts across every batch a model encodes, so a run reports the total
 * ("N of M texts were truncated") instead of the first batch's count. Warns once, at the
 * first truncation; later batches are only counted (LoadedModel.truncation gives the total).
 */
export class TruncationTally {
  private readonly seen = new Set<string>();
  private readonly cut = new Set<string>();
  private longest = 0;
  private maxLength = 0;
  private warned = false;

  constructor(private readonly log: Logger) {}

  /** One batch: the key (id or text) of every text in it, those that were cut, and `warning` describing this batch. */
  note(keys: readonly string[], cutKeys: readonly string[], info: { longest: number; maxLength: number; warning: string }): void {
    for (const k of keys) this.seen.add(k);
    if (!cutKeys.length) return;
    for (const k of cutKeys) this.cut.add(k);
    this.longest = Math.max(this.longest, info.longest);
    this.maxLength = info.maxLength;
    if (this.warned) return;
    this.warned = true;
    this.log.warn(`${info.warning} (later batches are counted, not reported one by one; the run's summary gives the total)`);
  }

  report(): TruncationReport | undefined {
    return this.cut.size ? { texts: this.cut.size, of: this.seen.size, maxLength: this.maxLength, longest: this.longest } : undefined;
  }
}

/** The sentence a run ends with when texts were cut. */
export function formatTruncation(model: string, r: TruncationReport): string {
  return `${model}: ${r.texts} of ${r.of} texts were truncated to ${r.maxLength} tokens over the run (longest ${r.longest} tokens); raise model.maxLength to keep more of them`;
}
