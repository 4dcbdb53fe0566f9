// The package's own tokenizer is the reference: EmbeddingsModel builds it from the vocab.
// Its @energetic-ai/core dependency (a bundled second tfjs) is only used to run the graph,
// so it is stubbed here.
jest.mock('@energetic-ai/core', () => ({}));

import { readFileSync } from 'node:fs';
import { loadUseLiteTokenizer, locateUseLiteFiles, UseLiteTokenizer, checkVocab } from '@leantune/plugin-use-lite';
import { LONG_TEXT, SENTENCES } from './fixtures/sentences';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { EmbeddingsModel } = require('@energetic-ai/embeddings') as {
  EmbeddingsModel: new (data: { vocabulary: unknown; model: unknown }) => { tokenizer: { encode(text: string): number[] } };
};

const vocab = JSON.parse(readFileSync(locateUseLiteFiles().vocabJson, 'utf8'));
const reference = new EmbeddingsModel({ vocabulary: vocab, model: undefined }).tokenizer;
const tokenizer = loadUseLiteTokenizer();

/** Deterministic random strings over a mix of scripts, spaces and symbols. */
function randomTexts(count: number): string[] {
  const alphabet = Array.from('abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789 .,:;!?\'"-()/:)\t\néüßçñαβπждя中文日本😀€ﬁＡ\u00a0');
  let state = 12345;
  const next = () => ((state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32);
  return Array.from({ length: count }, () => Array.from({ length: 1 + Math.floor(next() * 60) }, () => alphabet[Math.floor(next() * alphabet.length)]).join(''));
}

describe('UseLiteTokenizer', () => {
  it('gives the ids of the package tokenizer on the fixture sentences', () => {
    expect(SENTENCES.length).toBeGreaterThanOrEqual(50);
    for (const text of [...SENTENCES, LONG_TEXT]) expect({ text, ids: tokenizer.encode(text) }).toEqual({ text, ids: reference.encode(text) });
  });

  it('gives the ids of the package tokenizer on 300 random strings', () => {
    for (const text of randomTexts(300)) expect({ text, ids: tokenizer.encode(text) }).toEqual({ text, ids: reference.encode(text) });
  });

  it('produces known ids and edge cases', () => {
    expect(tokenizer.encode('')).toEqual([]);
    expect(tokenizer.encode('Hello world.')).toEqual([341, 4125, 311, 6]);
    // Unknown characters become id 0, and a run of them collapses to one 0.
    const unknown = tokenizer.encode('😀😀😀');
    expect(unknown.filter((id) => id === 0)).toHaveLength(1);
    expect(tokenizer.encode(LONG_TEXT).length).toBeGreaterThan(128);
    expect(tokenizer.vocabSize).toBe(8000);
  });

  it('rejects a malformed vocab, naming the entry', () => {
    expect(() => checkVocab({}, 'v.json')).toThrow(/v\.json: expected a JSON array/);
    const bad = [...vocab.slice(0, 10), ['x', 'high']];
    expect(() => checkVocab(bad, 'v.json')).toThrow(/v\.json: entry 10 must be \[piece: string, score: number \| null\], got \["x","high"\]/);
  });

  it('follows the reference on a hand-made vocab (ties, null scores, repeated pieces)', () => {
    const reserved = [['<unk>', 0], ['<s>', 0], ['</s>', 0], ['r1', 0], ['r2', 0], ['r3', 0]];
    const small = [...reserved, ['▁ab', -1], ['▁a', -0.5], ['b', -0.5], ['c', null], ['bc', -2], ['b', -0.1]] as Array<[string, number | null]>;
    const ours = new UseLiteTokenizer(small);
    const ref = new EmbeddingsModel({ vocabulary: small, model: undefined }).tokenizer;
    for (const text of ['ab', 'abc', 'a b c', 'abcbc', 'x', 'axxb', 'cc c']) expect([text, ours.encode(text)]).toEqual([text, ref.encode(text)]);
  });
});
