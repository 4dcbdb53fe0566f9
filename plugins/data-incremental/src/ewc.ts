import type { Batch, DataRecord, LoadedModel } from '@leantune/core';
import { loadSafetensors, saveSafetensors, tf, type Module } from '@leantune/tensor';
import { deriveSeed, shuffle } from '@leantune/data';

/** One parameter under EWC: the live variable, its value after the old task, and its Fisher diagonal. */
export interface EwcEntry {
  path: string;
  variable: tf.Variable;
  anchor: tf.Tensor;
  fisher: tf.Tensor;
}

export interface EwcState {
  entries: EwcEntry[];
  /** Samples the Fisher was averaged over. */
  samples: number;
}

function requireTrainable(model: LoadedModel): asserts model is LoadedModel & Required<Pick<LoadedModel, 'encode' | 'loss'>> {
  if (!model.encode || !model.loss) throw new Error(`EWC needs a model with encode() and loss(); "${model.name}" has ${model.encode ? 'no loss()' : 'no encode()'}`);
}

/**
 * Diagonal empirical Fisher information on the old task: the mean over `samples` records
 * (a seeded draw) of the squared per-example gradient of the loss, for every parameter that
 * is trainable now (or `paths`). Also snapshots those parameters as the anchor θ*.
 */
export function computeFisher(model: LoadedModel, records: readonly DataRecord[], options: { samples?: number; seed?: number; paths?: readonly string[] } = {}): EwcState {
  requireTrainable(model);
  if (records.length === 0) throw new Error('computeFisher: no records of the old task');
  const named = options.paths
    ? options.paths.map((p): [string, tf.Variable] => {
        try {
          return [p, model.module.getParameter(p).variable];
        } catch {
          throw new Error(`computeFisher: no parameter "${p}" in model "${model.name}"`);
        }
      })
    : [...model.module.trainableVariables()];
  if (named.length === 0) throw new Error('computeFisher: no parameters to protect; unfreeze the old task\'s parameters or pass paths');
  const vars = named.map(([, v]) => v);
  const chosen = shuffle(records, deriveSeed(options.seed ?? 0, 'fisher')).slice(0, options.samples ?? 200);
  let sums = vars.map((v) => tf.zerosLike(v) as tf.Tensor);
  const wasTraining = model.module.training;
  model.module.eval();
  try {
    for (const r of chosen) {
      const next = tf.tidy(() => {
        const batch: Batch = model.encode([r]);
        const { grads } = tf.variableGrads(() => model.loss(batch, false), vars);
        return vars.map((v, i) => tf.add(sums[i], tf.square(grads[v.name] ?? tf.zerosLike(v))));
      });
      tf.dispose(sums);
      sums = next;
    }
  } finally {
    model.module.train(wasTraining);
  }
  const entries = named.map(([path, variable], i): EwcEntry => {
    const fisher = tf.div(sums[i], chosen.length);
    return { path, variable, anchor: tf.clone(variable), fisher };
  });
  tf.dispose(sums);
  return { entries, samples: chosen.length };
}

/** Σ_i F_i·(θ_i − θ*_i)², over every protected parameter. */
export function ewcPenalty(state: EwcState): tf.Scalar {
  return tf.tidy(() => tf.addN(state.entries.map((e) => tf.sum(tf.mul(e.fisher, tf.square(tf.sub(e.variable, e.anchor)))))) as tf.Scalar);
}

/** The model with loss + (λ/2)·penalty; module, encode and predict are the same objects. */
export function withEwc(model: LoadedModel, state: EwcState, lambda: number): LoadedModel {
  requireTrainable(model);
  if (!(lambda >= 0 && Number.isFinite(lambda))) throw new Error(`EWC lambda must be a finite number >= 0 (got ${lambda})`);
  const base = model.loss.bind(model);
  return { ...model, loss: (batch, training) => tf.tidy(() => tf.add(base(batch, training), tf.mul(ewcPenalty(state), lambda / 2)) as tf.Scalar) };
}

/**
 * The same anchors and Fisher diagonals bound to another module's parameters of the same
 * paths (e.g. a fresh copy of the model). The tensors are shared, not copied.
 */
export function rebindEwc(state: EwcState, module: Module): EwcState {
  const entries = state.entries.map((e): EwcEntry => {
    let variable: tf.Variable;
    try {
      variable = module.getParameter(e.path).variable;
    } catch {
      throw new Error(`rebindEwc: the module has no parameter "${e.path}"`);
    }
    if (variable.shape.join('x') !== e.anchor.shape.join('x')) throw new Error(`rebindEwc: "${e.path}" is [${e.anchor.shape}] in the EWC state but [${variable.shape}] in the module`);
    return { ...e, variable };
  });
  return { entries, samples: state.samples };
}

/** Throws when an entry's variable is not a parameter of `module` (its penalty would never move). */
export function checkEwcBinding(state: EwcState, module: Module): void {
  const own = new Set([...module.namedParameters()].map(([, p]) => p.variable));
  const foreign = state.entries.filter((e) => !own.has(e.variable)).map((e) => e.path);
  if (foreign.length) {
    throw new Error(`EWC state is bound to another model's parameters (${foreign.slice(0, 3).join(', ')}${foreign.length > 3 ? ', ...' : ''}); bind it with rebindEwc(state, model.module)`);
  }
}

/** Frees anchors and Fisher diagonals (shared by rebound copies: dispose once). */
export function disposeEwc(state: EwcState): void {
  for (const e of state.entries) tf.dispose([e.anchor, e.fisher]);
}

/** Writes anchors and Fisher diagonals to a safetensors file (`anchor.<path>`, `fisher.<path>`). */
export async function saveEwc(state: EwcState, file: string): Promise<void> {
  const tensors = new Map<string, tf.Tensor>();
  for (const e of state.entries) {
    tensors.set(`anchor.${e.path}`, e.anchor);
    tensors.set(`fisher.${e.path}`, e.fisher);
  }
  saveSafetensors(file, tensors, { format: 'leantune-ewc', samples: String(state.samples) });
}

/** Reads a saveEwc file and binds each entry to the module's parameter of the same path. */
export async function loadEwc(module: Module, file: string): Promise<EwcState> {
  const { tensors, metadata } = loadSafetensors(file);
  if (metadata?.format !== 'leantune-ewc') {
    tf.dispose([...tensors.values()]);
    throw new Error(`${file} is not an EWC file (metadata format ${JSON.stringify(metadata?.format)}); write it with saveEwc`);
  }
  const entries: EwcEntry[] = [];
  const problems: string[] = [];
  for (const [key, anchor] of tensors) {
    if (!key.startsWith('anchor.')) continue;
    const path = key.slice('anchor.'.length);
    const fisher = tensors.get(`fisher.${path}`);
    let variable: tf.Variable | undefined;
    try {
      variable = module.getParameter(path).variable;
    } catch {
      problems.push(`no parameter "${path}" in the model`);
    }
    if (!fisher) problems.push(`"fisher.${path}" is missing`);
    else if (variable && variable.shape.join('x') !== anchor.shape.join('x')) problems.push(`"${path}" is [${anchor.shape}] in the file but [${variable.shape}] in the model`);
    if (variable && fisher) entries.push({ path, variable, anchor, fisher });
  }
  if (problems.length) {
    tf.dispose([...tensors.values()]);
    throw new Error(`EWC file ${file} does not fit the model: ${problems.slice(0, 5).join('; ')}`);
  }
  return { entries, samples: Number(metadata.samples ?? 0) };
}
