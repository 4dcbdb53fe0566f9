import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TruncationTally } from '@leantune/core';
import { HfTokenizer } from '../src/tokenizer';
import { writeTinyHfCheckpoint } from '../src';

// A text longer than maxTokens × 32 characters is cut before the tokenizer sees it: the ids
// are those of the whole text truncated, and the cut is counted in the run's tally.
describe('HfTokenizer.encodeBatch cuts huge texts before tokenising', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lt-hf-cut-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each(['bert', 'gpt2'] as const)('%s: same ids as truncating the whole text, counted once', (kind) => {
    const folder = join(dir, kind);
    writeTinyHfCheckpoint(kind, folder);
    const tok = HfTokenizer.load(folder, 0);
    const long = 'good bad good bad '.repeat(200); // 3,600 characters, over 4 × 32
    // The whole text through the tokenizer, then cut as encodeBatch cuts (special tokens kept).
    const whole = tok.tokenizer.encode(long).ids;
    const full = (tok as unknown as { truncate(ids: number[], max: number): number[] }).truncate(whole, 4);
    expect(whole.length).toBeGreaterThan(400);
    const warnings: string[] = [];
    const tally = new TruncationTally({ warn: (m: string) => warnings.push(m), info() {}, debug() {}, error() {} } as never);
    const got = tok.encodeBatch([long, 'good'], 4, undefined, tally);
    expect(got.ids[0]).toEqual(full);
    expect(got.truncated).toBe(1);
    expect(warnings[0]).toMatch(/1 of 2 texts are longer than 4 tokens .*\(1 of them longer than 128 characters, cut to that before tokenising\)/);
    expect(tally.report()).toEqual({ texts: 1, of: 2, maxLength: 4, longest: expect.any(Number), cutBeforeTokenising: 1, charLimit: 128 });
  });
});
