import { Module, SafetensorsFile, tf } from '@leantune/tensor';
import { openTensorSource, type TensorSource } from './shards';

export interface WeightLoadOptions {
  /** The architecture's base-model prefix ('bert', 'transformer', ...): checkpoints saved from the bare model lack it. */
  basePrefix?: string;
  /**
   * A bare model (BertModel, ViTModel, GPT2Model) loads from a task model's checkpoint too:
   * its keys carry this prefix ('bert.embeddings…'), as transformers strips base_model_prefix.
   */
  taskPrefix?: string;
  /** Parameter path prefixes that may be absent (task heads, the pooler): they keep their fresh init. */
  optional?: readonly string[];
  /** Parameter path prefixes never loaded: a head rebuilt for a different label set. */
  skip?: readonly string[];
  /** Summarises config.json in error messages, e.g. "model_type bert, hidden_size 8". */
  configSummary: string;
}

export interface WeightLoadReport {
  file: string;
  loaded: number;
  /** Parameters left at their fresh initialisation (allowed by `optional`). */
  fresh: string[];
  /** Checkpoint tensors no parameter took (e.g. an MLM head, or buffers like position_ids). */
  unused: string[];
}

/** Names a checkpoint may use for a parameter, most likely first. */
function candidateKeys(param: string, basePrefix: string | undefined, taskPrefix?: string): string[] {
  const names = [param];
  if (basePrefix && param.startsWith(`${basePrefix}.`)) names.push(param.slice(basePrefix.length + 1));
  if (taskPrefix) names.push(`${taskPrefix}.${param}`);
  // Old BERT-era checkpoints (bert-base-uncased among them) name LayerNorm weights gamma/beta;
  // transformers renames them on load, so do we.
  for (const n of [...names]) {
    if (/LayerNorm\.weight$/.test(n)) names.push(n.replace(/weight$/, 'gamma'));
    if (/LayerNorm\.bias$/.test(n)) names.push(n.replace(/bias$/, 'beta'));
  }
  return names;
}

/**
 * Loads `<dir>/model.safetensors`, or the shards `model.safetensors.index.json` lists, into
 * `module` by parameter name, one tensor at a time and one shard at a time (only headers
 * are read up front; one shard file is open at once). Every shape is checked against the
 * module, which was built from config.json, before a value is assigned.
 */
export function loadCheckpointWeights(module: Module, dir: string, options: WeightLoadOptions, source: TensorSource = openTensorSource(dir)): WeightLoadReport {
  const file = source.file;
  const used = new Set<string>();
  const fresh: string[] = [];
  const plan: Array<[string, string]> = [];
  for (const [param, p] of module.namedParameters()) {
    if (options.skip?.some((prefix) => param.startsWith(prefix))) {
      fresh.push(param);
      continue;
    }
    const tried = candidateKeys(param, options.basePrefix, options.taskPrefix);
    const key = tried.find((k) => source.has(k));
    if (!key) {
      if (options.optional?.some((prefix) => param.startsWith(prefix))) {
        fresh.push(param);
        continue;
      }
      const alt = tried.length > 1 ? ` (also tried ${tried.slice(1).map((k) => `"${k}"`).join(', ')})` : '';
      throw new Error(
        `${file}: missing tensor "${param}"${alt}; the checkpoint does not match config.json (${options.configSummary}). ` +
          'Download the weights that belong to this config.json.',
      );
    }
    const shape = source.shape(key);
    if (!tf.util.arraysEqual(shape, p.shape)) {
      throw new Error(
        `${source.shardOf(key)}: tensor "${key}" has shape [${shape}] but config.json (${options.configSummary}) implies [${p.shape}] for "${param}"; ` +
          'the checkpoint and config.json do not belong together.',
      );
    }
    plan.push([param, key]);
    used.add(key);
  }
  // Shapes are all checked before the first assignment, so a failed load changes nothing.
  for (const shard of source.shards) {
    const here = plan.filter(([, key]) => source.shardOf(key) === shard);
    if (!here.length) continue;
    const st = SafetensorsFile.open(shard);
    try {
      for (const [param, key] of here) {
        const value = st.get(key);
        try {
          module.loadStateDict(new Map([[param, value]]), { source: shard });
        } finally {
          value.dispose();
        }
      }
    } finally {
      st.close();
    }
  }
  return { file, loaded: plan.length, fresh, unused: source.keys().filter((k) => !used.has(k)) };
}
