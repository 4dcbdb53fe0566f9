import { ModuleList, Sequential, type Module } from '@leantune/tensor';
import { ConfigError } from './errors';
import { didYouMean } from './suggest';
import type { ResolvedConfig } from './config/schema';

type LayerList = ModuleList | Sequential;

function layerList(root: Module, path: string, key: string): LayerList {
  let found: Module;
  try {
    found = root.getSubmodule(path);
  } catch {
    const lists = [...root.namedModules()].filter(([, m]) => m instanceof ModuleList || m instanceof Sequential).map(([p]) => p);
    throw new ConfigError(`/edit/${key}: "${path}" is not a module of this model.${didYouMean(path, lists)} Layer lists: ${lists.join(', ') || 'none'}`);
  }
  if (!(found instanceof ModuleList || found instanceof Sequential)) {
    throw new ConfigError(`/edit/${key}: "${path}" is a ${found.constructor.name}, not a layer list (ModuleList or Sequential)`);
  }
  return found;
}

/**
 * The config's plug-and-play structure edits: cut a layer list to its first N items, or
 * grow it by copies of its last item (fresh variables holding the same values, the usual
 * way to deepen a pretrained stack). Every path is checked before anything changes.
 */
export function applyStructureEdits(root: Module, edit: ResolvedConfig['edit']): string[] {
  if (!edit) return [];
  const cuts = Object.entries(edit.truncate ?? {}).map(([path, keep]) => ({ path, keep, list: layerList(root, path, 'truncate') }));
  const grows = Object.entries(edit.grow ?? {}).map(([path, add]) => ({ path, add, list: layerList(root, path, 'grow') }));
  for (const { path, keep, list } of cuts) {
    if (keep > list.length) throw new ConfigError(`/edit/truncate: "${path}" has ${list.length} layers; cannot keep ${keep}. Use /edit/grow to add layers.`);
  }
  for (const { list } of grows) if (list.length === 0) throw new ConfigError('/edit/grow: cannot grow an empty layer list');
  const done: string[] = [];
  for (const { path, keep, list } of cuts) {
    done.push(`${path}: ${list.length} → ${keep} layers`);
    list.truncate(keep);
  }
  for (const { path, add, list } of grows) {
    const before = list.length;
    for (let i = 0; i < add; i++) list.append(list.at(list.length - 1).clone());
    done.push(`${path}: ${before} → ${list.length} layers`);
  }
  return done;
}
