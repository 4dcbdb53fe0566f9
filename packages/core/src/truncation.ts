import type { Logger } from './types';

/** Texts a model cut to its maximum length over a run: distinct texts (a text met again, in a later epoch, counts once). */
export interface TruncationReport {
  /** Distinct texts that were cut. */
  texts: number;
  /** Distinct texts encoded. */
  of: number;
  maxLength: number;
  /** Tokens in the longest text seen (of its first `charLimit` characters when it was longer). */
  longest: number;
  /** Of `texts`, those longer than `charLimit` characters, cut to it before they were tokenised. */
  cutBeforeTokenising?: number;
  charLimit?: number;
}

/**
 * Characters per token that no tokenizer reaches on real text (English averages about 4; the
 * longest BPE tokens, runs of spaces or dashes, are rare). A text is cut to maxLength × this
 * before it is tokenised, so a huge text costs time and memory for its first
 * maxLength × 32 characters only, not for all of it: its first maxLength tokens are the same.
 */
export const MAX_CHARS_PER_TOKEN = 32;

/**
 * `text` cut to what `maxTokens` tokens can cover (MAX_CHARS_PER_TOKEN each), never inside a
 * surrogate pair; `cut` says whether anything was removed. Tokenizers call it before encoding.
 */
export function cutForTokens(text: string, maxTokens: number): { text: string; cut: boolean; charLimit: number } {
  const charLimit = maxTokens * MAX_CHARS_PER_TOKEN;
  if (text.length <= charLimit) return { text, cut: false, charLimit };
  const high = text.charCodeAt(charLimit - 1);
  const end = high >= 0xd800 && high <= 0xdbff ? charLimit - 1 : charLimit;
  return { text: text.slice(0, end), cut: true, charLimit };
}

/**
 * Counts truncated texts across every batch a model encodes, so a run reports the total
 * ("N of M texts were truncated") instead of the first batch's count. Warns once, at the
 * first truncation; later batches are only counted (LoadedModel.truncation gives the total).
 */
export class TruncationTally {
  private readonly seen = new Set<string>();
  private readonly cut = new Set<string>();
  private readonly cutByChars = new Set<string>();
  private charLimit = 0;
  private longest = 0;
  private maxLength = 0;
  private warned = false;

  constructor(private readonly log: Logger) {}

  /**
   * One batch: the key (id or text) of every text in it, those that were cut, and `warning`
   * describing this batch; `charCut` lists the keys of those cut to `charLimit` characters
   * before tokenising (cutForTokens), a subset of `cutKeys`.
   */
  note(
    keys: readonly string[],
    cutKeys: readonly string[],
    info: { longest: number; maxLength: number; warning: string; charCut?: readonly string[]; charLimit?: number },
  ): void {
    for (const k of keys) this.seen.add(k);
    if (!cutKeys.length) return;
    for (const k of cutKeys) this.cut.add(k);
    for (const k of info.charCut ?? []) this.cutByChars.add(k);
    if (info.charLimit) this.charLimit = info.charLimit;
    this.longest = Math.max(this.longest, info.longest);
    this.maxLength = info.maxLength;
    if (this.warned) return;
    this.warned = true;
    this.log.warn(`${info.warning} (later batches are counted, not reported one by one; the run's summary gives the total)`);
  }

  report(): TruncationReport | undefined {
    if (!this.cut.size) return undefined;
    const r: TruncationReport = { texts: this.cut.size, of: this.seen.size, maxLength: this.maxLength, longest: this.longest };
    return this.cutByChars.size ? { ...r, cutBeforeTokenising: this.cutByChars.size, charLimit: this.charLimit } : r;
  }
}

/** The sentence a run ends with when texts were cut. */
export function formatTruncation(model: string, r: TruncationReport): string {
  const chars = r.cutBeforeTokenising ? `; ${r.cutBeforeTokenising} of them, longer than ${r.charLimit} characters, were cut to that before tokenising` : '';
  return `${model}: ${r.texts} of ${r.of} texts were truncated to ${r.maxLength} tokens over the run (longest ${r.longest} tokens)${chars}; raise model.maxLength to keep more of them`;
}
