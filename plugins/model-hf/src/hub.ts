import fs from 'node:fs';
import path from 'node:path';
import { downloadFile } from '@huggingface/hub';
import { conversionCommand } from './formats';

export interface PullOptions {
  revision?: string;
  /** Hugging Face access token, for gated or private repositories. */
  accessToken?: string;
  /** For tests and proxies; default the global fetch. */
  fetch?: typeof fetch;
  hubUrl?: string;
}

export interface PullResult {
  dir: string;
  files: string[];
}

import { SAFETENSORS_INDEX } from './shards';

/** Read only when text / images are given, so a repo without them still pulls and loads. */
const OPTIONAL = ['tokenizer.json', 'preprocessor_config.json', 'tokenizer_config.json'];

function manualHint(repo: string, dir: string): string {
  const url = `https://huggingface.co/${repo}/tree/main`;
  return (
    `Download the files by hand from ${url}: config.json, model.safetensors (or ${SAFETENSORS_INDEX} and every shard it lists), and tokenizer.json (text models) ` +
    `or preprocessor_config.json (image models; CLIP needs both), and put them in ${path.resolve(dir)}/`
  );
}

async function fetchFile(repo: string, file: string, options: PullOptions): Promise<Blob | null> {
  return downloadFile({
    repo,
    path: file,
    revision: options.revision,
    accessToken: options.accessToken,
    fetch: options.fetch,
    hubUrl: options.hubUrl,
  });
}

/** The shard files an index lists: plain names in the repo's root only (a hostile index cannot write elsewhere). */
function shardFiles(indexFile: string, repo: string): string[] {
  let weightMap: unknown;
  try {
    weightMap = (JSON.parse(fs.readFileSync(indexFile, 'utf8')) as { weight_map?: unknown }).weight_map;
  } catch (err) {
    throw new Error(`${repo}: ${SAFETENSORS_INDEX} is not valid JSON (${(err as Error).message})`);
  }
  if (typeof weightMap !== 'object' || weightMap === null) throw new Error(`${repo}: ${SAFETENSORS_INDEX} has no "weight_map"`);
  const shards = [...new Set(Object.values(weightMap as Record<string, unknown>))];
  for (const shard of shards) {
    if (typeof shard !== 'string' || !/^[\w.-]+\.safetensors$/.test(shard) || shard.startsWith('.')) {
      throw new Error(`${repo}: ${SAFETENSORS_INDEX} lists shard ${JSON.stringify(shard)}; only plain .safetensors file names in the repository's root are pulled`);
    }
  }
  return (shards as string[]).sort();
}

/**
 * Downloads a checkpoint folder from the Hugging Face Hub into `dir` (the `leantune pull`
 * command's work). Fails with the manual steps when the Hub cannot be reached.
 */
export async function pullFromHub(repo: string, dir: string, options: PullOptions = {}): Promise<PullResult> {
  if (!/^[\w.-]+(\/[\w.-]+)?$/.test(repo)) throw new Error(`"${repo}" is not a Hub repository id like "bert-base-uncased" or "openai/clip-vit-base-patch32"`);
  fs.mkdirSync(dir, { recursive: true });
  const written: string[] = [];
  const save = async (file: string, required: boolean): Promise<boolean> => {
    let blob: Blob | null;
    try {
      blob = await fetchFile(repo, file, options);
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code;
      throw new Error(`Could not download ${file} from the Hugging Face Hub (${(err as Error).message}${cause ? `, ${cause}` : ''}). ${manualHint(repo, dir)}`);
    }
    if (!blob) {
      if (required) throw new Error(`${repo} has no ${file} on the Hub. ${manualHint(repo, dir)}`);
      return false;
    }
    const target = path.join(dir, file);
    // Streamed to a temp name and renamed, so a multi-GB shard is never held in memory and an
    // interrupted pull never leaves a half file.
    const temp = `${target}.part`;
    const out = await fs.promises.open(temp, 'w');
    try {
      const reader = blob.stream().getReader();
      for (let r = await reader.read(); !r.done; r = await reader.read()) await out.write(r.value);
    } finally {
      await out.close();
    }
    fs.renameSync(temp, target);
    written.push(target);
    return true;
  };
  await save('config.json', true);
  if (!(await save('model.safetensors', false))) {
    if (!(await save(SAFETENSORS_INDEX, false))) {
      throw new Error(
        `${repo} has neither model.safetensors nor ${SAFETENSORS_INDEX} on the Hub; leantune reads safetensors only. ` +
          `If it has pytorch_model.bin (or tf_model.h5, flax_model.msgpack, .gguf), download it and convert once: ${conversionCommand(dir)}. ${manualHint(repo, dir)}`,
      );
    }
    for (const shard of shardFiles(path.join(dir, SAFETENSORS_INDEX), repo)) await save(shard, true);
  }
  for (const file of OPTIONAL) await save(file, false);
  return { dir, files: written };
}
