import { existsSync, readdirSync, rmdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { RunError, errorMessage, type CommandDefinition } from '@leantune/core';
import { pullFromHub } from './hub';

/** `leantune pull <repo>`: a Hub checkpoint into a folder; a failed pull leaves no empty folder behind. */
export const pullCommand: CommandDefinition = {
  name: 'pull',
  description: 'Download a Hugging Face checkpoint (config.json, model.safetensors, tokenizer) into a folder.',
  arguments: [{ name: 'repo', required: true, description: 'Hub repository id, e.g. gpt2 or openai/clip-vit-base-patch32' }],
  options: [
    { name: 'out', short: 'o', value: 'dir', description: 'target folder (default models/<repo>)' },
    { name: 'revision', value: 'rev', description: 'branch, tag or commit' },
  ],
  examples: ['leantune pull prajjwal1/bert-tiny -o models/bert-tiny'],
  async run(args, io) {
    const repo = String(args.repo);
    const dir = resolve(io.cwd, typeof args.out === 'string' ? args.out : join('models', repo));
    const existed = existsSync(dir);
    try {
      const result = await pullFromHub(repo, dir, { revision: args.revision as string | undefined });
      io.out(`${JSON.stringify(result)}\n`);
    } catch (err) {
      // A failed pull must not leave an empty folder that looks like a checkpoint.
      if (!existed && existsSync(dir) && readdirSync(dir).length === 0) rmdirSync(dir);
      throw new RunError(errorMessage(err), { cause: err });
    }
  },
};
