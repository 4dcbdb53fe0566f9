import type { DataRecord } from '@leantune/core';
import { createRng, type ImageArray } from '@leantune/data';
import { arc, insidePolygon, jitterAffine, renderStrokes, transform, type Point, type Stroke } from './raster';

const SIZE = 28;

/**
 * One stroke template per digit in unit coordinates, inside the 20×20 centre box MNIST uses
 * (0.15-0.85). Shapes follow the common handwritten forms, not a font.
 */
export const DIGIT_TEMPLATES: Readonly<Record<string, () => Stroke[]>> = {
  '0': () => [arc(0.5, 0.5, 0.2, 0.33, 0, 360, 28)],
  '1': () => [[[0.4, 0.26], [0.52, 0.15], [0.52, 0.85]]],
  '2': () => [[...arc(0.5, 0.34, 0.2, 0.18, 200, 400, 14), [0.28, 0.85], [0.74, 0.85]]],
  '3': () => [arc(0.48, 0.32, 0.19, 0.17, 200, 450, 14), arc(0.48, 0.66, 0.22, 0.19, 270, 520, 16)],
  '4': () => [[[0.62, 0.85], [0.62, 0.15], [0.25, 0.62], [0.76, 0.62]]],
  '5': () => [[[0.7, 0.15], [0.36, 0.15], [0.34, 0.45]], arc(0.49, 0.63, 0.22, 0.21, 235, 500, 16)],
  '6': () => [[[0.66, 0.15], [0.4, 0.42], [0.31, 0.6]], arc(0.5, 0.66, 0.19, 0.19, 0, 360, 20)],
  '7': () => [[[0.26, 0.16], [0.74, 0.16], [0.42, 0.85]]],
  '8': () => [arc(0.5, 0.32, 0.16, 0.16, 0, 360, 18), arc(0.5, 0.67, 0.2, 0.18, 0, 360, 20)],
  '9': () => [arc(0.5, 0.35, 0.19, 0.19, 0, 360, 20), [[0.69, 0.36], [0.6, 0.85]]],
};
export const DIGIT_LABELS = Object.keys(DIGIT_TEMPLATES);
export const SHAPE_LABELS = ['circle', 'square', 'triangle'] as const;

export interface ImageJitter {
  /** Max rotation in degrees (default 12). */
  rotate?: number;
  /** Scale drawn from [1 − scale, 1 + scale·0.3] (default 0.2: digits mostly shrink, as handwriting varies). */
  scale?: number;
  /** Max shear (default 0.25). */
  shear?: number;
  /** Max shift as a share of the canvas (default 0.07, about 2 px). */
  shift?: number;
  /** Per-point wobble as a share of the canvas (default 0.025). */
  wobble?: number;
  /** Stroke width range in pixels (default [1.6, 3]). */
  width?: [number, number];
}

export interface Rendered {
  image: ImageArray;
  label: string;
}

function checkLabel(label: string, allowed: readonly string[], what: string): void {
  if (!allowed.includes(label)) throw new Error(`${what}: no template for label "${label}"; labels: ${allowed.join(', ')}`);
}

/** Draws one digit with seeded jitter; the same (label, seed) always gives the same pixels. */
export function renderDigit(label: string, seed: number, jitter: ImageJitter = {}): Rendered {
  checkLabel(label, DIGIT_LABELS, 'renderDigit');
  const rng = createRng(seed);
  const u = (lo: number, hi: number) => lo + (hi - lo) * rng();
  const wobble = jitter.wobble ?? 0.025;
  const strokes = DIGIT_TEMPLATES[label]().map((s) => s.map(([x, y]): Point => [x + u(-wobble, wobble), y + u(-wobble, wobble)]));
  const rot = jitter.rotate ?? 12;
  const scale = jitter.scale ?? 0.2;
  const sx = u(1 - scale, 1 + scale * 0.3);
  const m = jitterAffine(u(-rot, rot), sx * u(0.9, 1.1), sx, u(-(jitter.shear ?? 0.25), jitter.shear ?? 0.25), u(-(jitter.shift ?? 0.07), jitter.shift ?? 0.07), u(-(jitter.shift ?? 0.07), jitter.shift ?? 0.07));
  const [w0, w1] = jitter.width ?? [1.6, 3];
  return { label, image: { data: renderStrokes(transform(strokes, m), SIZE, u(w0, w1)), shape: [SIZE, SIZE, 1] } };
}

/** A circle, square or triangle: random size, position, rotation; outlined or filled. */
export function renderShape(label: string, seed: number, options: { filled?: boolean } = {}): Rendered {
  checkLabel(label, SHAPE_LABELS, 'renderShape');
  const rng = createRng(seed);
  const u = (lo: number, hi: number) => lo + (hi - lo) * rng();
  const r = u(0.18, 0.36);
  const cx = u(0.5 - (0.45 - r), 0.5 + (0.45 - r));
  const cy = u(0.5 - (0.45 - r), 0.5 + (0.45 - r));
  const turn = u(0, 2 * Math.PI);
  const corners = label === 'square' ? 4 : 3;
  const outline: Point[] =
    label === 'circle'
      ? arc(cx, cy, r, r, 0, 360, 32)
      : Array.from({ length: corners + 1 }, (_, i): Point => [cx + r * Math.cos(turn + (2 * Math.PI * i) / corners), cy + r * Math.sin(turn + (2 * Math.PI * i) / corners)]);
  const data = renderStrokes([outline], SIZE, u(1.4, 2.6));
  if (options.filled ?? rng() < 0.5) {
    for (let y = 0; y < SIZE; y++) for (let x = 0; x < SIZE; x++) if (insidePolygon((x + 0.5) / SIZE, (y + 0.5) / SIZE, outline)) data[y * SIZE + x] = 1;
  }
  return { label, image: { data, shape: [SIZE, SIZE, 1] } };
}

export type ImageKind = 'digits' | 'shapes';

/** `count` records, labels dealt round-robin from `labels`, each tagged meta.synthetic. */
export function generateImages(kind: ImageKind, labels: readonly string[], count: number, seed: number, jitter: ImageJitter = {}): DataRecord[] {
  if (!Number.isInteger(count) || count < 0) throw new Error(`generateImages: count must be an integer >= 0 (got ${count})`);
  if (labels.length === 0) throw new Error('generateImages: give at least one label');
  const source = `simulate:${kind}`;
  return Array.from({ length: count }, (_, row) => {
    const label = labels[row % labels.length];
    // One seed per record, so record k is the same whatever `count` is.
    const s = (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(row + 1, 0x85ebca6b)) >>> 0;
    const r = kind === 'digits' ? renderDigit(label, s, jitter) : renderShape(label, s);
    return { id: `${source}:${seed}:${row}`, image: r.image, label, meta: { source, row, synthetic: true, seed } };
  });
}
