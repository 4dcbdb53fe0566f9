/**
 * A tiny stroke rasteriser: polylines in unit coordinates, an affine jitter, and
 * anti-aliased strokes from the distance of each pixel centre to the nearest segment.
 */
export type Point = [number, number];
export type Stroke = Point[];

/** Points along an ellipse arc; angles in degrees, y grows downwards (270° is the top). */
export function arc(cx: number, cy: number, rx: number, ry: number, fromDeg: number, toDeg: number, steps = 16): Stroke {
  const out: Stroke = [];
  for (let i = 0; i <= steps; i++) {
    const t = ((fromDeg + ((toDeg - fromDeg) * i) / steps) * Math.PI) / 180;
    out.push([cx + rx * Math.cos(t), cy + ry * Math.sin(t)]);
  }
  return out;
}

/** 2×3 affine matrix [a, b, c, d, e, f]: x' = a·x + b·y + c, y' = d·x + e·y + f. */
export type Affine = [number, number, number, number, number, number];

/** Rotation (deg), scale, shear and translation about the canvas centre (0.5, 0.5). */
export function jitterAffine(rotateDeg: number, scaleX: number, scaleY: number, shear: number, dx: number, dy: number): Affine {
  const r = (rotateDeg * Math.PI) / 180;
  const cos = Math.cos(r);
  const sin = Math.sin(r);
  // M = R · Shear · S, applied to (p − centre), then + centre + shift.
  const a = cos * scaleX;
  const b = (cos * shear - sin) * scaleY;
  const d = sin * scaleX;
  const e = (sin * shear + cos) * scaleY;
  return [a, b, 0.5 + dx - a * 0.5 - b * 0.5, d, e, 0.5 + dy - d * 0.5 - e * 0.5];
}

export function transform(strokes: readonly Stroke[], m: Affine): Stroke[] {
  return strokes.map((s) => s.map(([x, y]): Point => [m[0] * x + m[1] * y + m[2], m[3] * x + m[4] * y + m[5]]));
}

function segmentDistance(px: number, py: number, ax: number, ay: number, bx: number, by: number): number {
  const vx = bx - ax;
  const vy = by - ay;
  const len2 = vx * vx + vy * vy;
  const t = len2 === 0 ? 0 : Math.max(0, Math.min(1, ((px - ax) * vx + (py - ay) * vy) / len2));
  const dx = px - (ax + t * vx);
  const dy = py - (ay + t * vy);
  return Math.sqrt(dx * dx + dy * dy);
}

/**
 * Renders strokes (unit coordinates) on a size×size canvas: a pixel's value falls linearly
 * from 1 to 0 over one pixel beyond half the stroke width, which gives MNIST-like soft edges.
 */
export function renderStrokes(strokes: readonly Stroke[], size: number, width: number): Float32Array {
  const out = new Float32Array(size * size);
  const segs: number[] = [];
  for (const s of strokes) for (let i = 0; i + 1 < s.length; i++) segs.push(s[i][0] * size, s[i][1] * size, s[i + 1][0] * size, s[i + 1][1] * size);
  for (const s of strokes) if (s.length === 1) segs.push(s[0][0] * size, s[0][1] * size, s[0][0] * size, s[0][1] * size);
  const half = width / 2;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let best = Infinity;
      for (let k = 0; k < segs.length; k += 4) best = Math.min(best, segmentDistance(x + 0.5, y + 0.5, segs[k], segs[k + 1], segs[k + 2], segs[k + 3]));
      out[y * size + x] = Math.max(0, Math.min(1, half + 0.5 - best));
    }
  }
  return out;
}

/** Even-odd point-in-polygon test, for filled shapes. */
export function insidePolygon(px: number, py: number, poly: readonly Point[]): boolean {
  let inside = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [xi, yi] = poly[i];
    const [xj, yj] = poly[j];
    if (yi > py !== yj > py && px < ((xj - xi) * (py - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}
