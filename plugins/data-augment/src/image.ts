import type { ImageArray } from '@leantune/data';

/** One draw of the geometric and noise parameters, so transforms are testable without an rng. */
export interface ImageTransform {
  /** Degrees, counter-clockwise, about the image centre. */
  angle: number;
  /** Shift in pixels (x right, y down); random crops are integer shifts. */
  dx: number;
  dy: number;
  flip: boolean;
  /** Standard deviation of Gaussian noise, in the image's own scale (0..255 for uint8). */
  noise: number;
}

/** Standard normal from two uniforms (Box–Muller). */
export function gaussian(rng: () => number): number {
  const u = Math.max(rng(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng());
}

/**
 * Applies the transform by inverse mapping: each output pixel samples the input at the
 * rotated/shifted/flipped position (nearest neighbour; outside the image reads 0, the
 * background of digit-style images). Returns a new image of the same type and shape.
 */
export function transformImage(image: ImageArray, t: ImageTransform, rng: () => number): ImageArray {
  const [h, w, c] = image.shape;
  const out = new (image.data.constructor as new (n: number) => ImageArray['data'])(image.data.length);
  const rad = (t.angle * Math.PI) / 180;
  const cos = Math.cos(rad);
  const sin = Math.sin(rad);
  const cy = (h - 1) / 2;
  const cx = (w - 1) / 2;
  const isByte = image.data instanceof Uint8Array;
  const max = isByte ? 255 : Number.POSITIVE_INFINITY;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      // Undo the shift, then the rotation (counter-clockwise on screen, y pointing down), then the flip.
      const ux = x - t.dx - cx;
      const uy = y - t.dy - cy;
      let sx = Math.round(cos * ux - sin * uy + cx);
      const sy = Math.round(sin * ux + cos * uy + cy);
      if (t.flip) sx = w - 1 - sx;
      for (let ch = 0; ch < c; ch++) {
        let v = sx >= 0 && sx < w && sy >= 0 && sy < h ? image.data[(sy * w + sx) * c + ch] : 0;
        if (t.noise > 0) v = Math.min(max, Math.max(0, v + t.noise * gaussian(rng)));
        out[(y * w + x) * c + ch] = isByte ? Math.round(v) : v;
      }
    }
  }
  return { data: out, shape: [h, w, c] };
}

export interface ImagePolicy {
  rotation: number;
  translation: number;
  crop: number;
  flip: boolean;
  noise: number;
}

/** Draws a transform from the policy: uniform angle and shift, crop as an integer shift in ±crop. */
export function drawTransform(policy: ImagePolicy, rng: () => number): ImageTransform {
  const uniform = (m: number) => (m > 0 ? (rng() * 2 - 1) * m : 0);
  const crop = () => (policy.crop > 0 ? Math.floor(rng() * (2 * policy.crop + 1)) - policy.crop : 0);
  return {
    angle: uniform(policy.rotation),
    dx: uniform(policy.translation) + crop(),
    dy: uniform(policy.translation) + crop(),
    flip: policy.flip && rng() < 0.5,
    noise: policy.noise,
  };
}
