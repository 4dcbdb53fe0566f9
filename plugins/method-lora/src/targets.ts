import { closeMatches } from '@leantune/core';
import { leafNames, matchesSpec, modulePaths, noTargetMatchError } from '@leantune/peft';
import { Conv1D, Conv2d, Embedding, Linear, type Module } from '@leantune/tensor';
import type { LoraConfig } from './config';
import { LoraConv2d, LoraEmbedding } from './lora-embedding-conv';
import { LoraLinear } from './lora-linear';
import { ModulesToSaveWrapper } from './modules-to-save';

/** Every LoRA layer kind (PEFT's lora.Linear, lora.Embedding, lora.Conv2d). */
export type AnyLoraLayer = LoraLinear | LoraEmbedding | LoraConv2d;

export function isLoraLayer(m: Module): m is AnyLoraLayer {
  return m instanceof LoraLinear || m instanceof LoraEmbedding || m instanceof LoraConv2d;
}

/** What LoRA can wrap: Linear, Conv1D (LoraLinear), Embedding, Conv2d, or a layer it already wraps. */
export function isLoraTargetable(m: Module): boolean {
  return m instanceof Linear || m instanceof Conv1D || m instanceof Embedding || m instanceof Conv2d || isLoraLayer(m);
}

/**
 * Names of output heads that "all-linear" leaves out. PEFT skips the output embedding of a
 * transformers PreTrainedModel and, for sequence classification, the `score`/`classifier`
 * head; our Module tree has no get_output_embeddings, so the head is recognised by the
 * last segment of its path.
 */
export const OUTPUT_HEAD_NAMES = ['lm_head', 'score', 'classifier', 'classification_head', 'cls', 'head'] as const;

const isLoraWrapper = (m: Module): boolean => isLoraLayer(m) || m instanceof ModulesToSaveWrapper;

/** Modules LoRA looks at, the root first as '': everything except the insides of LoRA layers and saved-module wrappers. */
export function candidateModules(model: Module): Array<[string, Module]> {
  if (isLoraWrapper(model)) return [['', model]];
  return [['', model], ...modulePaths(model, isLoraWrapper)];
}

export function isLinearLike(m: Module): m is Linear | Conv1D | LoraLinear {
  return m instanceof Linear || m instanceof Conv1D || m instanceof LoraLinear;
}

/** Every Linear/Conv1D path except output heads: PEFT's expansion of "all-linear". */
export function allLinearTargets(model: Module): string[] {
  return candidateModules(model)
    .filter(([path, m]) => path !== '' && isLinearLike(m))
    .map(([path]) => path)
    .filter((path) => !(OUTPUT_HEAD_NAMES as readonly string[]).includes(path.split('.').pop()!));
}

/** PEFT's module index rule: `.*\.<layers_pattern>\.(\d+)\.` (any list name when no pattern). */
function layerIndex(path: string, layersPattern: LoraConfig['layers_pattern']): number | undefined {
  const patterns = layersPattern == null || layersPattern.length === 0 ? [null] : typeof layersPattern === 'string' ? [layersPattern] : layersPattern;
  for (const p of patterns) {
    const m = (p === null ? /^.*\.[^.]*\.(\d+)\./ : new RegExp(`^.*\\.${p}\\.(\\d+)\\.`)).exec(path);
    if (m) return Number(m[1]);
  }
  return undefined;
}

/**
 * PEFT's check_target_module_exists, with target_modules already resolved: the shared
 * target rule (see @leantune/core's matchesSpec), plus LoRA's extras: modules_to_save are
 * never targets, and a suffix match must lie in one of layers_to_transform.
 */
export function matchesTarget(cfg: LoraConfig, targets: string[] | string, path: string): boolean {
  if (cfg.exclude_modules && matchesSpec(cfg.exclude_modules, path)) return false;
  if (cfg.modules_to_save?.some((m) => new RegExp(`(^|.*\\.)${m}($|\\..*)`).test(path))) return false;
  if (typeof targets === 'string') return matchesSpec(targets, path);
  if (targets.includes(path)) return true;
  if (!matchesSpec(targets, path)) return false;
  const wanted = cfg.layers_to_transform;
  if (wanted == null || (Array.isArray(wanted) && wanted.length === 0)) return true;
  const index = layerIndex(path, cfg.layers_pattern);
  if (index === undefined) return false;
  return typeof wanted === 'number' ? index === wanted : wanted.includes(index);
}

/**
 * target_modules as the model will use it: the config's list or regex, "all-linear"
 * expanded, or the architecture's defaults when the config sets none.
 */
export function resolveTargets(model: Module, cfg: LoraConfig, arch: string | undefined, defaults: readonly string[] | undefined): string[] | string {
  const t = cfg.target_modules;
  if (typeof t === 'string' && t.toLowerCase() === 'all-linear') {
    const linear = allLinearTargets(model);
    if (linear.length === 0) throw allLinearNoneError(model, defaults);
    return linear;
  }
  if (t != null && !(Array.isArray(t) && t.length === 0)) return t;
  if (defaults?.length) return [...defaults];
  throw new Error(
    `LoRA target_modules is not set and architecture "${arch ?? 'unknown'}" has no default targets. Set target_modules, e.g. ${JSON.stringify(allLinearTargets(model).slice(0, 3))} or "all-linear".`,
  );
}

/**
 * "all-linear" on a model with no Linear/Conv1D outside its output head (a CNN such as
 * MobileNetV2 with a linear head): PEFT raises here too. The message says what to write:
 * the model's default targets, or its ungrouped Conv2d layers (LoRA cannot merge grouped ones).
 */
function allLinearNoneError(model: Module, defaults: readonly string[] | undefined): Error {
  const convs = candidateModules(model).filter(([p, m]) => p !== '' && m instanceof Conv2d && m.groups === 1).map(([p]) => p);
  // Two segments: a CNN's leaves are all "conv" (MobileNetV2: expand.conv, project.conv).
  const convNames = [...new Set(convs.map((p) => p.split('.').slice(-2).join('.')))];
  const suggestion = defaults?.length
    ? `leave target_modules unset to use this model's default targets ${JSON.stringify(defaults)}, or write them out: "target_modules": ${JSON.stringify(defaults)}`
    : convNames.length
      ? `target its convolutions instead, e.g. "target_modules": ${JSON.stringify(convNames.slice(0, 4))}`
      : 'set target_modules to the layers to adapt';
  return new Error(
    `LoRA target_modules "all-linear" picks Linear/Conv1D layers (except the output head), and this model has none${convs.length ? ` (it has ${convs.length} Conv2d layers)` : ''}: ${suggestion}.`,
  );
}

/** The matching module paths; a pattern that matches nothing fails naming close module names. */
export function findTargetPaths(model: Module, cfg: LoraConfig, targets: string[] | string): string[] {
  const modules = candidateModules(model).filter(([path]) => path !== '');
  const hits = modules.filter(([path]) => matchesTarget(cfg, targets, path));
  const unsupported = hits.filter(([, m]) => !isLoraTargetable(m));
  if (unsupported.length) {
    const [path, m] = unsupported[0];
    throw new Error(
      `LoRA target "${path}" is a ${m.constructor.name}; only Linear, Conv1D, Embedding and Conv2d layers are supported. Narrow target_modules to its Linear children (e.g. ${JSON.stringify(
        modules.filter(([p, c]) => p.startsWith(`${path}.`) && isLinearLike(c)).slice(0, 3).map(([p]) => p.split('.').pop()),
      )}).`,
    );
  }
  if (hits.length > 0) return hits.map(([path]) => path);
  const linear = leafNames(allLinearTargets(model));
  throw noTargetMatchError('LoRA target_modules', targets, modules.map(([p]) => p), `Linear layers in this model: ${linear.slice(0, 12).join(', ') || 'none'}.`);
}

/** modules_to_save entries → paths (exact or dotted suffix); unknown names fail with close ones. */
export function findModulesToSave(model: Module, names: readonly string[]): string[] {
  const paths = candidateModules(model).map(([p]) => p).filter((p) => p !== '');
  const out: string[] = [];
  for (const name of names) {
    const hits = paths.filter((p) => matchesSpec([name], p));
    if (hits.length === 0) {
      const close = closeMatches(name, [...paths, ...paths.map((p) => p.split('.').pop()!)]);
      throw new Error(`LoRA modules_to_save entry "${name}" matches no module.${close.length ? ` Close names: ${close.map((c) => `"${c}"`).join(', ')}.` : ''}`);
    }
    out.push(...hits);
  }
  return [...new Set(out)];
}
