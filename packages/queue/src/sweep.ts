import { ConfigError, SchemaValidator, type ConfigSource, type JSONSchema } from '@leantune/core';
import { createRng } from '@leantune/data';

/**
 * A config's `sweep` section: grid or seeded random search over method options
 * ("methods.<id>.<option>") and training options ("train.<option>"), expanded into arms of
 * `leantune compare`, run locally or on the queue alike.
 *
 *   "sweep": { "methods.lora.r": [4, 8, 16], "train.learningRate": { "log": [1e-4, 1e-2], "n": 6 } }
 *   "sweep": { "mode": "random", "samples": 8, "seed": 0, "methods.lora.r": [4, 8, 16], "train.learningRate": { "log": [1e-4, 1e-2] } }
 *
 * A list gives the values; { "log": [lo, hi], "n": k } gives k log-spaced values from lo to hi
 * (both included), { "linear": [lo, hi], "n": k } evenly spaced ones, "int": true rounds them.
 * Random search draws `samples` points (lists uniformly, ranges log- or linear-uniformly) from
 * a generator seeded by `seed`, so the same config expands to the same arms.
 */

export type SweepValue = unknown[] | { log: [number, number]; n?: number; int?: boolean } | { linear: [number, number]; n?: number; int?: boolean };

export interface SweepSpec {
  mode?: 'grid' | 'random';
  samples?: number;
  seed?: number;
  [path: string]: SweepValue | string | number | undefined;
}

const range = (kind: 'log' | 'linear'): JSONSchema => ({
  type: 'object',
  required: [kind],
  additionalProperties: false,
  properties: {
    [kind]: { type: 'array', minItems: 2, maxItems: 2, items: kind === 'log' ? { type: 'number', exclusiveMinimum: 0, maximum: 1e12 } : { type: 'number', minimum: -1e12, maximum: 1e12 } },
    n: { type: 'integer', minimum: 1, maximum: 10000, description: 'values in a grid (default 5); random search draws from the range instead' },
    int: { type: 'boolean', description: 'round each value to an integer' },
  },
});

/** The JSON Schema of the `sweep` section. */
export const SWEEP_SCHEMA: JSONSchema = {
  type: 'object',
  description: 'Grid or seeded random search of `leantune compare` over method options (methods.<id>.<option>) and train options (train.<option>)',
  properties: {
    mode: { enum: ['grid', 'random'], default: 'grid' },
    samples: { type: 'integer', minimum: 1, maximum: 10000, description: 'random search: points drawn' },
    seed: { type: 'integer', minimum: 0, maximum: 4294967295, description: 'random search: the generator seed (default 0)' },
  },
  patternProperties: {
    '^(methods\\.[^.]+|train)\\.[^.].*$': {
      oneOf: [{ type: 'array', minItems: 1 }, range('log'), range('linear')],
    },
  },
  additionalProperties: false,
};

/** One point of a sweep: dotted path → value. */
export type SweepPoint = Record<string, unknown>;

/** The seeded generator of random search: the data package's (mulberry32, from @leantune/data), the same that shuffles and splits. */
export const seededRandom = (seed: number): (() => number) => createRng(seed);

const tidy = (x: number) => Number(x.toPrecision(12));

/** The grid values of one parameter. */
export function gridValues(v: SweepValue): unknown[] {
  if (Array.isArray(v)) return v;
  const n = v.n ?? 5;
  const [lo, hi] = 'log' in v ? v.log : v.linear;
  const at = (i: number) => (n === 1 ? 0 : i / (n - 1));
  const values = Array.from({ length: n }, (_, i) => ('log' in v ? Math.exp(Math.log(lo) + at(i) * (Math.log(hi) - Math.log(lo))) : lo + at(i) * (hi - lo)));
  return [...new Set(values.map((x) => (v.int ? Math.round(x) : tidy(x))))];
}

function draw(v: SweepValue, random: () => number): unknown {
  if (Array.isArray(v)) return v[Math.floor(random() * v.length)];
  const [lo, hi] = 'log' in v ? v.log : v.linear;
  const x = 'log' in v ? Math.exp(Math.log(lo) + random() * (Math.log(hi) - Math.log(lo))) : lo + random() * (hi - lo);
  return v.int ? Math.round(x) : tidy(x);
}

/** Checks a sweep section against SWEEP_SCHEMA (a ConfigError names each problem and where). */
export function validateSweep(sweep: unknown, source?: ConfigSource): SweepSpec {
  new SchemaValidator().assert(SWEEP_SCHEMA, sweep, source, '/sweep', 'sweep');
  const spec = sweep as SweepSpec;
  if (!sweepParams(spec).length) throw new ConfigError('sweep names no option to vary: add "methods.<id>.<option>" or "train.<option>" with a list or a range.');
  if (spec.mode !== 'random' && spec.samples !== undefined) throw new ConfigError('sweep: "samples" is for "mode": "random"; a grid takes every combination.');
  return spec;
}

/** The sweep's parameters (dotted paths), in the config's order. */
export const sweepParams = (spec: SweepSpec): string[] => Object.keys(spec).filter((k) => k.includes('.'));

/** The points of a sweep over `params` (all of them by default): every combination, or `samples` seeded draws. */
export function expandSweep(spec: SweepSpec, params: string[] = sweepParams(spec)): SweepPoint[] {
  if (!params.length) return [{}];
  if (spec.mode === 'random') {
    const random = seededRandom(spec.seed ?? 0);
    return Array.from({ length: spec.samples ?? 8 }, () => Object.fromEntries(params.map((p) => [p, draw(spec[p] as SweepValue, random)])));
  }
  let points: SweepPoint[] = [{}];
  for (const p of params) points = points.flatMap((pt) => gridValues(spec[p] as SweepValue).map((v) => ({ ...pt, [p]: v })));
  return points;
}

/** An arm of `leantune compare` before the sweep: the method, its label and options. */
export interface BaseArm {
  id: string;
  label: string;
  config: Record<string, unknown>;
}

/** An arm after the sweep: its method options, and the train options it changes. */
export interface SweptArm extends BaseArm {
  train?: Record<string, unknown>;
  point: SweepPoint;
}

const short = (v: unknown) => (typeof v === 'number' ? String(tidy(v)).replace('+', '') : String(JSON.stringify(v)).replace(/[^A-Za-z0-9.-]/g, ''));

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let at = target;
  for (const key of path.slice(0, -1)) {
    if (!at[key] || typeof at[key] !== 'object') at[key] = {};
    at = at[key] as Record<string, unknown>;
  }
  at[path[path.length - 1]] = value;
}

/**
 * Each arm once per point of the sweep over the parameters that concern it (its own
 * method's options and the train options): labels name the values, e.g. "lora-r8-learningRate0.001".
 * A sweep path of a method that no arm trains is an error.
 */
export function sweepArms<A extends BaseArm>(arms: A[], sweep: SweepSpec | undefined): Array<A & SweptArm> {
  if (!sweep) return arms.map((a) => ({ ...a, point: {} }));
  const params = sweepParams(sweep);
  for (const p of params) {
    const method = /^methods\.([^.]+)\./.exec(p)?.[1];
    if (method && !arms.some((a) => a.id === method)) {
      throw new ConfigError(`sweep: "${p}" sweeps method "${method}", which no compare arm trains (arms: ${arms.map((a) => a.id).join(', ')}).`);
    }
  }
  return arms.flatMap((arm) => {
    const mine = params.filter((p) => p.startsWith('train.') || p.startsWith(`methods.${arm.id}.`));
    return expandSweep(sweep, mine).map((point, i) => {
      const config = structuredClone(arm.config);
      let train: Record<string, unknown> | undefined;
      for (const [p, v] of Object.entries(point)) {
        const parts = p.split('.');
        if (parts[0] === 'train') setPath((train ??= {}), parts.slice(1), v);
        else setPath(config, parts.slice(2), v);
      }
      const name = Object.entries(point)
        .map(([p, v]) => `${p.split('.').pop()}${short(v)}`)
        .join('-');
      const label = !mine.length ? arm.label : sweep.mode === 'random' ? `${arm.label}-s${i + 1}-${name}` : `${arm.label}-${name}`;
      return { ...arm, label, config, train, point };
    });
  });
}
