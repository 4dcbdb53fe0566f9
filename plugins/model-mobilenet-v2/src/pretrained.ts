import { tf } from '@leantune/tensor';
import { FilterCachingConv2d } from './filter-cache';
import type { MobileNetV2 } from './mobilenet';
import type { ConvUnitPlan, DensePlan } from './topology-types';
import type { DecodedWeight } from './weights';

/** How a Keras weight becomes a module parameter. */
export type WeightLayout = 'conv' | 'depthwise' | 'dense' | 'vector';

export interface WeightMapping {
  /** Dotted module path, e.g. `features.3.expand.conv.weight`. */
  path: string;
  /** tfjs/Keras weight name, e.g. `block_2_expand/kernel`. */
  keras: string;
  layout: WeightLayout;
}

function unitMappings(prefix: string, unit: ConvUnitPlan): WeightMapping[] {
  const out: WeightMapping[] = [
    unit.depthwise
      ? { path: `${prefix}.conv.weight`, keras: `${unit.convLayer}/depthwise_kernel`, layout: 'depthwise' }
      : { path: `${prefix}.conv.weight`, keras: `${unit.convLayer}/kernel`, layout: 'conv' },
  ];
  if (unit.bias) out.push({ path: `${prefix}.conv.bias`, keras: `${unit.convLayer}/bias`, layout: 'vector' });
  const bn = unit.bn;
  if (bn) {
    if (bn.scale) out.push({ path: `${prefix}.bn.weight`, keras: `${bn.layer}/gamma`, layout: 'vector' });
    if (bn.center) out.push({ path: `${prefix}.bn.bias`, keras: `${bn.layer}/beta`, layout: 'vector' });
    out.push({ path: `${prefix}.bn.running_mean`, keras: `${bn.layer}/moving_mean`, layout: 'vector' });
    out.push({ path: `${prefix}.bn.running_var`, keras: `${bn.layer}/moving_variance`, layout: 'vector' });
  }
  return out;
}

function denseMappings(prefix: string, dense: DensePlan): WeightMapping[] {
  const out: WeightMapping[] = [{ path: `${prefix}.weight`, keras: `${dense.layer}/kernel`, layout: 'dense' }];
  if (dense.bias) out.push({ path: `${prefix}.bias`, keras: `${dense.layer}/bias`, layout: 'vector' });
  return out;
}

/** Every Keras weight the module takes, with its module path (the naming table of the README). */
export function kerasWeightMappings(model: MobileNetV2): WeightMapping[] {
  const { plan } = model;
  const out: WeightMapping[] = [];
  plan.stages.forEach((stage, i) => {
    if (stage.kind === 'conv') out.push(...unitMappings(`features.${i}`, stage.unit));
    else for (const [role, unit] of Object.entries(stage.units)) out.push(...unitMappings(`features.${i}.${role}`, unit));
  });
  if (model.headKind === 'mlp') plan.hidden.forEach((d, j) => out.push(...denseMappings(`head.${j}.dense`, d)));
  if (model.classifierMatchesExport) out.push(...denseMappings('classifier', plan.classifier));
  return out;
}

/**
 * Axis permutation in plain JS: tfjs's cpu Transpose is a generic per-element loop that
 * took ~4 s for these 2.6M values; this is the same reordering in milliseconds.
 */
export function permute(values: Float32Array, shape: readonly number[], perm: readonly number[]): Float32Array {
  const rank = shape.length;
  const outShape = perm.map((p) => shape[p]);
  const inStrides = new Array<number>(rank);
  for (let d = rank - 1, s = 1; d >= 0; s *= shape[d], d--) inStrides[d] = s;
  const stepFor = perm.map((p) => inStrides[p]); // input stride of each output axis
  const out = new Float32Array(values.length);
  const idx = new Array<number>(rank).fill(0);
  let src = 0;
  for (let o = 0; o < out.length; o++) {
    out[o] = values[src];
    for (let d = rank - 1; d >= 0; d--) {
      idx[d]++;
      src += stepFor[d];
      if (idx[d] < outShape[d]) break;
      src -= stepFor[d] * outShape[d];
      idx[d] = 0;
    }
  }
  return out;
}

/** Keras/tfjs layout → the module's PyTorch layout (as conv2dWeightFromTfjs / Linear). */
function toModuleLayout(w: DecodedWeight, layout: WeightLayout): tf.Tensor {
  const s = w.shape;
  if (layout === 'conv') return tf.tensor(permute(w.values, s, [3, 2, 0, 1]), [s[3], s[2], s[0], s[1]]); // [kh,kw,in,out] → [out,in,kh,kw]
  // depthwise [kh,kw,c,m] → [c·m, 1, kh, kw], channel c·m + j as tf.depthwiseConv2d orders it
  if (layout === 'depthwise') return tf.tensor(permute(w.values, s, [2, 3, 0, 1]), [s[2] * s[3], 1, s[0], s[1]]);
  if (layout === 'dense') return tf.tensor(permute(w.values, s, [1, 0]), [s[1], s[0]]); // [in,out] → [out,in]
  return tf.tensor(w.values, s, 'float32');
}

/** Hands each conv its Keras kernel, which is already tfjs's filter layout (see FilterCachingConv2d). */
function primeConvFilters(model: MobileNetV2, mappings: WeightMapping[], weights: Map<string, DecodedWeight>): void {
  for (const m of mappings) {
    if (m.layout !== 'conv' && m.layout !== 'depthwise') continue;
    const conv = model.getSubmodule(m.path.slice(0, -'.weight'.length));
    if (!(conv instanceof FilterCachingConv2d)) continue;
    const w = weights.get(m.keras)!;
    const filter = tf.tensor4d(w.values, w.shape as [number, number, number, number]);
    conv.primeFilter(filter);
    filter.dispose();
  }
}

export interface PretrainedLoadResult {
  loaded: string[];
  /** Parameters left at their fresh initialisation (a replaced classifier). */
  fresh: string[];
  /** Keras weights not used (the exported classifier when it was replaced). */
  unused: string[];
}

/**
 * Copies decoded Keras weights into the module. Every parameter except a replaced
 * classifier must be found, and every Keras weight must be used except the replaced
 * classifier's; anything else means the topology and the weights disagree.
 */
export function loadPretrainedWeights(model: MobileNetV2, weights: Map<string, DecodedWeight>, source: string): PretrainedLoadResult {
  const mappings = kerasWeightMappings(model);
  const missing = mappings.filter((m) => !weights.has(m.keras)).map((m) => m.keras);
  if (missing.length) {
    throw new Error(`mobilenet-v2: the weights of ${source} lack ${missing.length} tensor(s) the topology needs: ${missing.slice(0, 8).join(', ')}`);
  }
  const used = new Set(mappings.map((m) => m.keras));
  const replacedHead = new Set(
    [model.plan.classifier, ...(model.headKind === 'linear' ? model.plan.hidden : [])].flatMap((d) => [`${d.layer}/kernel`, `${d.layer}/bias`]),
  );
  const unused = [...weights.keys()].filter((k) => !used.has(k));
  const stray = unused.filter((k) => !replacedHead.has(k));
  if (stray.length) {
    throw new Error(`mobilenet-v2: ${stray.length} weight(s) of ${source} match no layer of the topology: ${stray.slice(0, 8).join(', ')}`);
  }
  const values = new Map<string, tf.Tensor>();
  try {
    for (const m of mappings) values.set(m.path, toModuleLayout(weights.get(m.keras)!, m.layout));
    model.loadStateDict(values, { source });
  } finally {
    for (const t of values.values()) t.dispose();
  }
  primeConvFilters(model, mappings, weights);
  const loaded = new Set(values.keys());
  const fresh = [...model.namedParameters()].map(([p]) => p).filter((p) => !loaded.has(p));
  const unexpectedFresh = fresh.filter((p) => !p.startsWith('classifier.'));
  if (unexpectedFresh.length) throw new Error(`mobilenet-v2: no weight in ${source} for ${unexpectedFresh.slice(0, 8).join(', ')}`);
  return { loaded: [...loaded], fresh, unused };
}
