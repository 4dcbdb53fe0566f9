export { useLitePlugin as default, useLitePlugin, PLUGIN_NAME, loadUseLiteModel } from './plugin';
export { USE_LITE_CONFIG, UseLiteEncoder, type UseLiteEncoderOptions, UseLiteLayer, timingSignal, useLiteHeads, type UseLiteOutput } from './model';
export { UseLiteTokenizer, UNKNOWN_ID, checkVocab, type VocabEntry } from './tokenizer';
export { loadPretrainedUseLite, loadUseLiteTokenizer, type PretrainedUseLite } from './load';
export { createUseLiteModel, padBatch, tokenizeBatch, useLitePoints, USE_LITE_ARCH, type UseLiteInputs, type UseLiteModelOptions } from './loaded-model';
export { parseUseLiteSpec, useLiteSpecSchema, USE_LITE_MAX_LENGTH, type UseLiteHead, type UseLiteSpec } from './spec';
export { USE_LITE_WEIGHT_MAP, TIMING_RATES_NAME, graphToStateDict } from './weight-map';
export { WEIGHTS_PACKAGE, locateUseLiteFiles, readGraphWeights, type GraphWeight, type UseLiteFiles } from './weights';
