import fs from 'node:fs';
import path from 'node:path';
import type { Tokenizer } from '@huggingface/tokenizers' with { 'resolution-mode': 'import' };
import { cutForTokens, type Logger, type TruncationTally } from '@leantune/core';
import { readJsonFile } from './config';

// The package is ESM-typed but ships a CommonJS build ("require" export), which is what loads here.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const tokenizers = require('@huggingface/tokenizers') as { Tokenizer: typeof Tokenizer };

export interface TextBatch {
  ids: number[][];
  attentionMask: number[][];
  tokenTypeIds: number[][];
  /** Rows that were longer than the model allows and were cut. */
  truncated: number;
}

/**
 * A `tokenizer.json` through @huggingface/tokenizers (pure JS, the format's reference
 * port), plus what the models need around it: truncation that keeps the special tokens,
 * and right padding.
 */
export class HfTokenizer {
  private readonly specials: { prefix: number[]; suffix: number[] };

  constructor(
    readonly tokenizer: Tokenizer,
    readonly padId: number,
    readonly source: string,
  ) {
    this.specials = this.specialLayout();
  }

  static load(dir: string, fallbackPadId: number | undefined): HfTokenizer {
    const json = readJsonFile(dir, 'tokenizer.json', 'download tokenizer.json from the model page on huggingface.co into this folder');
    const configFile = path.join(dir, 'tokenizer_config.json');
    const config = fs.existsSync(configFile) ? readJsonFile(dir, 'tokenizer_config.json', '') : {};
    let tokenizer: Tokenizer;
    try {
      tokenizer = new tokenizers.Tokenizer(json, config);
    } catch (err) {
      throw new Error(`${path.join(dir, 'tokenizer.json')}: not a tokenizer this library can read (${(err as Error).message})`);
    }
    const padding = json.padding as { pad_id?: unknown } | null | undefined;
    const padId = typeof padding?.pad_id === 'number' ? padding.pad_id : fallbackPadId ?? 0;
    return new HfTokenizer(tokenizer, padId, path.join(dir, 'tokenizer.json'));
  }

  /** The special tokens the post-processor puts before and after a single sequence. */
  private specialLayout(): { prefix: number[]; suffix: number[] } {
    const empty = this.tokenizer.encode('').ids;
    const probe = this.tokenizer.encode('a').ids;
    let p = 0;
    while (p < empty.length && empty[p] === probe[p]) p++;
    return { prefix: empty.slice(0, p), suffix: empty.slice(p) };
  }

  /** Cuts content tokens (never the special ones) so the row holds at most `max` ids. */
  private truncate(ids: number[], max: number): number[] {
    const { prefix, suffix } = this.specials;
    const content = ids.slice(prefix.length, ids.length - suffix.length);
    return [...prefix, ...content.slice(0, Math.max(0, max - prefix.length - suffix.length)), ...suffix];
  }

  /**
   * Encodes and right-pads `texts` to the longest row. Rows over `maxTokens` are truncated
   * with one warning per batch, as transformers' tokenizers do with truncation=True; with a
   * tally, every batch is counted there and only the first truncation warns.
   */
  encodeBatch(texts: readonly string[], maxTokens: number, log?: Logger, tally?: TruncationTally): TextBatch {
    let truncated = 0;
    let longest = 0;
    const cut: string[] = [];
    const charCut: string[] = [];
    let charLimit = 0;
    const rows = texts.map((text) => {
      // A huge text is cut to what maxTokens tokens can cover before it is encoded (the encoder's cost grows with the text).
      const source = cutForTokens(text, maxTokens);
      charLimit = source.charLimit;
      const enc = this.tokenizer.encode(source.text, { return_token_type_ids: true });
      longest = Math.max(longest, enc.ids.length);
      if (enc.ids.length <= maxTokens && !source.cut) return { ids: enc.ids, types: enc.token_type_ids ?? enc.ids.map(() => 0) };
      truncated++;
      cut.push(text);
      if (source.cut) charCut.push(text);
      const ids = this.truncate(enc.ids, maxTokens);
      return { ids, types: (enc.token_type_ids ?? ids.map(() => 0)).slice(0, ids.length) };
    });
    const warning =
      `${this.source}: ${truncated} of ${texts.length} texts are longer than ${maxTokens} tokens (the model's positions, or model.maxLength) ` +
      `(longest: ${longest} tokens) and were truncated to ${maxTokens}` +
      (charCut.length ? ` (${charCut.length} of them longer than ${charLimit} characters, cut to that before tokenising)` : '');
    if (tally) tally.note(texts, cut, { longest, maxLength: maxTokens, warning, charCut, charLimit });
    else if (truncated > 0) (log ?? console).warn(warning);
    const width = Math.max(1, ...rows.map((r) => r.ids.length));
    const pad = (row: number[], value: number) => [...row, ...new Array<number>(width - row.length).fill(value)];
    return {
      ids: rows.map((r) => pad(r.ids, this.padId)),
      attentionMask: rows.map((r) => pad(r.ids.map(() => 1), 0)),
      tokenTypeIds: rows.map((r) => pad(r.types, 0)),
      truncated,
    };
  }
}
