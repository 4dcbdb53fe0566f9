import { ConfigError, type CommandDefinition, type DatasetSpec } from '@leantune/core';
import { runDataDrift } from './command';

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

/** `leantune data drift`: a reference and a current dataset, loaded with the config's plugins, compared. */
export const driftCommand: CommandDefinition = {
  name: 'data drift',
  description: 'Compare new data with a reference: PSI and KS per feature, label drift, and whether to retrain.',
  config: { description: 'config whose plugins load the datasets' },
  options: [
    { name: 'reference', value: 'spec', required: true, description: "reference dataset: a name, or JSON ('{\"name\":\"mnist\",\"limit\":500}'; '{\"name\":\"pack\",\"path\":\"packs/x\"}')" },
    { name: 'current', value: 'spec', required: true, description: 'new dataset, as --reference' },
    { name: 'fail-on-retrain', type: 'boolean', description: 'exit 3 when the report recommends retraining' },
  ],
  examples: ['leantune data drift -c leantune.json --reference mnist --current fashion-mnist'],
  async run(args, io) {
    const specs = [parseSpec(String(args.reference), '--reference'), parseSpec(String(args.current), '--current')];
    const reference = await io.loadDataset(specs[0]);
    const current = await io.loadDataset(specs[1]);
    const result = runDataDrift(reference, current, { failOnRetrain: args['fail-on-retrain'] === true });
    io.out(`${result.text}\n`);
    return result.exitCode;
  },
};
