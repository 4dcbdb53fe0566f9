import { cutForTokens, formatTruncation, MAX_CHARS_PER_TOKEN, TruncationTally } from '@leantune/core';

describe('cutForTokens', () => {
  it('leaves a text within maxTokens × MAX_CHARS_PER_TOKEN alone and cuts a longer one to it', () => {
    expect(cutForTokens('a'.repeat(4 * MAX_CHARS_PER_TOKEN), 4)).toEqual({ text: 'a'.repeat(128), cut: false, charLimit: 128 });
    expect(cutForTokens('b'.repeat(1000), 4)).toEqual({ text: 'b'.repeat(128), cut: true, charLimit: 128 });
  });

  it('never cuts inside a surrogate pair', () => {
    const text = 'x'.repeat(127) + '😀' + 'y'.repeat(50); // the emoji's high surrogate is char 128
    const { text: out, cut } = cutForTokens(text, 4);
    expect(cut).toBe(true);
    expect(out).toBe('x'.repeat(127));
    expect(out.isWellFormed()).toBe(true);
  });
});

describe('TruncationTally with texts cut before tokenising', () => {
  it('counts them over every batch and says so once in the summary', () => {
    const warnings: string[] = [];
    const tally = new TruncationTally({ warn: (m: string) => warnings.push(m), info() {}, debug() {}, error() {} } as never);
    tally.note(['a', 'b'], ['a'], { longest: 20, maxLength: 8, warning: 'first', charCut: ['a'], charLimit: 256 });
    tally.note(['a', 'c'], ['a', 'c'], { longest: 9, maxLength: 8, warning: 'second', charCut: [], charLimit: 256 });
    expect(warnings).toHaveLength(1);
    const report = tally.report()!;
    expect(report).toEqual({ texts: 2, of: 3, maxLength: 8, longest: 20, cutBeforeTokenising: 1, charLimit: 256 });
    expect(formatTruncation('m', report)).toBe(
      'm: 2 of 3 texts were truncated to 8 tokens over the run (longest 20 tokens); 1 of them, longer than 256 characters, were cut to that before tokenising; raise model.maxLength to keep more of them',
    );
  });
});
