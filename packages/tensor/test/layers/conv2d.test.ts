import { Conv2d, conv2dWeightFromTfjs, conv2dWeightToTfjs, tf } from '@leantune/tensor';
import { expectGradientsMatchFiniteDifferences, weightedSum } from '../helpers/gradcheck';
import { expectClose, setParameters, testValues } from '../helpers/reference';

interface RefConv {
  n: number; h: number; w: number; c: number; // input NHWC
  o: number; k: number; stride: number; groups: number;
  pad: [number, number]; // top/left, bottom/right zeros
}

/** PyTorch-semantics grouped convolution in plain JS: x NHWC, weight [o, c/g, k, k]. */
function convRef(x: number[], wt: number[], bias: number[] | undefined, r: RefConv): { out: number[]; oh: number; ow: number } {
  const oh = Math.floor((r.h + r.pad[0] + r.pad[1] - r.k) / r.stride) + 1;
  const ow = Math.floor((r.w + r.pad[0] + r.pad[1] - r.k) / r.stride) + 1;
  const cg = r.c / r.groups;
  const og = r.o / r.groups;
  const out: number[] = [];
  for (let n = 0; n < r.n; n++)
    for (let i = 0; i < oh; i++)
      for (let j = 0; j < ow; j++)
        for (let o = 0; o < r.o; o++) {
          const g = Math.floor(o / og);
          let s = bias ? bias[o] : 0;
          for (let ci = 0; ci < cg; ci++)
            for (let a = 0; a < r.k; a++)
              for (let b = 0; b < r.k; b++) {
                const y = i * r.stride + a - r.pad[0];
                const xx = j * r.stride + b - r.pad[0];
                if (y < 0 || y >= r.h || xx < 0 || xx >= r.w) continue;
                s += x[((n * r.h + y) * r.w + xx) * r.c + g * cg + ci] * wt[((o * cg + ci) * r.k + a) * r.k + b];
              }
          out.push(s);
        }
  return { out, oh, ow };
}

describe('Conv2d (NHWC, PyTorch weight layout)', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  const cases: Array<[string, { c: number; o: number; k: number; stride: number; groups: number; padding: 'same' | 'valid' | number }, [number, number]]> = [
    ['valid, stride 1', { c: 2, o: 3, k: 3, stride: 1, groups: 1, padding: 'valid' }, [0, 0]],
    ['padding 1, stride 2', { c: 2, o: 3, k: 3, stride: 2, groups: 1, padding: 1 }, [1, 1]],
    // TF 'same' on H = W = 5, k = 2, stride 2: out 3, total pad 1, all of it bottom/right.
    ["'same', stride 2, even kernel", { c: 2, o: 2, k: 2, stride: 2, groups: 1, padding: 'same' }, [0, 1]],
    ['groups 2', { c: 4, o: 6, k: 3, stride: 1, groups: 2, padding: 1 }, [1, 1]],
    ['depthwise, multiplier 2', { c: 3, o: 6, k: 3, stride: 1, groups: 3, padding: 1 }, [1, 1]],
    ['depthwise, stride 2', { c: 2, o: 2, k: 3, stride: 2, groups: 2, padding: 'same' }, [1, 1]],
    // Kernel = stride, no padding: the patch-embedding path (a matmul of flattened patches); 5 = 2·2 + 1 crops a row and a column.
    ['patches, kernel = stride 2, valid', { c: 2, o: 3, k: 2, stride: 2, groups: 1, padding: 'valid' }, [0, 0]],
    ['patches, kernel = stride 5, padding 0', { c: 3, o: 4, k: 5, stride: 5, groups: 1, padding: 0 }, [0, 0]],
  ];

  it.each(cases)('matches a plain-JS convolution: %s', (_name, o, pad) => {
    const conv = new Conv2d(o.c, o.o, o.k, { stride: o.stride, padding: o.padding, groups: o.groups });
    expect(conv.getParameter('weight').shape).toEqual([o.o, o.c / o.groups, o.k, o.k]);
    const weight = testValues(o.o * (o.c / o.groups) * o.k * o.k, 1);
    const bias = testValues(o.o, 2);
    setParameters(conv, { weight, bias });
    const x = testValues(2 * 5 * 5 * o.c, 3);
    const ref = convRef(x, weight, bias, { n: 2, h: 5, w: 5, c: o.c, o: o.o, k: o.k, stride: o.stride, groups: o.groups, pad });
    const y = conv.forward(tf.tensor(x, [2, 5, 5, o.c]));
    expect(y.shape).toEqual([2, ref.oh, ref.ow, o.o]);
    expectClose(y.dataSync(), ref.out, 1e-4);
    conv.dispose();
  });

  it('the patch path has the gradients of tf.conv2d (input, weight and bias)', () => {
    const conv = new Conv2d(3, 4, 2, { stride: 2 });
    setParameters(conv, { weight: testValues(4 * 3 * 2 * 2, 5), bias: testValues(4, 6) });
    const x = tf.variable(tf.tensor(testValues(2 * 4 * 6 * 3, 7), [2, 4, 6, 3]));
    const [w, b] = [conv.getParameter('weight').variable, conv.getParameter('bias').variable];
    const loss = (y: tf.Tensor) => tf.sum(tf.mul(y, tf.tensor(testValues(y.size, 8), y.shape))) as tf.Scalar;
    const ours = tf.variableGrads(() => loss(conv.forward(x)), [x, w, b]);
    const direct = tf.variableGrads(() => loss(tf.add(tf.conv2d(x as tf.Tensor4D, conv2dWeightToTfjs(w), 2, 'valid'), b)), [x, w, b]);
    expectClose(ours.value.dataSync(), direct.value.dataSync(), 1e-4);
    for (const v of [x, w, b]) expectClose(ours.grads[v.name].dataSync(), direct.grads[v.name].dataSync(), 1e-4);
    conv.dispose();
  });

  it('without bias has only a weight; rejects bad arguments and inputs', () => {
    const conv = new Conv2d(2, 4, [3, 1], { bias: false });
    expect([...conv.namedParameters()].map(([n, p]) => `${n}:${p.shape}`)).toEqual(['weight:4,2,3,1']);
    expect(() => conv.forward(tf.zeros([1, 4, 4, 3]))).toThrow('Conv2d: input must have 2 channels (NHWC, last axis), got shape [1,4,4,3]');
    expect(() => conv.forward(tf.zeros([4, 4, 2]))).toThrow('Conv2d: input must be rank 4 NHWC');
    expect(() => new Conv2d(3, 4, 3, { groups: 2 })).toThrow('must be divisible by groups (2)');
    expect(() => new Conv2d(2, 4, 3, { padding: -1 })).toThrow("Conv2d: padding must be 'same', 'valid' or a non-negative integer, got -1");
    conv.dispose();
  });

  it('converts weights between PyTorch and tfjs layouts (round trip and against tf.conv2d)', () => {
    const torchW = tf.tensor(testValues(3 * 2 * 2 * 2, 4), [3, 2, 2, 2]);
    const tfjsW = conv2dWeightToTfjs(torchW);
    expect(tfjsW.shape).toEqual([2, 2, 2, 3]);
    // [o, i, a, b] in PyTorch is [a, b, i, o] in tfjs.
    expect((tfjsW.arraySync() as number[][][][])[1][0][1][2]).toBe((torchW.arraySync() as number[][][][])[2][1][1][0]);
    expect(Array.from(conv2dWeightFromTfjs(tfjsW).dataSync())).toEqual(Array.from(torchW.dataSync()));
    // Depthwise: [c·m, 1, k, k] ↔ [k, k, c, m].
    const dwTorch = tf.tensor(testValues(6 * 9, 5), [6, 1, 3, 3]);
    const dwTfjs = conv2dWeightToTfjs(dwTorch, 3);
    expect(dwTfjs.shape).toEqual([3, 3, 3, 2]);
    expect((dwTfjs.arraySync() as number[][][][])[2][1][1][0]).toBe((dwTorch.arraySync() as number[][][][])[2][0][2][1]);
    expect(Array.from(conv2dWeightFromTfjs(dwTfjs, true).dataSync())).toEqual(Array.from(dwTorch.dataSync()));
    // A layer loaded through the converter computes what tf.conv2d computes with the tfjs weight.
    const conv = new Conv2d(2, 3, 2, { bias: false });
    const loaded = conv2dWeightFromTfjs(tfjsW);
    conv.loadStateDict({ weight: loaded });
    const x = tf.tensor(testValues(4 * 4 * 2, 6), [1, 4, 4, 2]) as tf.Tensor4D;
    expectClose(conv.forward(x).dataSync(), tf.conv2d(x, tfjsW, 1, 'valid').dataSync());
    expect(() => conv2dWeightToTfjs(tf.zeros([2, 2]))).toThrow('conv2dWeightToTfjs: weight must be rank 4');
    conv.dispose();
  });

  it.each([
    ['regular, padding 1, stride 2', { groups: 1, o: 2, stride: 2, padding: 1 as const }],
    ['grouped', { groups: 2, o: 2, stride: 1, padding: 'valid' as const }],
    ['depthwise', { groups: 2, o: 4, stride: 1, padding: 'same' as const }],
  ])('has gradients that match finite differences: %s', (_name, o) => {
    const conv = new Conv2d(2, o.o, 2, { groups: o.groups, stride: o.stride, padding: o.padding });
    const x = tf.variable(tf.tensor(testValues(1 * 3 * 3 * 2, 7), [1, 3, 3, 2]));
    const vars = [conv.getParameter('weight').variable, conv.getParameter('bias').variable, x];
    expectGradientsMatchFiniteDifferences(() => weightedSum(conv.forward(x)), vars);
    conv.dispose();
    x.dispose();
  });
});
