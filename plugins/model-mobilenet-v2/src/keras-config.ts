import type { ConvUnitPlan, ExplicitPad, KerasLayer } from './topology-types';

// Readers for Keras 2 layer configs as tfjs-layers stores them in model.json.

export class TopologyError extends Error {
  constructor(layer: string, message: string) {
    super(`mobilenet-v2 topology: layer "${layer}": ${message}`);
  }
}

export const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

export function squarePair(layer: string, key: string, value: unknown): number[] {
  const pair = isNum(value) ? [value, value] : value;
  if (!Array.isArray(pair) || pair.length !== 2 || !pair.every(isNum)) {
    throw new TopologyError(layer, `config.${key} must be a number or [a, b], got ${JSON.stringify(value)}`);
  }
  return pair as number[];
}

/** Keras ZeroPadding2D padding: p, [ph, pw] or [[top, bottom], [left, right]]. */
export function zeroPadding(layer: string, value: unknown): ExplicitPad {
  if (isNum(value)) return [[value, value], [value, value]];
  if (Array.isArray(value) && value.length === 2 && value.every(isNum)) return [[value[0], value[0]], [value[1], value[1]]];
  if (Array.isArray(value) && value.length === 2 && value.every((v) => Array.isArray(v) && v.length === 2 && v.every(isNum))) {
    return value as ExplicitPad;
  }
  throw new TopologyError(layer, `config.padding must be p, [ph, pw] or [[top, bottom], [left, right]], got ${JSON.stringify(value)}`);
}

/** Names of the layers feeding `layer` (Keras 2 inbound_nodes, single call). */
export function inboundNames(layer: KerasLayer, name: string): string[] {
  if (layer.inbound_nodes.length === 0) return [];
  if (layer.inbound_nodes.length !== 1 || !Array.isArray(layer.inbound_nodes[0])) {
    throw new TopologyError(name, 'expected exactly one inbound node in the Keras 2 format [[["layer", 0, 0, {}], ...]] (shared layers are not supported)');
  }
  return (layer.inbound_nodes[0] as unknown[]).map((entry) => {
    if (!Array.isArray(entry) || typeof entry[0] !== 'string') throw new TopologyError(name, `malformed inbound entry ${JSON.stringify(entry)}`);
    return entry[0];
  });
}

export function outputSize(size: number, unit: ConvUnitPlan): number {
  if (unit.padding === 'same') return Math.ceil(size / unit.stride);
  const padded = size + (unit.explicitPad ? unit.explicitPad[0][0] + unit.explicitPad[0][1] : 0);
  return Math.floor((padded - unit.kernelSize[0]) / unit.stride) + 1;
}
