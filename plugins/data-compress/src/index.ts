import { isAbsolute, resolve } from 'node:path';
import { definePlugin, type Dataset, type DatasetSpec, type RunContext } from '@leantune/core';
import { PLUGIN_NAME, unpackDataset } from './unpack';
import { packCommand, unpackCommand } from './commands';

/**
 * Registers the `pack` dataset loader: `"data": { "name": "pack", "path": "packs/mnist" }`
 * loads a pack written by packDataset / `leantune data pack`, verifying every shard; and the
 * commands `leantune data pack` and `leantune data unpack`.
 */
export default definePlugin({
  meta: { name: PLUGIN_NAME, version: '0.1.0', core: '^0.1.0', description: 'Sharded, content-addressed dataset packs (gzip/brotli, fp16/uint8) with integrity checks' },
  apply(ctx) {
    ctx.datasets.register({
      name: 'pack',
      description: 'A dataset pack folder (manifest.json + sha256-named shards); option "path"',
      datasets: ['pack'],
      test: (spec) => spec.name === 'pack',
      async load(spec: DatasetSpec, runCtx: RunContext): Promise<Dataset> {
        if (typeof spec.path !== 'string' || spec.path === '') {
          throw new Error('Dataset "pack" needs a "path" option naming the pack folder (relative to the config file or absolute)');
        }
        return unpackDataset(isAbsolute(spec.path) ? spec.path : resolve(runCtx.configDir ?? process.cwd(), spec.path));
      },
    });
    ctx.commands.register(packCommand);
    ctx.commands.register(unpackCommand);
  },
});

export { PLUGIN_NAME, PackIntegrityError, readManifest, unpackDataset, verifyPack } from './unpack';
export { packCommand, unpackCommand } from './commands';
export { packDataset, type PackOptions, type PackSummary } from './pack';
export { exportJsonl, describeDataset } from './export';
export { datasetCard } from './card';
export { CARD_FILE, COMPRESSIONS, MANIFEST_FILE, PACK_FORMAT, PACK_VERSION, inferSchema, type Compression, type PackManifest, type PackSchema, type ShardEntry } from './manifest';
export { QUANTIZE_MODES, decodeArray, encodeArray, type QuantizeMode } from './quantize';
export { fromHalfBits, toHalfBits, fromHalfArray, toHalfArray } from './half';
export { encodeShard, decodeShard, SHARD_MAGIC, type PackedRecord } from './shard-codec';
