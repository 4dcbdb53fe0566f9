import type { Module, Parameter } from '@leantune/tensor';
import { RegistryError } from './errors';
import type { MethodContext } from './context';

export const METHOD_FAMILIES = ['reparameterization', 'adapter', 'prompt', 'selective', 'baseline'] as const;
export type MethodFamily = (typeof METHOD_FAMILIES)[number];

export type JSONSchema = Record<string, unknown>;

/**
 * A PEFT method. The core knows none by name: each plugin registers its own, and the
 * run calls `inject` through the `inject` hook keyed by `id`.
 */
export interface MethodDefinition<C = Record<string, unknown>> {
  id: string;
  /** Prefix of the parameter names the method adds (e.g. 'lora_'); unique across methods. */
  prefix: string;
  family: MethodFamily;
  description?: string;
  /** JSON Schema of the method's config (the value under `methods.<id>`). */
  configSchema: JSONSchema;
  /** Default target module names per architecture key. */
  defaultTargets?: Readonly<Record<string, readonly string[]>>;
  /** Rewrites the module tree; may return a new root or mutate and return the same one. */
  inject(model: Module, config: C, ctx: MethodContext<C>): Module | void | Promise<Module | void>;
  /**
   * Which parameters this method trains. Default: those with a path segment that starts
   * with `prefix` (e.g. `…q.lora_A.default.weight`). Selective methods (BitFit) override.
   */
  trainable?(path: string, param: Parameter, config: C): boolean;
  /** Folds the method's parameters into the base weights, where the method can. */
  merge?(model: Module, config: C): Module | void;
  /**
   * Writes the trained method in its own file format into `dir` (e.g. a PEFT adapter
   * folder), so tools outside leantune can read it. Called after training.
   */
  save?(model: Module, config: C, dir: string): void;
  /**
   * Loads what `save` wrote onto a base model the method was not injected into, checking
   * that it fits before changing anything; returns the config read from the folder.
   */
  load?(model: Module, dir: string): C | void;
  /** True when `dir` holds this method's files (e.g. an adapter_config.json of its peft_type). */
  recognizes?(dir: string): boolean;
}

export interface RegisteredMethod extends MethodDefinition<any> {
  /** The plugin that registered it. */
  plugin: string;
}

/** An open set of methods: ids and prefixes are unique, nothing else is fixed. */
export class MethodRegistry {
  private readonly byId = new Map<string, RegisteredMethod>();

  register<C>(def: MethodDefinition<C>, plugin: string): void {
    const where = `method "${def?.id}" from plugin ${plugin}`;
    if (typeof def?.id !== 'string' || !/^[a-z][a-z0-9-]*$/.test(def.id)) {
      throw new RegistryError(`Invalid ${where}: id must be lower-case letters, digits and '-', starting with a letter`);
    }
    if (typeof def.prefix !== 'string' || !/^[A-Za-z][A-Za-z0-9_]*$/.test(def.prefix)) {
      throw new RegistryError(`Invalid ${where}: prefix must be an identifier such as "lora_"`);
    }
    if (!METHOD_FAMILIES.includes(def.family)) {
      throw new RegistryError(`Invalid ${where}: family "${def.family}" is not one of ${METHOD_FAMILIES.join(', ')}`);
    }
    if (typeof def.inject !== 'function') throw new RegistryError(`Invalid ${where}: inject must be a function`);
    if (!def.configSchema || typeof def.configSchema !== 'object') {
      throw new RegistryError(`Invalid ${where}: configSchema must be a JSON Schema object`);
    }
    const same = this.byId.get(def.id);
    if (same) {
      throw new RegistryError(
        `Duplicate method id "${def.id}": registered by ${same.plugin} and again by ${plugin}. Enable only one of them, or rename one method's id.`,
      );
    }
    for (const other of this.byId.values()) {
      if (other.prefix.startsWith(def.prefix) || def.prefix.startsWith(other.prefix)) {
        throw new RegistryError(
          `Method "${def.id}" (plugin ${plugin}) uses parameter prefix "${def.prefix}", which clashes with "${other.prefix}" of method "${other.id}" (plugin ${other.plugin}). Prefixes must be unique and not prefixes of each other.`,
        );
      }
    }
    this.byId.set(def.id, { ...(def as MethodDefinition<any>), plugin });
  }

  get(id: string): RegisteredMethod | undefined {
    return this.byId.get(id);
  }

  has(id: string): boolean {
    return this.byId.has(id);
  }

  ids(): string[] {
    return [...this.byId.keys()];
  }

  list(): RegisteredMethod[] {
    return [...this.byId.values()];
  }
}

/** The default trainable test: some path segment starts with the method's prefix. */
export function ownsParameter(method: MethodDefinition<any>, path: string): boolean {
  return path.split('.').some((segment) => segment.startsWith(method.prefix));
}

/** Whether `method` (configured with `config`) trains the parameter at `path`: its `trainable`, or the prefix rule. */
export function methodTrains(method: MethodDefinition<any>, path: string, param: Parameter, config: unknown): boolean {
  return method.trainable ? method.trainable(path, param, config) : ownsParameter(method, path);
}
