// Embeddings of the modules vs the shipped graph run by tfjs-converter: slice 3 of 3, plus a
// text over 128 tokens, cut to its first 128 on both sides (the graph clips the same way).
import { loadUseLiteTokenizer } from '@leantune/plugin-use-lite';
import { LONG_TEXT, SENTENCES } from './fixtures/sentences';
import { PARITY_SLICES, parityTest } from './parity-helper';

it('covers every fixture sentence across the three parity files, and the long text is cut', () => {
  expect(PARITY_SLICES.flat()).toEqual(SENTENCES);
  expect(SENTENCES.length).toBeGreaterThanOrEqual(50);
  expect(loadUseLiteTokenizer().encode(LONG_TEXT).length).toBeGreaterThan(128);
});

parityTest(`sentences 41–${SENTENCES.length} and a 128-token text`, [...PARITY_SLICES[2], LONG_TEXT]);
