import { resolve } from 'node:path';
import type { CommandDefinition } from '@leantune/core';
import type { Compression } from './manifest';
import { packDataset } from './pack';
import type { QuantizeMode } from './quantize';
import { unpackDataset } from './unpack';

/** `leantune data pack`: the config's dataset, after its stages, as a pack. */
export const packCommand: CommandDefinition = {
  name: 'data pack',
  description: "Write the config's dataset (after its stages) as a content-addressed, compressed, sharded pack with a manifest and a dataset card.",
  config: { required: true, description: 'config whose data section names the dataset' },
  options: [
    { name: 'out', short: 'o', value: 'dir', description: 'folder for the pack (must not hold one already)', required: true },
    { name: 'compression', value: 'kind', description: 'gzip or brotli', default: 'gzip' },
    { name: 'quantize', value: 'mode', description: 'none, fp16 or uint8 for tensor/image fields', default: 'none' },
  ],
  examples: ['leantune data pack -c leantune.json -o packs/spam --compression brotli'],
  async run(args, io) {
    const { toolkit, config, configDir } = await io.loadConfig();
    const dataset = await toolkit.createRun(config, { configDir }).loadData();
    const summary = await packDataset(dataset, resolve(io.cwd, String(args.out)), {
      compression: args.compression as Compression,
      quantize: args.quantize as QuantizeMode,
    });
    io.out(`${JSON.stringify({ dir: summary.dir, records: summary.manifest.counts, seconds: summary.seconds })}\n`);
  },
};

/** `leantune data unpack <dir>`: every record of a verified pack, one JSON line each. */
export const unpackCommand: CommandDefinition = {
  name: 'data unpack',
  description: 'Verify a pack (every shard against its sha256) and print its records as JSON lines.',
  arguments: [{ name: 'dir', description: 'pack folder', required: true }],
  examples: ['leantune data unpack packs/spam > spam.jsonl'],
  async run(args, io) {
    const dataset = await unpackDataset(resolve(io.cwd, String(args.dir)));
    for (const record of dataset.records) io.out(`${JSON.stringify(record)}\n`);
  },
};
