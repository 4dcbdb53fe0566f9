import fs from 'node:fs';
import path from 'node:path';
import { saveSafetensorsAtomic, type PointRegistry, type TokenizerCapability } from '@leantune/core';
import { tf, type Module } from '@leantune/tensor';
import { readJsonFile } from './config';
import { writeShardedSafetensors } from './shards';
import type { Lazy } from './side-files';
import type { HfTokenizer } from './tokenizer';

export interface Joined {
  /** Embeddings with the virtual tokens in [b, n + s, d]. */
  h: tf.Tensor;
  /** The attention mask [b, n + s] with ones for the virtual tokens (undefined when none was given). */
  mask?: tf.Tensor;
  /** How many virtual tokens were joined. */
  n: number;
}

/**
 * Joins the registered virtual tokens to `embeds` [b, s, d]: before every token
 * ('prepend') or after the first one ('after-cls'). Without a registered provider the
 * inputs come back as they are (the same tensors).
 */
export function joinVirtualTokens(points: PointRegistry, embeds: tf.Tensor, attentionMask: tf.Tensor | undefined, placement: 'prepend' | 'after-cls', training: boolean): Joined {
  const [batch, , dim] = embeds.shape as [number, number, number];
  const virtual = points.virtualTokens(batch, dim, training);
  if (!virtual) return { h: embeds, mask: attentionMask, n: 0 };
  const n = virtual.shape[1];
  const h =
    placement === 'prepend'
      ? tf.concat([virtual, embeds], 1)
      : tf.concat([tf.slice(embeds, [0, 0, 0], [-1, 1, -1]), virtual, tf.slice(embeds, [0, 1, 0], [-1, -1, -1])], 1);
  let mask = attentionMask;
  if (attentionMask) {
    const ones = tf.ones([batch, n], attentionMask.dtype);
    mask = placement === 'prepend' ? tf.concat([ones, attentionMask], 1) : tf.concat([tf.slice(attentionMask, [0, 0], [-1, 1]), ones, tf.slice(attentionMask, [0, 1], [-1, -1])], 1);
  }
  return { h, mask, n };
}

/** Files beside config.json that describe inputs: copied into an exported model as they are. */
export const HF_SIDE_FILES = ['tokenizer.json', 'tokenizer_config.json', 'chat_template.jinja', 'preprocessor_config.json', 'special_tokens_map.json', 'vocab.txt', 'merges.txt', 'vocab.json'];

/** The tokenizer capability of a tokenizer.json folder. */
export function tokenizerCapability(tokenizer: Lazy<HfTokenizer>, dir: string): TokenizerCapability {
  return {
    encode: (text) => tokenizer().tokenizer.encode(text).ids,
    decode: (ids) => tokenizer().tokenizer.decode([...ids]),
    files: HF_SIDE_FILES.filter((f) => f !== 'preprocessor_config.json').map((f) => path.join(dir, f)).filter((f) => fs.existsSync(f)),
  };
}

/**
 * Writes `module` in the Hub layout into `out`: config.json (the checkpoint's, with
 * id2label/label2id from `labels`), model.safetensors (transformers' names) and the
 * tokenizer / preprocessor files of the source folder.
 */
/** transformers' default max_shard_size ("5GB"): larger exports are written in shards. */
export const DEFAULT_MAX_SHARD_BYTES = 5e9;

export function exportHubFolder(module: Module, sourceDir: string, out: string, labels?: readonly string[], maxShardBytes = DEFAULT_MAX_SHARD_BYTES): string[] {
  const config = readJsonFile(sourceDir, 'config.json', 'the source checkpoint folder must still hold its config.json');
  if (labels) {
    config.id2label = Object.fromEntries(labels.map((l, i) => [String(i), l]));
    config.label2id = Object.fromEntries(labels.map((l, i) => [l, i]));
  }
  fs.writeFileSync(path.join(out, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
  const files = ['config.json'];
  for (const f of HF_SIDE_FILES) {
    if (!fs.existsSync(path.join(sourceDir, f))) continue;
    fs.copyFileSync(path.join(sourceDir, f), path.join(out, f));
    files.push(f);
  }
  const state = module.stateDict();
  const bytes = [...state.values()].reduce((n, t) => n + t.size * 4, 0);
  if (bytes <= maxShardBytes) {
    saveSafetensorsAtomic(path.join(out, 'model.safetensors'), state, { format: 'pt' });
    return [...files, 'model.safetensors'].sort();
  }
  // Like save_pretrained: shards of at most maxShardBytes and model.safetensors.index.json.
  const written = writeShardedSafetensors(out, state, maxShardBytes, (file, shard) => saveSafetensorsAtomic(file, shard, { format: 'pt' }));
  return [...files, ...written].sort();
}
