import type { RunContext } from './context';
import { RegistryError } from './errors';
import { STAGE } from './hooks';
import type { JSONSchema } from './methods';
import type { Dataset, DatasetSpec, LoadedModel, ModelSpec } from './types';

/** Taps a bail hook and answers only for specs it recognises (`test`). */
interface Loader<S, T> {
  name: string;
  description?: string;
  test(spec: S): boolean;
  load(spec: S, ctx: RunContext): Promise<T>;
  /**
   * JSON Schema of the spec's options (every key but `name`; a dataset's `stages` too),
   * checked in the second validation pass when this loader answers the spec, defaults filled.
   * Declare `additionalProperties: false` so a misspelt option is an error, not ignored.
   */
  optionsSchema?: JSONSchema;
}

export interface ModelLoader extends Loader<ModelSpec, LoadedModel> {
  /** Model names it answers to, shown by `leantune plugins` and used for suggestions. */
  models?: readonly string[];
}

export interface DatasetLoader extends Loader<DatasetSpec, Dataset> {
  datasets?: readonly string[];
}

/**
 * A dataset stage, run in `stage` order on the waterfall (see STAGE). Its options live
 * under `data.stages.<name>` in the config and are validated with `optionsSchema`.
 */
export interface DatasetStage<O = Record<string, unknown>> {
  name: string;
  stage: number;
  description?: string;
  optionsSchema?: JSONSchema;
  /**
   * Runs only when the config names it under `data.stages` (e.g. a model plugin's packing
   * stage, which most runs of that model do not want); otherwise every enabled plugin's
   * stages run, with their schema defaults.
   */
  optIn?: boolean;
  run(dataset: Dataset, options: O, ctx: RunContext): Promise<Dataset> | Dataset;
}

type Owned<T> = T & { plugin: string };

class NamedRegistry<T extends { name: string }> {
  protected readonly items = new Map<string, Owned<T>>();
  constructor(private readonly kind: string) {}

  register(item: T, plugin: string): void {
    if (typeof item?.name !== 'string' || item.name === '') {
      throw new RegistryError(`A ${this.kind} from plugin ${plugin} has no name`);
    }
    const same = this.items.get(item.name);
    if (same) {
      throw new RegistryError(`Duplicate ${this.kind} "${item.name}": registered by ${same.plugin} and again by ${plugin}`);
    }
    this.check(item, plugin);
    this.items.set(item.name, { ...item, plugin });
  }

  protected check(_item: T, _plugin: string): void {}

  get(name: string): Owned<T> | undefined {
    return this.items.get(name);
  }

  list(): Owned<T>[] {
    return [...this.items.values()];
  }
}

class LoaderRegistry<T extends Loader<any, any>> extends NamedRegistry<T> {
  constructor(private readonly what: string) {
    super(what);
  }
  protected override check(item: T, plugin: string): void {
    if (typeof item.test !== 'function' || typeof item.load !== 'function') {
      throw new RegistryError(`${this.what[0].toUpperCase()}${this.what.slice(1)} "${item.name}" from plugin ${plugin} must have test() and load() functions`);
    }
  }
}

export class ModelLoaderRegistry extends LoaderRegistry<ModelLoader> {
  constructor() {
    super('model loader');
  }
}

export class DatasetLoaderRegistry extends LoaderRegistry<DatasetLoader> {
  constructor() {
    super('dataset loader');
  }
}

export class StageRegistry extends NamedRegistry<DatasetStage<any>> {
  constructor() {
    super('dataset stage');
  }
  protected override check(item: DatasetStage, plugin: string): void {
    if (!Number.isFinite(item.stage)) {
      throw new RegistryError(
        `Dataset stage "${item.name}" from plugin ${plugin} needs a numeric stage, e.g. STAGE.CLEAN (${STAGE.CLEAN}) or a number between two stages`,
      );
    }
    if (typeof item.run !== 'function') throw new RegistryError(`Dataset stage "${item.name}" from plugin ${plugin} must have run()`);
  }

  /** In execution order, ties kept in registration order (as tapable does). */
  ordered(): Owned<DatasetStage<any>>[] {
    return this.list().sort((a, b) => a.stage - b.stage);
  }
}

/** The name of the STAGE constant a number falls at or after, for listings. */
export function stageLabel(stage: number): string {
  const named = Object.entries(STAGE).sort((a, b) => a[1] - b[1]);
  let label = `${stage}`;
  for (const [name, value] of named) {
    if (stage === value) return name.toLowerCase();
    if (stage > value) label = `${name.toLowerCase()}+${stage - value}`;
  }
  return label;
}
