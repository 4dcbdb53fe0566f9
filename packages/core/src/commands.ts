import { RegistryError } from './errors';
import type { LoadedConfig } from './from-config';
import type { Dataset, DatasetSpec, Logger } from './types';

/** A positional argument or an option of a plugin command, declared as data. */
export interface CommandParameter {
  /** Positional: shown as <name>. Option: --name (kebab-case), read back as args[name]. */
  name: string;
  description: string;
  required?: boolean;
  default?: string | number | boolean;
  /** How the value is parsed (default 'string'); an option of type 'boolean' is a flag without a value. */
  type?: 'string' | 'number' | 'boolean';
  /** Options only: a one-letter alias, e.g. 'o' for -o. */
  short?: string;
  /** Options only: the value's placeholder in help, e.g. 'dir' for --out <dir> (default the name). */
  value?: string;
}

/** What a plugin command's run receives besides its arguments. */
export interface CommandIO {
  /** The folder the command was started from: resolve relative paths against it. */
  cwd: string;
  out(text: string): void;
  err(text: string): void;
  log: Logger;
  /** The config given with -c, loaded with its plugins (its toolkit and resolved config). */
  config?: LoadedConfig;
  /** The config given with -c, else the CLI's default config, loaded on first call. */
  loadConfig(): Promise<LoadedConfig>;
  /**
   * A dataset spec through dataset loaders, without stages: the -c config's; without -c the
   * default config's, else any installed plugin's, with relative paths from `cwd`.
   */
  loadDataset(spec: DatasetSpec): Promise<Dataset>;
}

/**
 * A command-line subcommand a plugin adds (`ctx.commands.register`): plain data and a run
 * function, so the CLI can list it in help without running anything.
 */
export interface CommandDefinition {
  /** 'data pack': a space-separated path under an existing group, or a new top-level name. */
  name: string;
  description: string;
  arguments?: readonly CommandParameter[];
  options?: readonly CommandParameter[];
  /** Whether the command takes -c/--config <file>; the CLI loads it into io.config. */
  config?: { required?: boolean; description?: string };
  /** Lines shown under "Example:" in the command's help. */
  examples?: readonly string[];
  /** Resolves to the exit code (default 0); throw a LeantuneError for a usage or config mistake. */
  run(args: Record<string, unknown>, io: CommandIO): Promise<number | void> | number | void;
}

export type RegisteredCommand = CommandDefinition & { plugin: string };

const COMMAND_NAME = /^[a-z][a-z0-9-]*( [a-z][a-z0-9-]*)*$/;
const PARAM_NAME = /^[a-z][a-z0-9-]*$/;
const TYPES = ['string', 'number', 'boolean'];

function parameterProblems(list: unknown, field: string): string[] {
  if (list === undefined) return [];
  if (!Array.isArray(list)) return [`${field} must be an array of { name, description }`];
  const problems: string[] = [];
  list.forEach((p: Partial<CommandParameter>, i) => {
    const at = `${field}[${i}]`;
    if (!p || typeof p !== 'object') return void problems.push(`${at} must be an object`);
    if (typeof p.name !== 'string' || !PARAM_NAME.test(p.name)) problems.push(`${at}.name must be lower-case kebab-case, e.g. "out" (got ${JSON.stringify(p.name)})`);
    if (typeof p.description !== 'string') problems.push(`${at}.description must be a string`);
    if (p.type !== undefined && !TYPES.includes(p.type)) problems.push(`${at}.type must be one of ${TYPES.join(', ')}`);
    if (p.short !== undefined && (typeof p.short !== 'string' || !/^[a-zA-Z]$/.test(p.short))) problems.push(`${at}.short must be one letter`);
  });
  return problems;
}

/** Problems with a command definition's shape, for the registration error. */
export function commandShapeProblems(def: Partial<CommandDefinition>): string[] {
  const problems: string[] = [];
  if (typeof def.name !== 'string' || !COMMAND_NAME.test(def.name)) {
    problems.push(`name must be lower-case words separated by single spaces, e.g. "data pack" (got ${JSON.stringify(def.name)})`);
  }
  if (typeof def.description !== 'string' || def.description === '') problems.push('description must be a non-empty string');
  if (typeof def.run !== 'function') problems.push('run(args, io) must be a function');
  problems.push(...parameterProblems(def.arguments, 'arguments'), ...parameterProblems(def.options, 'options'));
  if (def.config !== undefined && (typeof def.config !== 'object' || def.config === null)) problems.push('config must be an object such as { required: true }');
  if (def.examples !== undefined && !(Array.isArray(def.examples) && def.examples.every((e) => typeof e === 'string'))) problems.push('examples must be an array of strings');
  return problems;
}

/** Commands plugins add to the CLI; names are unique across plugins. */
export class CommandRegistry {
  private readonly items = new Map<string, RegisteredCommand>();

  register(def: CommandDefinition, plugin: string): void {
    const problems = commandShapeProblems(def ?? {});
    if (problems.length) {
      throw new RegistryError(`Command ${typeof def?.name === 'string' ? `"${def.name}" ` : ''}from plugin ${plugin} is not valid: ${problems.join('; ')}. See CommandDefinition in @leantune/core.`);
    }
    const same = this.items.get(def.name);
    if (same) {
      throw new RegistryError(`Duplicate command "${def.name}": registered by ${same.plugin} and again by ${plugin}. Enable only one of them, or rename one command.`);
    }
    this.items.set(def.name, { ...def, plugin });
  }

  get(name: string): RegisteredCommand | undefined {
    return this.items.get(name);
  }

  list(): RegisteredCommand[] {
    return [...this.items.values()];
  }
}
