import { Argument, Command, Option } from 'commander';
import {
  ConfigError,
  PluginError,
  closeMatches,
  type CommandIO,
  type CommandParameter,
  type LoadedConfig,
  type Logger,
  type RegisteredCommand,
  type Toolkit,
} from '@leantune/core';
import type { CliIO } from './main';
import { fromConfig, fromInstalled } from './toolkit-from-args';

/** Where a plugin command came from: enabled by the -c config, or an installed plugin package. */
interface Offered {
  command: RegisteredCommand;
  enabled: boolean;
}

/** What main needs back: the exit code a plugin command returned. */
export interface PluginCommandResult {
  code?: number;
}

/** The -c/--config value in argv, if any. */
function configArg(args: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '-c' || args[i] === '--config') return args[i + 1];
    if (args[i].startsWith('--config=')) return args[i].slice('--config='.length);
  }
  return undefined;
}

/** The command words before the first option: ['data', 'pack'] from `data pack -c x`. */
function commandWords(args: string[]): string[] {
  const words: string[] = [];
  for (const a of args) {
    if (a.startsWith('-')) break;
    words.push(a);
  }
  return words;
}

function camel(name: string): string {
  return name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

function parser(p: CommandParameter, flag: string): ((value: string) => unknown) | undefined {
  if (p.type !== 'number') return undefined;
  return (value: string) => {
    const n = Number(value);
    if (Number.isNaN(n)) throw new ConfigError(`${flag} must be a number, got "${value}"`);
    return n;
  };
}

/** Commands of the -c config's plugins, then those of every installed plugin not already offered. */
function offered(installed: Toolkit, loaded: LoadedConfig | undefined): Offered[] {
  const out = new Map<string, Offered>();
  for (const command of loaded?.toolkit.commands.list() ?? []) out.set(command.name, { command, enabled: true });
  for (const command of installed.commands.list()) {
    const same = out.get(command.name);
    if (!same) out.set(command.name, { command, enabled: !loaded });
    else if (same.command.plugin !== command.plugin) {
      throw new PluginError(
        `Duplicate command "${command.name}": registered by ${same.command.plugin} (enabled in ${loaded!.source.file}) and by ${command.plugin} (installed). Uninstall one of them, or rename one command.`,
      );
    }
  }
  return [...out.values()];
}

/** A commander command for a plugin's command definition; its action runs the definition. */
function toCommander(leaf: string, def: RegisteredCommand, io: CliIO, context: { loaded?: LoadedConfig; installed: Toolkit; result: PluginCommandResult }): Command {
  const cmd = new Command(leaf).description(def.description).summary(`${def.description} (plugin ${def.plugin})`);
  for (const a of def.arguments ?? []) {
    const arg = new Argument(a.required ? `<${a.name}>` : `[${a.name}]`, a.description);
    if (a.default !== undefined) arg.default(a.default);
    const parse = parser(a, a.name);
    if (parse) arg.argParser(parse);
    cmd.addArgument(arg);
  }
  if (def.config) {
    const option = new Option('-c, --config <file>', def.config.description ?? 'config file');
    cmd.addOption(def.config.required ? option.makeOptionMandatory() : option);
  }
  for (const o of def.options ?? []) {
    const flags = `${o.short ? `-${o.short}, ` : ''}--${o.name}${o.type === 'boolean' ? '' : ` <${o.value ?? o.name}>`}`;
    const option = new Option(flags, o.description);
    if (o.required) option.makeOptionMandatory();
    if (o.default !== undefined) option.default(o.default);
    const parse = parser(o, `--${o.name}`);
    if (parse) option.argParser(parse);
    cmd.addOption(option);
  }
  const examples = def.examples?.length ? `\nExample${def.examples.length > 1 ? 's' : ''}:\n${def.examples.map((e) => `  ${e}`).join('\n')}\n` : '';
  cmd.addHelpText('after', `${examples}\nFrom plugin ${def.plugin}.`);
  cmd.action(async (...params: unknown[]) => {
    const positional = params.slice(0, (def.arguments ?? []).length);
    const opts = params[(def.arguments ?? []).length] as Record<string, unknown>;
    const args: Record<string, unknown> = {};
    (def.arguments ?? []).forEach((a, i) => (args[a.name] = positional[i]));
    for (const o of def.options ?? []) args[o.name] = opts[camel(o.name)];
    const log: Logger = { info: (m) => io.err(`${m}\n`), warn: (m) => io.err(`warning: ${m}\n`) };
    let loading: Promise<LoadedConfig> | undefined;
    const commandIO: CommandIO = {
      cwd: io.cwd,
      out: io.out,
      err: io.err,
      log,
      config: context.loaded,
      // The CLI's default config stands in when -c is not given, as for `leantune train`.
      loadConfig: () => (loading ??= context.loaded ? Promise.resolve(context.loaded) : fromConfig(undefined)),
      async loadDataset(spec) {
        const { toolkit, config, configDir } = await commandIO.loadConfig();
        if (context.loaded) return toolkit.createRun(config, { configDir }).context.loadDatasetSpec(spec);
        // Without -c, paths in the spec are the user's: from the current folder.
        const run = toolkit.createRun(config, { configDir: io.cwd });
        const answers = (loaders: Toolkit['datasets']) => loaders.list().find((l) => l.test(spec));
        const other = answers(toolkit.datasets) ? undefined : answers(context.installed.datasets);
        return other ? other.load(spec, run.context) : run.context.loadDatasetSpec(spec);
      },
    };
    const code = await def.run(args, commandIO);
    if (typeof code === 'number') context.result.code = code;
  });
  return cmd;
}

/** The commands below a group, for its description: "pack, unpack (plugin a); drift (plugin b)". */
function byPlugin(commands: RegisteredCommand[]): string {
  const groups = new Map<string, string[]>();
  for (const c of commands) groups.set(c.plugin, [...(groups.get(c.plugin) ?? []), c.name.split(' ').pop()!]);
  return [...groups].map(([plugin, names]) => `${names.join(', ')} (${plugin})`).join('; ');
}

/** Adds one plugin command under its group, refusing a clash with a built-in command. */
function mount(program: Command, groups: readonly Command[], def: RegisteredCommand, cmd: Command): void {
  const path = def.name.split(' ');
  const leaf = path[path.length - 1];
  let parent = program;
  if (path.length > 1) {
    const group = groups.find((g) => g.name() === path.slice(0, -1).join(' '));
    if (!group) {
      throw new PluginError(
        `Plugin ${def.plugin} registers command "${def.name}", but "${path.slice(0, -1).join(' ')}" is not a command group (groups: ${groups.map((g) => g.name()).join(', ') || 'none'}). Register it under a group, or as a new top-level name.`,
      );
    }
    parent = group;
  }
  if (parent.commands.some((c) => c.name() === leaf || c.aliases().includes(leaf))) {
    throw new PluginError(`Plugin ${def.plugin} registers command "${def.name}", which is a built-in command of leantune. Rename the plugin's command.`);
  }
  parent.addCommand(cmd.copyInheritedSettings(parent));
}

/**
 * Built-in commands run without loading any plugin. Otherwise (a group, help, an unknown
 * word) the commands of the installed plugins, and of the -c config's plugins, are added to
 * the program; an unknown command that resembles one of them is answered with its plugin.
 */
export async function addPluginCommands(program: Command, groups: readonly Command[], argv: string[], io: CliIO): Promise<PluginCommandResult> {
  const result: PluginCommandResult = {};
  const args = argv.slice(2);
  const words = commandWords(args);
  const builtin = words.length ? program.commands.find((c) => c.name() === words[0]) : undefined;
  if (builtin && !groups.includes(builtin)) return result;
  if (!words.length && (args.includes('-V') || args.includes('--version'))) return result;
  const file = configArg(args);
  // An installed package that fails to load is named only where it matters: help, or a command not found.
  const skipped: string[] = [];
  const installed = await fromInstalled(io.cwd, (m) => skipped.push(`warning: ${m}\n`));
  const loaded = file ? await fromConfig(file) : undefined;
  const context = { loaded, installed, result };
  const commands = offered(installed, loaded);
  for (const { command } of commands) mount(program, groups, command, toCommander(command.name.split(' ').pop()!, command, io, context));
  for (const group of groups) {
    const inside = commands.map((c) => c.command).filter((c) => c.name.startsWith(`${group.name()} `));
    const base = group.description();
    group.description(inside.length ? `${base} From plugins: ${byPlugin(inside)}.` : `${base} No installed plugin adds any.`);
  }
  const found = commandFound(program, words);
  if (!found.complete || args.includes('-h') || args.includes('--help') || !words.length || words[0] === 'help') skipped.forEach((w) => io.err(w));
  const hint = found.complete ? undefined : unknownCommandHint(words.slice(0, found.depth + 1).join(' '), commands, loaded);
  if (hint) throw new ConfigError(hint);
  return result;
}

/** How many of the command words name commands; complete when the rest are a leaf command's arguments. */
function commandFound(program: Command, words: string[]): { depth: number; complete: boolean } {
  let parent = program;
  let depth = 0;
  for (const word of words) {
    const next = parent.commands.find((c) => c.name() === word || c.aliases().includes(word));
    if (!next) break;
    parent = next;
    depth++;
  }
  return { depth, complete: !words.length || words[0] === 'help' || depth === words.length || (depth > 0 && parent.commands.length === 0) };
}

/** For a mistyped command: the plugin commands it resembles, each with its plugin, and whether the config enables it. */
function unknownCommandHint(typed: string, commands: Offered[], loaded: LoadedConfig | undefined): string | undefined {
  const close = closeMatches(typed, commands.map((c) => c.command.name));
  if (!close.length) return undefined;
  const named = close.map((name) => {
    const c = commands.find((o) => o.command.name === name)!;
    const enable = loaded && !c.enabled ? `; installed, not enabled in ${loaded.source.file}` : '';
    return `"leantune ${name}" (plugin ${c.command.plugin}${enable})`;
  });
  return `Unknown command "leantune ${typed}". Did you mean ${named.join(' or ')}?`;
}
