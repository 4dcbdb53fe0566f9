import plugin from './plugin';

export default plugin;
export { checkpointDir } from './plugin';
export { loadHfCheckpoint, SUPPORTED_MODEL_TYPES, HF_TASKS, type HfTask, type LoadHfOptions } from './loader';
export { OUTPUT_NAMES, type ModelOutputs, type OutputName } from './outputs';
export type { HfLoadedModel } from './loader-types';
export { pullFromHub, type PullOptions, type PullResult } from './hub';
export { pullCommand } from './pull-command';
export { HfTokenizer, type TextBatch } from './tokenizer';
export { preprocessImages, readImageProcessing, type HfImage, type ImageProcessing } from './images';
export { openTensorSource, planShards, writeShardedSafetensors, SAFETENSORS_INDEX, type TensorSource } from './shards';
export { loadCheckpointWeights, type WeightLoadOptions, type WeightLoadReport } from './weights';
export { ConfigReader, type HfConfig } from './config';
export { BertForSequenceClassification, RobertaForSequenceClassification, BertModel, bertDims } from './arch/bert';
export { Gpt2LMHeadModel, Gpt2Model, causalLmLoss, gpt2Dims } from './arch/gpt2';
export { VitForImageClassification, VitModel, vitDims } from './arch/vit';
export { ClipModel, clipDims } from './arch/clip';
export { writeTinyHfCheckpoint, TINY_ARCHS, type TinyArch } from './fixtures';
