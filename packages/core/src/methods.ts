import type { Module, Parameter } from '@leantune/tensor';
import { RegistryError } from './errors';
import type { MethodContext } from './context';
import type { LoadedModel } from './types';

export const METHOD_FAMILIES = ['reparameterization', 'adapter', 'prompt', 'selective', 'baseline'] as const;
export type MethodFamily = (typeof METHOD_FAMILIES)[number];

export type JSONSchema = Record<string, unknown>;

/**
 * What one method did to one model: returned by `inject` and `load`, owned by the run (or by
 * whoever called them), and the only place the method's state lives. Modelled on PEFT's
 * PeftModel/BaseTuner: trainable parameters, save, and the lifecycle where the method has one.
 */
export interface MethodHandle<C = unknown> {
  /** The resolved config, as `save` writes it (defaults applied, targets resolved). */
  readonly config: C;
  /** Whether the method trains the parameter at `path` (asked after every method is injected). */
  trains(path: string, param: Parameter): boolean;
  /** A new root module, when the method replaced the model's root; the run adopts it. */
  readonly module?: Module;
  /** Writes the method's files (e.g. a PEFT adapter folder) into `dir`. */
  save?(dir: string): unknown;
  /** Folds the active adapters into the base weights, keeping the method's layers (PEFT merge_adapter). */
  merge?(): void;
  /** Undoes `merge`. */
  unmerge?(): void;
  /** Folds the method into the base and removes its layers (PEFT merge_and_unload); returns the root. */
  mergeAndUnload?(): Module | void;
  /** Removes the method's layers without folding: the base model as it was (PEFT unload). */
  unload?(): Module | void;
  /** Bypasses the method until `enable` (PEFT disable_adapter). */
  disable?(): void;
  enable?(): void;
  /** Why this method cannot be folded into the base weights; set by methods that never can. */
  readonly notMergeable?: string;
}

/**
 * A PEFT method. The core knows none by name: each plugin registers its own, and the run
 * calls `inject` through the `inject` hook keyed by `id`. Tools act on the flags below
 * (capabilities), never on ids.
 */
export interface MethodDefinition<C = Record<string, unknown>> {
  id: string;
  family: MethodFamily;
  description?: string;
  /** JSON Schema of the method's config (the value under `methods.<id>`). */
  configSchema: JSONSchema;
  /** Default target module names per architecture key. */
  defaultTargets?: Readonly<Record<string, readonly string[]>>;
  /**
   * Prefix of the parameter names the method adds (e.g. 'lora_'), for listings and clash
   * checks; optional (methods that add no parameters have none). Unique across methods.
   */
  prefix?: string;
  /** The method trains nothing (zero-shot, hand-written prompts): a run of it only evaluates. */
  trainsNothing?: boolean;
  /** The method trains base parameters in place (BitFit, full fine-tuning): its result already is the merged model. */
  inPlace?: boolean;
  /** Model extension points it needs (keys of LoadedModel.points); checked before inject, naming both. */
  requires?: readonly string[];
  /** Changes the model (planning first, so a failure leaves it untouched) and returns the handle that owns the change. */
  inject(model: LoadedModel, config: C, ctx: MethodContext<C>): MethodHandle<C> | Promise<MethodHandle<C>>;
  /**
   * Loads what a handle's `save` wrote onto a base model the method was not injected into,
   * checking that it fits before changing anything; the handle's config is the one read.
   */
  load?(model: LoadedModel, dir: string): MethodHandle<C> | Promise<MethodHandle<C>>;
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
    if (def.prefix !== undefined && (typeof def.prefix !== 'string' || !/^[A-Za-z][A-Za-z0-9_]*$/.test(def.prefix))) {
      throw new RegistryError(`Invalid ${where}: prefix, when given, must be an identifier such as "lora_"; leave it out when the method adds no parameters`);
    }
    if (!METHOD_FAMILIES.includes(def.family)) {
      throw new RegistryError(`Invalid ${where}: family "${def.family}" is not one of ${METHOD_FAMILIES.join(', ')}`);
    }
    if (typeof def.inject !== 'function') throw new RegistryError(`Invalid ${where}: inject must be a function returning a method handle`);
    if (def.load !== undefined && typeof def.load !== 'function') throw new RegistryError(`Invalid ${where}: load must be a function`);
    if (!def.configSchema || typeof def.configSchema !== 'object') {
      throw new RegistryError(`Invalid ${where}: configSchema must be a JSON Schema object`);
    }
    if (def.requires !== undefined && !(Array.isArray(def.requires) && def.requires.every((r) => typeof r === 'string'))) {
      throw new RegistryError(`Invalid ${where}: requires must list model extension point names, e.g. ["inputEmbeddings"]`);
    }
    const same = this.byId.get(def.id);
    if (same) {
      throw new RegistryError(
        `Duplicate method id "${def.id}": registered by ${same.plugin} and again by ${plugin}. Enable only one of them, or rename one method's id.`,
      );
    }
    for (const other of this.byId.values()) {
      if (def.prefix === undefined || other.prefix === undefined) continue;
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

/** True when some path segment starts with `prefix` (the usual `trains` rule of methods that add parameters). */
export function hasPrefixedSegment(prefix: string, path: string): boolean {
  return path.split('.').some((segment) => segment.startsWith(prefix));
}

/**
 * Why `handle` cannot be folded into the base, or undefined when it can or needs nothing
 * (in-place methods are already the weights). Prompt and adapter families say why in words.
 */
export function notMergeableReason(method: RegisteredMethod, handle: MethodHandle<unknown> | undefined): string | undefined {
  if (handle?.notMergeable) return handle.notMergeable;
  if (handle?.mergeAndUnload || method.inPlace || method.trainsNothing) return undefined;
  if (method.family === 'prompt') return `method "${method.id}" is a prompt method: it adds learned tokens to every input, and there is no weight to fold them into. Load it as an adapter instead.`;
  return `method "${method.id}" (${method.family}) has no merge: its layers cannot be folded into the base weights. Load it as an adapter instead.`;
}
