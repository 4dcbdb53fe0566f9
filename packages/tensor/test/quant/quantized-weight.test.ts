import { Conv1D, Linear, NF4_BLOCK, NF4_CODE, Parameter, QuantizedWeight, parseQuantizeSpec, quantizedBytes, quantizeMatrix, quantizeModule, quantizeWeight, tf, type QuantizeSpec } from '@leantune/tensor';

/** ‖w − ŵ‖ / ‖w‖. */
function relativeRmse(w: Float32Array, back: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < w.length; i++) {
    num += (w[i] - back[i]) ** 2;
    den += w[i] ** 2;
  }
  return Math.sqrt(num / den);
}

/** Plain symmetric 4-bit absmax integers (levels −7…7), blocks of 64: the baseline NF4 is compared with. */
function int4AbsmaxRoundTrip(w: Float32Array): Float32Array {
  const out = new Float32Array(w.length);
  for (let b = 0; b < w.length; b += NF4_BLOCK) {
    const end = Math.min(w.length, b + NF4_BLOCK);
    let m = 0;
    for (let i = b; i < end; i++) m = Math.max(m, Math.abs(w[i]));
    for (let i = b; i < end; i++) out[i] = m === 0 ? 0 : (Math.round((w[i] / m) * 7) / 7) * m;
  }
  return out;
}

function gaussian(rows: number, cols: number, std: number, seed: number): Float32Array {
  return tf.tidy(() => tf.randomNormal([rows, cols], 0, std, 'float32', seed).dataSync() as Float32Array);
}

describe('QuantizedWeight', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  const rows = 768;
  const cols = 768;
  // GPT-2-like weights: N(0, 0.02).
  const w = gaussian(rows, cols, 0.02, 11);
  const errors = new Map<string, number>();
  const roundTrip = (spec: QuantizeSpec) => {
    const q = quantizeMatrix(w, rows, cols, spec);
    const e = relativeRmse(w, q.dequantize());
    errors.set(spec.type + (spec.doubleQuant ? '+dq' : ''), e);
    return { q, e };
  };

  it('bf16 and fp16 round to nearest: relative error within half an ulp (2⁻⁸, 2⁻¹¹ of the value) for each element', () => {
    for (const [type, halfUlp] of [['bf16', 2 ** -8], ['fp16', 2 ** -11]] as const) {
      const { q } = roundTrip({ type });
      const back = q.dequantize();
      let worst = 0;
      for (let i = 0; i < w.length; i++) if (Math.abs(w[i]) > 1e-4) worst = Math.max(worst, Math.abs(back[i] - w[i]) / Math.abs(w[i]));
      expect(worst).toBeLessThanOrEqual(halfUlp);
      expect(q.bytes).toBe(rows * cols * 2);
    }
  });

  it('int8: per-output-channel absmax, error at most half a step of each row, one scale per row', () => {
    const { q, e } = roundTrip({ type: 'int8' });
    const back = q.dequantize();
    let worstScale = 0;
    let worstStep = 0;
    for (let r = 0; r < rows; r++) {
      let m = 0;
      for (let c = 0; c < cols; c++) m = Math.max(m, Math.abs(w[r * cols + c]));
      const step = m / 127;
      worstScale = Math.max(worstScale, Math.abs(q.scales![r] - step) / step);
      for (let c = 0; c < cols; c++) worstStep = Math.max(worstStep, Math.abs(back[r * cols + c] - w[r * cols + c]) / step);
    }
    expect(worstScale).toBeLessThan(1e-6);
    expect(worstStep).toBeLessThanOrEqual(0.5 + 1e-5);
    // Uniform rounding error over a step of absmax/127 (absmax ≈ 3.2σ for 768 normals): ≈ 0.0073.
    expect(e).toBeLessThan(0.01);
    expect(q.bytes).toBe(rows * cols + rows * 4);
  });

  it('nf4: code values times the block absmax come back exactly; error below 4-bit absmax integers (the QLoRA paper: NF4 beats Int4/FP4 on normal weights)', () => {
    const block = Float32Array.from({ length: NF4_BLOCK }, (_, i) => NF4_CODE[i % 16] * Math.fround(0.37));
    expect(quantizeMatrix(block, 1, NF4_BLOCK, { type: 'nf4' }).dequantize()).toEqual(block);
    const { q, e } = roundTrip({ type: 'nf4' });
    const int4 = relativeRmse(w, int4AbsmaxRoundTrip(w));
    expect(e).toBeLessThan(int4);
    // NF4's levels are N(0,1) quantiles: on normal data its error is well below the uniform grid's.
    expect(e / int4).toBeLessThan(0.95);
    // 4 bits a weight + one fp32 absmax a block of 64: 4.5 bits.
    expect((q.bytes * 8) / (rows * cols)).toBeCloseTo(4 + 32 / NF4_BLOCK, 10);
  });

  it('nf4 double quantization: absmaxes within half a group step, error within 1% of plain nf4, 4.127 bits a weight', () => {
    const plain = quantizeMatrix(w, rows, cols, { type: 'nf4' });
    const { q, e } = roundTrip({ type: 'nf4', doubleQuant: true });
    expect(q.scales).toBeUndefined();
    const exact = plain.blockAbsmax();
    const approx = q.blockAbsmax();
    const dq = q.doubleQuant!;
    let worst = 0;
    for (let b = 0; b < exact.length; b++) worst = Math.max(worst, Math.abs(approx[b] - exact[b]) / dq.groupScales[Math.floor(b / 256)]);
    expect(worst).toBeLessThanOrEqual(0.5 + 1e-4);
    expect(e).toBeLessThan(relativeRmse(w, plain.dequantize()) * 1.01);
    const blocks = (rows * cols) / NF4_BLOCK;
    expect(q.bytes).toBe((rows * cols) / 2 + blocks + Math.ceil(blocks / 256) * 4 + 4);
    expect((q.bytes * 8) / (rows * cols)).toBeLessThan(4.128);
  });

  it('orders the formats by error: fp16 < bf16 < int8 < nf4 (the figures are printed)', () => {
    for (const spec of [{ type: 'fp16' }, { type: 'bf16' }, { type: 'int8' }, { type: 'nf4' }, { type: 'nf4', doubleQuant: true }] as QuantizeSpec[]) {
      if (!errors.has(spec.type + (spec.doubleQuant ? '+dq' : ''))) roundTrip(spec);
    }
    const e = Object.fromEntries(errors);
    // eslint-disable-next-line no-console
    console.log(`relative RMS round-trip error, 768×768 N(0, 0.02): ${JSON.stringify(e)}; int4 absmax (blocks of 64): ${relativeRmse(w, int4AbsmaxRoundTrip(w))}`);
    expect(e.fp16).toBeLessThan(e.bf16);
    expect(e.bf16).toBeLessThan(e.int8);
    expect(e.int8).toBeLessThan(e.nf4);
  });

  it('handles a length that is not a whole number of blocks or bytes, and all-zero blocks; quantizedBytes predicts .bytes', () => {
    const v = Float32Array.from({ length: 3 * 37 }, (_, i) => (i < 64 ? 0 : Math.sin(i)));
    for (const spec of [{ type: 'nf4' }, { type: 'nf4', doubleQuant: true }, { type: 'int8' }, { type: 'bf16' }] as QuantizeSpec[]) {
      const q = quantizeMatrix(v, 3, 37, spec);
      expect(quantizedBytes(3, 37, spec)).toBe(q.bytes);
      expect(quantizedBytes(rows, cols, spec)).toBe(quantizeMatrix(w, rows, cols, spec).bytes);
      if (spec.type === 'bf16') continue;
      const back = q.dequantize();
      expect(back.length).toBe(v.length);
      for (let i = 0; i < 64; i++) expect(back[i]).toBe(0);
      expect(relativeRmse(v, back)).toBeLessThan(0.15);
    }
  });

  it('refuses non-finite weights and bad specs, naming the field', () => {
    expect(() => quantizeMatrix(Float32Array.from([1, NaN]), 1, 2, { type: 'int8' })).toThrow(/element 1 .* NaN/);
    expect(parseQuantizeSpec('nf4')).toEqual({ type: 'nf4', doubleQuant: false });
    expect(parseQuantizeSpec({ type: 'nf4', doubleQuant: true })).toEqual({ type: 'nf4', doubleQuant: true });
    expect(() => parseQuantizeSpec('int4')).toThrow(/model\.quantize\.type: "int4" is not a format; use one of bf16, fp16, int8, nf4/);
    expect(() => parseQuantizeSpec({ type: 'int8', doubleQuant: true })).toThrow(/doubleQuant: double quantization applies to nf4/);
    expect(() => parseQuantizeSpec({ type: 'nf4', blocksize: 32 })).toThrow(/unknown field blocksize/);
  });

  it('a Conv1D weight [in, out] is stored as [out, in] and comes back in its own layout', () => {
    const t = tf.tensor2d(gaussian(5, 3, 1, 3), [5, 3]);
    const q = quantizeWeight(t, { type: 'bf16' }, 'in-out');
    expect([q.rows, q.cols]).toEqual([3, 5]);
    expect(q.shape).toEqual([5, 3]);
    const back = q.toTensor();
    expect(back.shape).toEqual([5, 3]);
    const d = tf.max(tf.abs(tf.sub(back, t))).dataSync()[0];
    expect(d).toBeLessThan(0.01);
    tf.dispose([t, back]);
  });
});

describe('quantized parameters in a module tree', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('quantizes only frozen Linear/Conv1D weights, frees their fp32 variables, and the forward/backward match the dequantized weight', () => {
    for (const spec of [{ type: 'bf16' }, { type: 'fp16' }, { type: 'int8' }, { type: 'nf4' }, { type: 'nf4', doubleQuant: true }] as QuantizeSpec[]) {
      const lin = new Linear(70, 6);
      const conv = new Conv1D(6, 70);
      lin.freeze(['weight']);
      conv.freeze(['weight', 'bias']);
      const x = tf.randomNormal([2, 3, 70], 0, 1, 'float32', 5);
      const before = tf.memory().numBytes;
      const report = quantizeModule(lin, spec);
      const reportConv = quantizeModule(conv, spec);
      expect(report.quantized).toEqual(['weight']);
      expect(reportConv.quantized).toEqual(['weight']);
      expect(tf.memory().numBytes).toBe(before - 2 * 70 * 6 * 4);
      expect(report.bytesAfter).toBeLessThan(report.bytesBefore);
      expect(lin.getParameter('bias').quantized).toBeUndefined();
      for (const [layer, layout] of [[lin, 'out-in'], [conv, 'in-out']] as const) {
        const p = layer.getParameter('weight');
        expect(p.quantized?.sourceLayout).toBe(layout);
        expect(() => p.variable).toThrow(/stored quantized .* param\.dequantize\(\)/);
        expect(() => (p.requiresGrad = true)).toThrow(/cannot train/);
        const wq = p.dequantize();
        const bias = layer.getParameter('bias').variable;
        const ref = (input: tf.Tensor) => (layout === 'out-in' ? tf.add(tf.matMul(tf.reshape(input, [-1, 70]), wq, false, true), bias) : tf.add(tf.matMul(tf.reshape(input, [-1, 70]), wq), bias));
        const y = layer.forward(x);
        const yRef = ref(x);
        expect(y.shape).toEqual([2, 3, 6]);
        expect(tf.max(tf.abs(tf.sub(tf.reshape(y, [-1, 6]), yRef))).dataSync()[0]).toBeLessThan(1e-5);
        const g = tf.grad((input: tf.Tensor) => tf.sum(tf.mul(layer.forward(input), tf.reshape(tf.range(0, 36), [2, 3, 6]))))(x);
        const gRef = tf.grad((input: tf.Tensor) => tf.sum(tf.mul(ref(input), tf.reshape(tf.range(0, 36), [6, 6]))))(x);
        expect(tf.max(tf.abs(tf.sub(g, gRef))).dataSync()[0]).toBeLessThan(1e-4);
        tf.dispose([wq, y, yRef, g, gRef]);
      }
      // Linear's bias trains: its gradient flows through the quantized op.
      const gb = tf.variableGrads(() => tf.sum(lin.forward(x)) as tf.Scalar, [lin.getParameter('bias').variable]);
      expect(Object.values(gb.grads)[0].dataSync()[0]).toBeCloseTo(6, 4);
      tf.dispose(Object.values(gb.grads));
      gb.value.dispose();
      // clone copies the packed weight; loadStateDict quantizes the given values again.
      const copy = lin.clone();
      expect(copy.getParameter('weight').quantized).not.toBe(lin.getParameter('weight').quantized);
      expect(copy.getParameter('weight').quantized!.data).toEqual(lin.getParameter('weight').quantized!.data);
      const zeros = tf.zeros([6, 70]);
      copy.loadStateDict({ weight: zeros });
      expect(Math.max(...copy.getParameter('weight').quantized!.dequantize().map(Math.abs))).toBe(0);
      expect(() => copy.stateDict().get('weight')!.shape).toThrow(/stored quantized/);
      tf.dispose([x, zeros]);
      for (const m of [lin, conv, copy]) m.dispose();
    }
  });

  it('leaves trainable weights and shared variables alone', () => {
    const lin = new Linear(4, 4);
    expect(quantizeModule(lin, { type: 'int8' }).quantized).toEqual([]);
    const shared = new Parameter(lin.getParameter('weight').variable, false);
    lin.freeze();
    (lin as unknown as { addModule(n: string, m: Linear): void }).addModule('twin', new Linear(4, 4));
    const twin = lin.child<Linear>('twin')!;
    (twin as unknown as { params: Map<string, Parameter> }).params.set('weight', shared);
    twin.freeze();
    const r = quantizeModule(lin, { type: 'int8' });
    expect(r.quantized).toEqual([]);
    expect(r.skipped.map((s) => s.path)).toEqual(['weight', 'twin.weight']);
    twin.getParameter('bias').dispose();
    lin.dispose();
  });

  it('a Parameter built from a QuantizedWeight is frozen', () => {
    const q = new QuantizedWeight({ format: 'int8', rows: 1, cols: 2, sourceLayout: 'out-in', data: Int8Array.from([1, -1]), scales: Float32Array.from([0.5]) });
    const p = new Parameter(q);
    expect(p.requiresGrad).toBe(false);
    expect(p.shape).toEqual([1, 2]);
    expect(p.bytes).toBe(6);
  });
});
