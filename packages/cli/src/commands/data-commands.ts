import { resolve } from 'node:path';
import { Command } from 'commander';
import { ConfigError, type Dataset, type DatasetSpec } from '@leantune/core';
import { packDataset, unpackDataset } from '@leantune/plugin-data-compress';
import { runDataDrift } from '@leantune/plugin-data-monitor';
import type { CliIO } from '../main';
import { fromConfig } from '../toolkit-from-args';

function parseSpec(text: string, flag: string): DatasetSpec {
  if (!text.trim().startsWith('{')) return { name: text };
  try {
    const spec = JSON.parse(text) as DatasetSpec;
    if (typeof spec?.name !== 'string') throw new Error('it has no "name"');
    return spec;
  } catch (err) {
    throw new ConfigError(`${flag} must be a dataset name or a JSON dataset spec such as '{"name":"mnist","limit":100}' (${(err as Error).message})`);
  }
}

/** The config's dataset through its stages, or another spec loaded with the config's plugins. */
async function datasetFrom(configFile: string | undefined, spec?: DatasetSpec): Promise<Dataset> {
  if (spec && !configFile && spec.name === 'pack') return unpackDataset(String(spec.path));
  const { toolkit, config, configDir } = await fromConfig(configFile);
  const run = toolkit.createRun(config, { configDir });
  return spec ? run.context.loadDatasetSpec(spec) : run.loadData();
}

/** `leantune data pack | unpack | drift`: compress-and-share and drift monitoring. */
export function dataCommand(io: CliIO): Command {
  const data = new Command('data').description('Dataset packs (share a dataset) and drift checks.');
  data
    .command('pack')
    .description("Write the config's dataset (after its stages) as a content-addressed, compressed, sharded pack with a manifest and a dataset card.")
    .requiredOption('-c, --config <file>', 'config whose data section names the dataset')
    .requiredOption('-o, --out <dir>', 'folder for the pack (must not hold one already)')
    .option('--compression <kind>', 'gzip or brotli', 'gzip')
    .option('--quantize <mode>', 'none, fp16 or uint8 for tensor/image fields', 'none')
    .addHelpText('after', '\nExample:\n  leantune data pack -c leantune.json -o packs/spam --compression brotli')
    .action(async (opts: { config: string; out: string; compression: string; quantize: string }) => {
      const dataset = await datasetFrom(opts.config);
      const summary = await packDataset(dataset, resolve(io.cwd, opts.out), { compression: opts.compression as never, quantize: opts.quantize as never });
      io.out(`${JSON.stringify({ dir: summary.dir, records: summary.manifest.counts, seconds: summary.seconds })}\n`);
    });
  data
    .command('unpack')
    .description('Verify a pack (every shard against its sha256) and print its records as JSON lines.')
    .argument('<dir>', 'pack folder')
    .addHelpText('after', '\nExample:\n  leantune data unpack packs/spam > spam.jsonl')
    .action(async (dir: string) => {
      const dataset = await unpackDataset(resolve(io.cwd, dir));
      for (const record of dataset.records) io.out(`${JSON.stringify(record)}\n`);
    });
  data
    .command('drift')
    .description('Compare new data with a reference: PSI and KS per feature, label drift, and whether to retrain.')
    .option('-c, --config <file>', 'config whose plugins load the datasets')
    .requiredOption('--reference <spec>', "reference dataset: a name, or JSON ('{\"name\":\"mnist\",\"limit\":500}'; '{\"name\":\"pack\",\"path\":\"packs/x\"}')")
    .requiredOption('--current <spec>', 'new dataset, as --reference')
    .option('--fail-on-retrain', 'exit 3 when the report recommends retraining')
    .addHelpText('after', '\nExample:\n  leantune data drift -c leantune.json --reference mnist --current fashion-mnist')
    .action(async (opts: { config?: string; reference: string; current: string; failOnRetrain?: boolean }) => {
      const reference = await datasetFrom(opts.config, parseSpec(opts.reference, '--reference'));
      const current = await datasetFrom(opts.config, parseSpec(opts.current, '--current'));
      const result = runDataDrift(reference, current, { failOnRetrain: opts.failOnRetrain });
      io.out(`${result.text}\n`);
      process.exitCode = result.exitCode || undefined;
    });
  return data;
}
