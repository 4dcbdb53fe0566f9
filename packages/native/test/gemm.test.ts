import { existsSync, readFileSync } from 'node:fs';
import { ACTIVATION_CODES, loadAddon, type Isa } from '@leantune/native';
import { maxAbsDiff, naiveMatMul, seededValues } from './reference';

// The addon alone, against a float64 loop written from the definition. Every micro-kernel
// this CPU can run is checked, single- and multi-threaded, since edge tiles, packing of
// transposed operands and the split of work across threads are where a GEMM goes wrong. A
// micro-kernel this CPU cannot run is declared skipped, with the reason in its title, so the
// report says which kernels ran and which did not.
const addon = loadAddon();
const detected = addon.info().detectedIsa;
const ALL_ISAS = ['avx512', 'avx2', 'scalar'] as const;
const runnable = new Map<Isa, boolean>(ALL_ISAS.map((isa) => [isa, addon.setIsa(isa)]));
addon.setIsa(detected);
const isas: Isa[] = ALL_ISAS.filter((isa) => runnable.get(isa));
const skipped: Isa[] = ALL_ISAS.filter((isa) => !runnable.get(isa));
const why = (isa: Isa) => `skipped: this CPU has no ${isa === 'avx512' ? 'AVX-512 (avx512f)' : 'AVX2 with FMA'}; detected ${detected}`;
afterAll(() => {
  addon.setIsa(detected);
  addon.setThreads(2);
});

/** The CPU's feature flags as Linux reports them (first processor), or undefined elsewhere. */
function cpuFlags(): Set<string> | undefined {
  if (!existsSync('/proc/cpuinfo')) return undefined;
  const line = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('flags'));
  return line ? new Set(line.slice(line.indexOf(':') + 1).trim().split(/\s+/)) : undefined;
}

describe('native GEMM micro-kernels on this CPU', () => {
  const flags = cpuFlags();
  const check = flags ? it : it.skip;
  check(`are the ones its feature flags allow (ran: ${isas.join(', ')}; ${skipped.length ? `not run: ${skipped.join(', ')}` : 'none skipped'})${flags ? '' : ' (skipped: no /proc/cpuinfo)'}`, () => {
    const has = (...names: string[]) => names.every((n) => flags!.has(n));
    expect(Object.fromEntries(runnable)).toEqual({ avx512: has('avx512f'), avx2: has('avx2', 'fma'), scalar: true });
    expect(detected).toBe(isas[0]);
  });
});

/** describe for a micro-kernel this CPU runs; describe.skip, the reason in the title, for one it cannot. */
function describeIsa(isa: Isa, what: string, body: () => void): void {
  if (runnable.get(isa)) describe(`native GEMM, ${isa} micro-kernel${what}`, body);
  else describe.skip(`native GEMM, ${isa} micro-kernel${what} (${why(isa)})`, body);
}

const SIZES: Array<[number, number, number]> = [
  // Rows past MC (96), depth past KC (256), columns past NC (1024); split by rows and by columns.
  [1, 1, 1], [3, 17, 5], [17, 3, 1], [129, 17, 3], [5, 129, 300], [33, 65, 257], [40, 200, 70], [2, 1100, 3],
];

for (const isa of ALL_ISAS) describeIsa(isa, '', () => {
  beforeAll(() => expect(addon.setIsa(isa)).toBe(true));

  it.each([1, 2])('matches the definition for every transpose combination and odd size (%d threads)', (threads) => {
    addon.setThreads(threads);
    expect(addon.info()).toMatchObject({ isa, threads });
    for (const [m, n, k] of SIZES) {
      for (const transposeA of [false, true]) {
        for (const transposeB of [false, true]) {
          const a = seededValues(m * k, m + k);
          const b = seededValues(k * n, n + 7 * k);
          const out = new Float32Array(m * n).fill(Number.NaN);
          addon.matmul(a, b, out, m, n, k, transposeA, transposeB, 1, null, null, null, 0, 0);
          const diff = maxAbsDiff(out, naiveMatMul(a, b, m, n, k, transposeA, transposeB));
          if (diff > 1e-5 * Math.max(1, Math.sqrt(k))) throw new Error(`${isa} ${m}x${n}x${k} tA=${transposeA} tB=${transposeB}: max diff ${diff}`);
        }
      }
    }
  });
});

// Products past every block size at once (rows past one row block, columns past one
// column block of 4096, depth past two depth blocks), where the threads share packed B
// and pipeline its blocks: sampled entries against the definition, every transpose.
for (const isa of ALL_ISAS) describeIsa(isa, ', many blocks', () => {
  beforeAll(() => expect(addon.setIsa(isa)).toBe(true));

  it.each([1, 2])('matches the definition at sampled entries (%d threads)', (threads) => {
    addon.setThreads(threads);
    expect(addon.info()).toMatchObject({ isa, threads });
    const cases: Array<[number, number, number, number]> = [[150, 4133, 530, 1], [3, 4500, 300, 1], [150, 70, 600, 3]];
    for (const [m, n, k, batch] of cases) {
      const a = seededValues(batch * m * k, m + k);
      const b = seededValues(batch * k * n, n + 7 * k);
      const bias = seededValues(n, 9);
      for (const transposeA of [false, true]) {
        for (const transposeB of [false, true]) {
          const out = new Float32Array(batch * m * n).fill(Number.NaN);
          addon.matmul(a, b, out, m, n, k, transposeA, transposeB, batch, null, null, bias, ACTIVATION_CODES.relu, 0);
          let worst = 0;
          for (let s = 0; s < 96; s++) {
            const [o, i, j] = [(s * 7) % batch, (s * 131 + (s >> 3)) % m, (s * 977 + 13 * (s & 7)) % n];
            let sum = bias[j];
            for (let p = 0; p < k; p++) sum += (transposeA ? a[o * m * k + p * m + i] : a[o * m * k + i * k + p]) * (transposeB ? b[o * k * n + j * k + p] : b[o * k * n + p * n + j]);
            worst = Math.max(worst, Math.abs(out[o * m * n + i * n + j] - Math.max(sum, 0)));
          }
          if (!(worst <= 1e-5 * Math.sqrt(k))) throw new Error(`${isa} ${batch}x${m}x${n}x${k} tA=${transposeA} tB=${transposeB}: max diff ${worst}`);
        }
      }
    }
  });
});

describe('native GEMM batches and epilogue', () => {
  beforeEach(() => addon.setThreads(2));

  it('runs a strided batch and broadcasts a batch of one, on either side, in one call', () => {
    const [batch, m, n, k] = [6, 20, 36, 24];
    const a = seededValues(batch * m * k, 1);
    const b = seededValues(batch * k * n, 2);
    const shared = seededValues(k * n, 3);
    const out = new Float32Array(batch * m * n);
    addon.matmul(a, b, out, m, n, k, false, true, batch, null, null, null, 0, 0);
    for (let o = 0; o < batch; o++) {
      const ref = naiveMatMul(a.subarray(o * m * k, (o + 1) * m * k), b.subarray(o * k * n, (o + 1) * k * n), m, n, k, false, true);
      expect(maxAbsDiff(out.subarray(o * m * n, (o + 1) * m * n), ref)).toBeLessThan(1e-5);
    }
    addon.matmul(a, shared, out, m, n, k, false, false, batch, null, null, null, 0, 0);
    const last = naiveMatMul(a.subarray((batch - 1) * m * k), shared, m, n, k, false, false);
    expect(maxAbsDiff(out.subarray((batch - 1) * m * n), last)).toBeLessThan(1e-5);
    const oneA = a.subarray(0, m * k);
    addon.matmul(oneA, b, out, m, n, k, false, false, batch, null, null, null, 0, 0);
    const third = naiveMatMul(oneA, b.subarray(2 * k * n, 3 * k * n), m, n, k, false, false);
    expect(maxAbsDiff(out.subarray(2 * m * n, 3 * m * n), third)).toBeLessThan(1e-5);
  });

  it('follows explicit batch indices (two-sided broadcasting such as [2,1]·[1,3])', () => {
    const [m, n, k] = [4, 5, 3];
    const a = seededValues(2 * m * k, 4);
    const b = seededValues(3 * k * n, 5);
    const out = new Float32Array(6 * m * n);
    addon.matmul(a, b, out, m, n, k, false, false, 6, Int32Array.of(0, 0, 0, 1, 1, 1), Int32Array.of(0, 1, 2, 0, 1, 2), null, 0, 0);
    const ref = naiveMatMul(a.subarray(m * k), b.subarray(2 * k * n), m, n, k, false, false);
    expect(maxAbsDiff(out.subarray(5 * m * n), ref)).toBeLessThan(1e-6);
  });

  it('adds a per-column bias and applies each activation', () => {
    const [m, n, k] = [9, 7, 5];
    const a = seededValues(m * k, 6);
    const b = seededValues(k * n, 7);
    const bias = seededValues(n, 8).map((v) => 3 * v);
    const base = naiveMatMul(a, b, m, n, k, false, false).map((v, i) => v + bias[i % n]);
    const expected: Record<keyof typeof ACTIVATION_CODES, (x: number) => number> = {
      linear: (x) => x,
      relu: (x) => Math.max(x, 0),
      relu6: (x) => Math.min(Math.max(x, 0), 6),
      leakyrelu: (x) => (x < 0 ? 0.3 * x : x),
      elu: (x) => (x > 0 ? x : Math.expm1(x)),
      sigmoid: (x) => 1 / (1 + Math.exp(-x)),
    };
    for (const [name, fn] of Object.entries(expected)) {
      const out = new Float32Array(m * n);
      addon.matmul(a, b, out, m, n, k, false, false, 1, null, null, bias, ACTIVATION_CODES[name as keyof typeof ACTIVATION_CODES], 0.3);
      expect({ name, diff: maxAbsDiff(out, base.map(fn)) < 1e-5 }).toEqual({ name, diff: true });
    }
  });

  it('writes zeros (plus bias) for k = 0 and accepts empty outputs', () => {
    const out = new Float32Array(6).fill(9);
    addon.matmul(new Float32Array(0), new Float32Array(0), out, 2, 3, 0, false, false, 1, null, null, Float32Array.of(1, 2, 3), 0, 0);
    expect(Array.from(out)).toEqual([1, 2, 3, 1, 2, 3]);
    expect(() => addon.matmul(new Float32Array(0), new Float32Array(6), new Float32Array(0), 0, 3, 2, false, false, 1, null, null, null, 0, 0)).not.toThrow();
  });

  it('rejects operands whose sizes do not fit, naming the argument', () => {
    const a = new Float32Array(6);
    expect(() => addon.matmul(a, new Float32Array(6), new Float32Array(3), 2, 2, 3, false, false, 1, null, null, null, 0, 0)).toThrow('matmul: out must hold batch·m·n values');
    expect(() => addon.matmul(a, new Float32Array(7), new Float32Array(4), 2, 2, 3, false, false, 1, null, null, null, 0, 0)).toThrow('matmul: b must hold a whole number');
    expect(() => addon.matmul(a, new Float32Array(6), new Float32Array(4), 2, 2, 3, false, false, 1, null, null, new Float32Array(3), 0, 0)).toThrow('matmul: bias must hold n values');
    expect(() => addon.matmul(a, new Float32Array(6), new Float32Array(8), 2, 2, 3, false, false, 2, Int32Array.of(0, 5), null, null, 0, 0)).toThrow('aIndex holds a batch index out of range');
    expect(() => addon.matmul(a as unknown as Float32Array, [1] as unknown as Float32Array, new Float32Array(4), 2, 2, 3, false, false, 1, null, null, null, 0, 0)).toThrow('matmul: b must be a Float32Array');
    expect(() => addon.setIsa('sse9' as Isa)).toThrow("unknown instruction set 'sse9'");
  });
});
