import fs from 'node:fs';
import path from 'node:path';
import { downloadFile } from '@huggingface/hub';

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

const REQUIRED = ['config.json', 'model.safetensors'];
/** At least one of these: text models ship a tokenizer, image models a preprocessor config. */
const INPUT_FILES = ['tokenizer.json', 'preprocessor_config.json'];
const OPTIONAL = ['tokenizer_config.json'];

function manualHint(repo: string, dir: string): string {
  const url = `https://huggingface.co/${repo}/tree/main`;
  return (
    `Download the files by hand from ${url}: config.json, model.safetensors, and tokenizer.json (text models) ` +
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
      if (required) throw new Error(`${repo} has no ${file} on the Hub${file === 'model.safetensors' ? ' (it may only have pytorch_model.bin, or sharded weights)' : ''}. ${manualHint(repo, dir)}`);
      return false;
    }
    const target = path.join(dir, file);
    // Write to a temp name and rename, so an interrupted pull never leaves a half file.
    const temp = `${target}.part`;
    fs.writeFileSync(temp, new Uint8Array(await blob.arrayBuffer()));
    fs.renameSync(temp, target);
    written.push(target);
    return true;
  };
  for (const file of REQUIRED) await save(file, true);
  let inputs = 0;
  for (const file of INPUT_FILES) if (await save(file, false)) inputs++;
  if (inputs === 0) throw new Error(`${repo} has neither tokenizer.json nor preprocessor_config.json on the Hub. ${manualHint(repo, dir)}`);
  for (const file of OPTIONAL) await save(file, false);
  return { dir, files: written };
}
