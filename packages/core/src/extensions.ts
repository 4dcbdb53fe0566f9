import type { RunContext } from './context';
import { RegistryError } from './errors';
import { STAGE } from './hooks';
import type { JSONSchema } from './methods';
import type { Dataset, DatasetSpec, LoadedModel, ModelSpec } from './types';

/** A model loader: taps the bail hook and answers only for specs it recognises. */
export interface ModelLoader {
  name: string;
  description?: string;
  /** Model names it answers to, shown by `leantune plugins` and used for suggestions. */
  models?: readonly string[];
  test(spec: ModelSpec): boolean;
  load(spec: ModelSpec, ctx: RunContext): Promise<LoadedModel>;
}

export interface DatasetLoader {
  name: string;
  description?: string;
  datasets?: readonly string[];
  test(spec: DatasetSpec): boolean;
  load(spec: DatasetSpec, ctx: RunContext): Promise<Dataset>;
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

export class ModelLoaderRegistry extends NamedRegistry<ModelLoader> {
  constructor() {
    super('model loader');
  }
  protected override check(item: ModelLoader, plugin: string): void {
    if (typeof item.test !== 'function' || typeof item.load !== 'function') {
      throw new RegistryError(`Model loader "${item.name}" from plugin ${plugin} must have test() and load() functions`);
    }
  }
}

export class DatasetLoaderRegistry extends NamedRegistry<DatasetLoader> {
  constructor() {
    super('dataset loader');
  }
  protected override check(item: DatasetLoader, plugin: string): void {
    if (typeof item.test !== 'function' || typeof item.load !== 'function') {
      throw new RegistryError(`Dataset loader "${item.name}" from plugin ${plugin} must have test() and load() functions`);
    }
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
