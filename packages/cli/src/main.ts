import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { CORE_VERSION, ConfigError, checkModelKnown } from '@leantune/core';
import { checkSchedule, trainConfigOf } from '@leantune/train';
import { datasetSplits, useDefaultReporters } from '@leantune/runner';
import { describeRegistry, formatRegistry } from './commands/inspect-registry';
import { planCompareArms, runCompare, runReport } from './commands/compare';
import { runWorkerCommand } from './commands/worker';
import { modelCommands } from './commands/model-commands';
import { runTrain, useCliReporters } from './commands/train';
import { EXIT, reportError } from './exit';
import { addPluginCommands } from './plugin-commands';
import { DEFAULT_CONFIG, fromConfig, fromInstalled } from './toolkit-from-args';

export interface CliIO {
  out: (s: string) => void;
  err: (s: string) => void;
  cwd: string;
  /** stderr is a terminal: training shows a progress bar there. */
  errIsTTY?: boolean;
  /** All of standard input (predict reads inputs from it). */
  readStdin?: () => Promise<Uint8Array>;
}

export async function readProcessStdin(): Promise<Uint8Array> {
  if (process.stdin.isTTY) return new Uint8Array();
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const defaultIO: CliIO = {
  out: (s) => void process.stdout.write(s),
  err: (s) => void process.stderr.write(s),
  cwd: process.cwd(),
  errIsTTY: process.stderr.isTTY,
  readStdin: readProcessStdin,
};

function parseOverride(text: string | undefined): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`--override is not valid JSON (${(err as Error).message}); pass an object such as '{"name":"x"}'`);
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new ConfigError('--override must be a JSON object of top-level config keys');
  return value as Record<string, unknown>;
}

/** This CLI's version, from its own manifest (as core's is), with the core it runs on. */
export const CLI_VERSION: string = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')).version;

const configOption = () => new Option('-c, --config <file>', 'run config (.json, .js, .cjs, .mjs)');

/** The built-in commands, and the groups (`data`) that plugins' commands go under. */
function buildProgram(io: CliIO): { program: Command; groups: Command[] } {
  const program = new Command('leantune')
    .description('Parameter-efficient fine-tuning and dataset strategies, as plugins.')
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .exitOverride()
    .version(`${CLI_VERSION} (@leantune/core ${CORE_VERSION}, node ${process.version})`, '-V, --version', 'print the version')
    .showHelpAfterError('(run "leantune <command> --help" for usage)');

  program
    .command('validate')
    .description('Check a config file: envelope, plugins, and every method and stage option.')
    .addOption(configOption().makeOptionMandatory())
    .addHelpText('after', '\nExample:\n  leantune validate -c leantune.json')
    .action(async (opts: { config: string }) => {
      const { toolkit, config, source, configDir } = await fromConfig(opts.config);
      await checkModelKnown(toolkit, config.model, configDir, source);
      // Warmup is bounded by the run's length, which needs the training records' count: load the data (no model) to check it.
      if (config.data && trainConfigOf(config).schedule.warmupSteps > 0) {
        const dataset = await toolkit.createRun(structuredClone(config), { configDir }).loadData();
        checkSchedule(trainConfigOf(config), datasetSplits(dataset).train?.length ?? dataset.records.length, source.file);
      }
      // Each compare arm is a config of its own (its method, train and model options): checked as `compare` would before its first run.
      const arms = config.compare?.methods?.length ? (await planCompareArms(toolkit, config, source, config.compare.methods)).arms : [];
      const compared = arms.length ? `; compare: ${arms.length} arms (${arms.map((a) => a.label).join(', ')})` : '';
      io.out(`${source.file}: valid. Plugins: ${toolkit.plugins.map((p) => p.plugin.meta.name).join(', ') || 'none'}; methods: ${Object.keys(config.methods).join(', ') || 'none'}; model: ${config.model.name}${compared}.\n`);
    });

  program
    .command('plugins')
    .description('List plugins and what they register: methods, model loaders, dataset loaders, stages and commands, with the default reporters.')
    .addOption(configOption())
    .option('--json', 'print JSON')
    .addHelpText('after', '\nWithout -c, lists every installed plugin package.\nExamples:\n  leantune plugins\n  leantune plugins -c leantune.json --json')
    .action(async (opts: { config?: string; json?: boolean }) => {
      const toolkit = opts.config ? (await fromConfig(opts.config)).toolkit : await fromInstalled(io.cwd, (m) => io.err(`warning: ${m}\n`));
      // The reporters `leantune train` applies by default are listed with the plugins.
      await useCliReporters(await useDefaultReporters(toolkit), io, {});
      io.out(opts.json ? `${JSON.stringify(describeRegistry(toolkit), null, 2)}\n` : formatRegistry(toolkit));
    });

  program
    .command('schema')
    .description('Print the combined JSON Schema of configs, for editor completion.')
    .addOption(configOption())
    .addHelpText('after', '\nWithout -c, the schema covers every installed plugin.\nExample:\n  leantune schema > leantune.schema.json   # then "$schema": "./leantune.schema.json"')
    .action(async (opts: { config?: string }) => {
      const toolkit = opts.config ? (await fromConfig(opts.config)).toolkit : await fromInstalled(io.cwd, (m) => io.err(`warning: ${m}\n`));
      io.out(`${JSON.stringify(toolkit.combinedSchema(), null, 2)}\n`);
    });

  program
    .command('train')
    .description('Load the model, apply the configured methods, run the dataset stages and train into a run folder.')
    .addOption(configOption())
    .option('--override <json>', 'replace top-level config keys, e.g. \'{"methods":{"lora":{"r":4}}}\'')
    .option('--resume <run>', 'continue an interrupted run folder from its latest checkpoint (same config)')
    .option('-q, --quiet', 'no progress output; only the summary line and warnings')
    .option('--json', 'one JSON object per line on stdout (start, step, epoch, checkpoint, summary)')
    .addHelpText(
      'after',
      `\nWithout -c, trains the embedded default (${DEFAULT_CONFIG}).\nWrites <output.dir>/<time>-<name>/ (output.dir, default "runs", resolves from the config file's folder; from the current folder when given with --override or without -c): config, metrics.jsonl, splits.json, checkpoints/, adapters/<method>/, trainable weights.\nPrints the run folder first (stderr), then one JSON line: metrics, trainable counts, time, peak memory, run folder.\nCtrl-C saves a checkpoint and exits 130; continue with --resume.\nExamples:\n  leantune train -c leantune.json\n  leantune train --resume runs/20250101-120000-spam`,
    )
    .action(async (opts: { config?: string; override?: string; resume?: string; quiet?: boolean; json?: boolean }) => {
      await runTrain({ ...opts, override: parseOverride(opts.override) }, io);
    });

  program
    .command('compare')
    .description('Train the same model and data once per method and seed, each run in its own process, kept in <output.dir>/experiments.sqlite; prints mean ± std [95% CI] per method and which methods a paired t-test cannot tell from the best.')
    .addOption(configOption())
    .option('--methods <ids>', 'comma-separated method ids (default: the config\'s compare.methods)')
    .option('--seeds <n>', 'runs per method, seeds runtime.seed, runtime.seed + 1, … (default 1)')
    .option('--concurrency <auto|n>', 'runs at once; auto: one per core, as many as free memory holds by each method\'s peak RSS seen before (default auto)')
    .option('--resume <experiment>', 'continue an experiment: skip its completed runs, rerun failed and unfinished ones')
    .option('--metric <name>', 'the metric that ranks methods (default accuracy; lower is better for names with loss or error)')
    .option('--queue <url>', 'put the runs on a BullMQ queue in Redis (redis://[:password@]host:port, rediss:// for TLS) for `leantune worker`s, and follow it')
    .option('--attempts <n>', 'with --queue: tries per run, with exponential backoff, before it is recorded failed (default 3)')
    .addHelpText(
      'after',
      '\nConfigs are validated before the first run starts. A run that crashes, runs out of memory or is killed is recorded as failed with its reason; the others go on.\nExamples:\n  leantune compare -c leantune.json --seeds 3\n  leantune compare -c leantune.json --seeds 3 --queue redis://queue-host:6379   # workers: leantune worker --queue redis://queue-host:6379\n  leantune compare -c leantune.json --methods lora,adapter,ia3,bitfit,full,linear-probe --concurrency 2\n  leantune compare -c leantune.json --resume spam-use-lite-20250101-120000\n  leantune report spam-use-lite-20250101-120000',
    )
    .action(async (opts: { config?: string; methods?: string; seeds?: string; concurrency?: string; resume?: string; metric?: string; queue?: string; attempts?: string }) => {
      await runCompare(opts, io);
    });

  program
    .command('worker')
    .description('Run the compare runs that `leantune compare --queue` puts on BullMQ queues in Redis, each in its own process, from this project folder (plugins, data and output.dir resolve from here).')
    .requiredOption('--queue <url>', 'the Redis URL the coordinator was given (redis://[:password@]host:port, rediss:// for TLS; or the password in LEANTUNE_REDIS_PASSWORD)')
    .option('--concurrency <n>', 'runs at once on this machine (default 1)')
    .option('--artifacts <dir>', 'shared folder for run files over the inline limit (the coordinator copies them from there)')
    .option('--inline-limit <MB>', 'run files up to this size travel back in the job result (default 8)')
    .option('--only <queue>', 'take runs from this queue (experiment) only')
    .addHelpText('after', '\nA run whose plugins this machine lacks, or has at an incompatible version, is left on the queue for another worker, with the reason logged.\nExample:\n  leantune worker --queue redis://queue-host:6379 --concurrency 2 --artifacts /shared/leantune-artifacts')
    .action(async (opts: { queue: string; concurrency?: string; artifacts?: string; inlineLimit?: string; only?: string }) => {
      await runWorkerCommand(opts, io);
    });

  program
    .command('report')
    .description('Write an experiment\'s offline HTML report (results, loss curves, accuracy vs trainable share, memory/accuracy Pareto front, cost, configs, environment), Markdown and CSV tables, and a PEFT-style results.json per run.')
    .argument('<experiment>', 'experiment name or id, as `leantune compare` printed it')
    .option('--store <file>', 'the experiment store (default runs/experiments.sqlite)')
    .option('-o, --output <file>', 'the HTML file (default <store folder>/reports/<experiment>/report.html); tables and results/ go beside it')
    .action(async (experiment: string, opts: { store?: string; output?: string }) => {
      await runReport(experiment, opts, io);
    });

  // Filled by plugins' commands (data-compress: pack, unpack; data-monitor: drift), see plugin-commands.ts.
  const groups = [new Command('data').description('Dataset commands that data plugins add.')];
  for (const cmd of [...modelCommands(io), ...groups]) {
    program.addCommand(cmd.configureOutput({ writeOut: io.out, writeErr: io.err }).exitOverride());
  }
  return { program, groups };
}

/** Parses argv and runs one command; resolves to the exit code (0 ok, 1 run failure, 2 usage/config). */
export async function main(argv: string[], io: CliIO = defaultIO): Promise<number> {
  const { program, groups } = buildProgram(io);
  try {
    // Plugins' commands (from the installed plugins, and the -c config's) join the program unless a built-in command was asked for.
    const plugins = await addPluginCommands(program, groups, argv, io);
    await program.parseAsync(argv);
    return plugins.code ?? EXIT.OK;
  } catch (err) {
    if (err instanceof CommanderError) {
      const benign = ['commander.helpDisplayed', 'commander.help', 'commander.version'].includes(err.code);
      return benign ? EXIT.OK : EXIT.USAGE;
    }
    return reportError(err, io.err);
  }
}
