import { loadAddon } from '@leantune/native';
import { Conv1D, Linear, quantizeMatrix, quantizeModule, quantizedMatMul, tf, type QuantizeSpec, type QuantizedWeight } from '@leantune/tensor';
import { countingAddon, useNativeBackend } from './counting-addon';
import { seededValues } from './reference';

// The addon's fused dequantize-GEMM (quantMatmul) against the JS path: W dequantized in JS
// and multiplied by tfjs's cpu backend, which shares no code with the addon.

const SPECS: QuantizeSpec[] = [{ type: 'bf16' }, { type: 'fp16' }, { type: 'int8' }, { type: 'nf4' }, { type: 'nf4', doubleQuant: true }];
const label = (s: QuantizeSpec) => s.type + (s.doubleQuant ? '+dq' : '');

/** max |a − b| / max |b|. */
function relativeError(a: Float32Array | number[], b: Float32Array | number[]): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}

/** The JS path on the cpu backend: dequantize, then x·Wᵀ or x·W. */
async function onCpu(x: Float32Array, xShape: [number, number], w: QuantizedWeight, transposeW: boolean): Promise<Float32Array> {
  const active = tf.getBackend();
  await tf.setBackend('cpu');
  const out = tf.tidy(() => quantizedMatMul(tf.tensor2d(x, xShape), w, transposeW).dataSync() as Float32Array);
  await tf.setBackend(active);
  return out;
}

describe('native quantMatmul (fused dequantize-GEMM)', () => {
  const counted = countingAddon(loadAddon());
  beforeAll(async () => {
    await useNativeBackend(counted.addon);
  });

  // rows = out features, cols = in features; 300 > KC (two depth blocks), 70 and 37 not multiples of NR or MR,
  // 520·384 an odd size against the nf4 block of 64 at row ends; 96×640 with m 256 runs on both threads.
  const SHAPES: Array<[m: number, out: number, inF: number]> = [[37, 70, 300], [5, 3, 520], [256, 96, 640], [1, 384, 7]];

  it.each(SPECS.map((s) => [label(s), s] as const))('%s: forward (x·Wᵀ) and input gradient (dy·W) within 1e-5 of the JS path, without a matmul on an fp32 W', async (_name, spec) => {
    let seed = 3;
    for (const [m, out, inF] of SHAPES) {
      const w = quantizeMatrix(Float32Array.from(seededValues(out * inF, seed++), (v) => v * 0.05), out, inF, spec);
      for (const transposeW of [true, false]) {
        const k = transposeW ? inF : out;
        const x = Float32Array.from(seededValues(m * k, seed++));
        const before = counted.callsOf('quantMatmul');
        const matmuls = counted.callsOf('matmul');
        const native = tf.tidy(() => quantizedMatMul(tf.tensor2d(x, [m, k]), w, transposeW).dataSync() as Float32Array);
        expect(counted.callsOf('quantMatmul')).toBe(before + 1);
        expect(counted.callsOf('matmul')).toBe(matmuls);
        const reference = await onCpu(x, [m, k], w, transposeW);
        expect(native.length).toBe(reference.length);
        expect(relativeError(native, reference)).toBeLessThan(1e-5);
      }
    }
  });

  it('a quantized Linear and Conv1D train their inputs and biases on the native backend as on cpu', async () => {
    for (const spec of SPECS) {
      const results: Record<string, number[][]> = {};
      for (const backend of ['native', 'cpu']) {
        if (backend === 'native') await useNativeBackend(counted.addon);
        else await tf.setBackend('cpu');
        tf.util.assert(tf.getBackend() === backend, () => 'backend');
        const lin = new Linear(300, 40);
        const conv = new Conv1D(40, 300);
        const w = Float32Array.from(seededValues(300 * 40, 11), (v) => v * 0.05);
        lin.loadStateDict({ weight: tf.tensor2d(w, [40, 300]), bias: tf.zeros([40]) });
        conv.loadStateDict({ weight: tf.tensor2d(w, [300, 40]), bias: tf.zeros([40]) });
        lin.freeze(['weight']);
        conv.freeze(['weight']);
        quantizeModule(lin, spec);
        quantizeModule(conv, spec);
        const x = tf.tensor3d(Float32Array.from(seededValues(2 * 9 * 300, 5)), [2, 9, 300]);
        const rows: number[][] = [];
        for (const layer of [lin, conv]) {
          const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(layer.forward(x))) as tf.Scalar, [layer.getParameter('bias').variable]);
          const dx = tf.grad((input: tf.Tensor) => tf.sum(tf.square(layer.forward(input))))(x);
          rows.push([value.dataSync()[0]], Array.from(Object.values(grads)[0].dataSync()), Array.from(dx.dataSync()));
          tf.dispose([value, dx, ...Object.values(grads)]);
        }
        results[backend] = rows;
        x.dispose();
        lin.dispose();
        conv.dispose();
      }
      results.native.forEach((row, i) => expect(relativeError(row, results.cpu[i])).toBeLessThan(1e-5));
    }
    await useNativeBackend(counted.addon);
  });

  it('refuses malformed operands with a message naming the argument', () => {
    const addon = loadAddon();
    const out = new Float32Array(4);
    expect(() => addon.quantMatmul(new Float32Array(4), out, 2, 2, 2, false, 3, new Int8Array(4), null, null, null, 0, 2, 2)).toThrow(/int8 needs scales/);
    expect(() => addon.quantMatmul(new Float32Array(4), out, 2, 2, 2, false, 4, new Uint8Array(1), new Float32Array(1), null, null, 0, 2, 2)).toThrow(/data must hold rows·cols codes/);
    expect(() => addon.quantMatmul(new Float32Array(4), out, 2, 2, 2, false, 1, new Int8Array(4), null, null, null, 0, 2, 2)).toThrow(/data must be a Uint16Array/);
    expect(() => addon.quantMatmul(new Float32Array(4), out, 2, 2, 2, false, 9, new Uint8Array(2), null, null, null, 0, 2, 2)).toThrow(/unknown format code/);
    expect(() => addon.quantMatmul(new Float32Array(6), out, 2, 2, 3, false, 1, new Uint16Array(4), null, null, null, 0, 2, 2)).toThrow(/W \[rows, cols\] must be \[k, n\]/);
  });
});
