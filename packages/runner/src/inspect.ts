import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { LoadedModel, Logger, ModelSpec, Toolkit } from '@leantune/core';
import { Conv1D, Linear, quantizedBytes, type Module, type QuantizeSpec } from '@leantune/tensor';
import { toolkitFor } from './toolkit';

/** Layer classes that LoRA-style methods wrap: PyTorch-layout Linear and GPT-2's Conv1D. */
export const TARGETABLE_CLASSES = ['Linear', 'Conv1D'];

export interface ModuleNode {
  path: string;
  name: string;
  type: string;
  /** Parameters in this module and below. */
  params: number;
  children: ModuleNode[];
}

export interface ModelDescription {
  model: string;
  arch: string;
  loader?: string;
  labels?: string[];
  params: number;
  tree: ModuleNode;
  /** Leaf names of targetable layers, with how many layers carry each name and their class. */
  targets: Array<{ name: string; type: string; count: number }>;
  /** Each registered method's default targets for this architecture. */
  defaultTargets: Record<string, readonly string[]>;
  /** Bytes of the model's parameters as loaded, and with model.quantize in each format. */
  bytes: WeightBytes;
}

/** The QLoRA formats inspect lists, as model.quantize spells them. */
const INSPECT_FORMATS: Array<[string, QuantizeSpec]> = [['bf16', { type: 'bf16' }], ['fp16', { type: 'fp16' }], ['int8', { type: 'int8' }], ['nf4', { type: 'nf4' }], ['nf4+doubleQuant', { type: 'nf4', doubleQuant: true }]];

export interface WeightBytes {
  /** All parameters as they are stored now (4 bytes an fp32 value; packed bytes for a weight loaded quantized). */
  loaded: number;
  /** Linear/Conv1D weights model.quantize would store quantized (all of them: inspect applies no method, so none trains). */
  quantizable: { weights: number; elements: number };
  /** Total parameter bytes with those weights in each format and everything else fp32, by format. */
  formats: Record<string, number>;
}

function weightBytes(module: Module): WeightBytes {
  // [out, in] of each Linear/Conv1D weight, by path.
  const quantizable = new Map<string, [number, number]>();
  for (const [path, m] of module.namedModules()) {
    if (m instanceof Linear || m instanceof Conv1D) quantizable.set(path ? `${path}.weight` : 'weight', [m.outFeatures, m.inFeatures]);
  }
  let loaded = 0;
  let rest = 0;
  const weights: Array<[number, number]> = [];
  for (const [path, p] of module.namedParameters()) {
    loaded += p.bytes;
    const dims = quantizable.get(path);
    if (dims) weights.push(dims);
    else rest += p.size * 4;
  }
  const formats: Record<string, number> = { fp32: rest + weights.reduce((n, [r, c]) => n + 4 * r * c, 0) };
  for (const [name, spec] of INSPECT_FORMATS) formats[name] = rest + weights.reduce((n, [r, c]) => n + quantizedBytes(r, c, spec), 0);
  return { loaded, quantizable: { weights: weights.length, elements: weights.reduce((n, [r, c]) => n + r * c, 0) }, formats };
}

function node(module: Module, path: string): ModuleNode {
  const children = [...module.namedChildren()].map(([name, child]) => node(child, path ? `${path}.${name}` : name));
  const own = [...module.namedParameters('', false)].reduce((n, [, p]) => n + p.size, 0);
  return { path, name: path.split('.').pop() || '(root)', type: module.constructor.name, params: own + children.reduce((n, c) => n + c.params, 0), children };
}

export function describeModel(model: LoadedModel, toolkit?: Toolkit): ModelDescription {
  const targets = new Map<string, { name: string; type: string; count: number }>();
  for (const [path, m] of model.module.namedModules()) {
    const type = m.constructor.name;
    if (!TARGETABLE_CLASSES.includes(type) || !path) continue;
    const name = path.split('.').pop()!;
    const entry = targets.get(name) ?? { name, type, count: 0 };
    entry.count++;
    targets.set(name, entry);
  }
  const defaultTargets: Record<string, readonly string[]> = {};
  for (const m of toolkit?.methods.list() ?? []) {
    // The method's table for the architecture, else the model's own defaults (what the run passes to inject).
    const targets = m.defaultTargets && (m.defaultTargets[model.arch] ?? model.defaultTargets);
    if (targets) defaultTargets[m.id] = targets;
  }
  const tree = node(model.module, '');
  return { model: model.name, arch: model.arch, loader: model.loader, labels: model.labels, params: tree.params, tree, targets: [...targets.values()], defaultTargets, bytes: weightBytes(model.module) };
}

const count = (n: number) => n.toLocaleString('en');

/** The tree indented by depth, each line `name (Type) parameters`; `maxDepth` cuts deep trees. */
export function formatModel(d: ModelDescription, maxDepth = Infinity): string {
  const lines = [`${d.model} (arch ${d.arch}, loader ${d.loader ?? '?'}): ${count(d.params)} parameters`];
  if (d.labels) lines.push(`labels: ${d.labels.join(', ')}`);
  const walk = (n: ModuleNode, depth: number) => {
    lines.push(`${'  '.repeat(depth)}${n.name} (${n.type}) ${count(n.params)}`);
    if (depth < maxDepth) for (const c of n.children) walk(c, depth + 1);
    else if (n.children.length) lines.push(`${'  '.repeat(depth + 1)}… ${n.children.length} children`);
  };
  walk(d.tree, 0);
  lines.push('', 'Target module names (Linear / Conv1D leaves):');
  for (const t of d.targets) lines.push(`  ${t.name.padEnd(16)} ${t.type.padEnd(7)} ×${t.count}`);
  if (!d.targets.length) lines.push('  none');
  const mb = (n: number) => `${(n / 2 ** 20).toFixed(2)} MB`;
  lines.push('', `Parameter bytes (loaded: ${mb(d.bytes.loaded)}); with model.quantize, ${d.bytes.quantizable.weights} Linear/Conv1D weights (${count(d.bytes.quantizable.elements)} values) quantized, the rest fp32:`);
  for (const [format, bytes] of Object.entries(d.bytes.formats)) lines.push(`  ${format.padEnd(16)} ${mb(bytes).padStart(12)}  ${(bytes / d.bytes.formats.fp32).toFixed(3)}×`);
  const defaults = Object.entries(d.defaultTargets);
  if (defaults.length) {
    lines.push('', `Default targets for ${d.arch}:`);
    for (const [id, names] of defaults) lines.push(`  ${id.padEnd(16)} ${names.join(', ')}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Loads `spec` through the installed plugins (or a config's) with no method applied.
 * A classification head whose labels would come from a dataset gets `labels` (default two
 * placeholders), so the structure can be shown without data.
 */
export async function inspectModel(spec: ModelSpec, options: { config?: string; cwd: string; labels?: string[]; log?: Logger; warn?: (m: string) => void }): Promise<ModelDescription> {
  const { toolkit, loaded } = await toolkitFor(options);
  const asPath = resolve(options.cwd, spec.name);
  const model: ModelSpec = !toolkit.models.list().some((l) => l.test(spec)) && existsSync(asPath) ? { ...spec, name: asPath } : spec;
  const base: Record<string, unknown> = { ...(loaded ? structuredClone(loaded.config) : {}), model, methods: {}, trainable: [] };
  delete base.data; // the structure needs no data
  const config = toolkit.resolveConfig(base);
  const run = toolkit.createRun(config, { configDir: loaded?.configDir ?? options.cwd });
  const labels = options.labels ?? ['class_0', 'class_1'];
  run.context.datasetLabels = async () => labels;
  const m = await run.loadModel();
  try {
    return describeModel(m, toolkit);
  } finally {
    m.module.dispose();
  }
}
