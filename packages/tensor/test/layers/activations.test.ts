import { activation, activationFn, ACTIVATIONS, gelu, geluTanh, quickGelu, relu, silu, tanh, tf } from '@leantune/tensor';
import { expectGradientsMatchFiniteDifferences, weightedSum } from '../helpers/gradcheck';
import { expectClose } from '../helpers/reference';

const xs = [-2, -0.5, 0, 0.3, 1, 2.5];
// Reference values from Python's math.erf / math.tanh / math.exp at the points above.
const expected = {
  gelu: [-0.04550026389635842, -0.15426876936299344, 0, 0.18537342665668577, 0.8413447460685429, 2.4844758366855597],
  geluTanh: [-0.04540230591222494, -0.15428599017485606, 0, 0.18537092354275922, 0.8411919906082768, 2.484915733910001],
  quickGelu: [-0.06434137685579186, -0.1496115633936199, 0, 0.1874841353815917, 0.8457957659328212, 2.46501383495143],
  silu: [-0.2384058440442351, -0.1887703343990727, 0, 0.1723327550434977, 0.7310585786300049, 2.3103545499468914],
};

describe('activations', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('match reference values', () => {
    const x = tf.tensor1d(xs);
    expectClose(gelu(x).dataSync(), expected.gelu, 1e-5);
    expectClose(geluTanh(x).dataSync(), expected.geluTanh, 1e-5);
    expectClose(quickGelu(x).dataSync(), expected.quickGelu, 1e-5);
    expectClose(silu(x).dataSync(), expected.silu, 1e-5);
    expectClose(relu(x).dataSync(), [0, 0, 0, 0.3, 1, 2.5]);
    expectClose(tanh(x).dataSync(), xs.map(Math.tanh));
  });

  it('resolve Hugging Face names to the right function', () => {
    expect(activationFn('gelu')).toBe(gelu);
    expect(activationFn('gelu_new')).toBe(geluTanh);
    expect(activationFn('gelu_pytorch_tanh')).toBe(geluTanh);
    expect(activationFn('quick_gelu')).toBe(quickGelu);
    expect(Object.keys(ACTIVATIONS).sort()).toEqual(['gelu', 'gelu_new', 'gelu_pytorch_tanh', 'quick_gelu', 'relu', 'silu', 'tanh']);
    const m = activation('silu');
    expectClose(m.forward(tf.tensor1d(xs)).dataSync(), expected.silu, 1e-5);
    expect([...m.namedParameters()]).toEqual([]);
  });

  it('reject an unknown name, listing the allowed ones', () => {
    expect(() => activation('swish')).toThrow(
      'Unknown activation "swish"; allowed: gelu, gelu_new, gelu_pytorch_tanh, quick_gelu, relu, silu, tanh',
    );
    // Object.prototype keys are not activations.
    expect(() => activationFn('toString')).toThrow('Unknown activation "toString"');
  });

  it('have gradients that match finite differences', () => {
    // Points away from relu's kink at 0.
    const x = tf.variable(tf.tensor1d([-1.7, -0.6, 0.25, 0.9, 2.1]));
    for (const fn of [gelu, geluTanh, quickGelu, silu, relu, tanh]) {
      expectGradientsMatchFiniteDifferences(() => weightedSum(fn(x)), [x]);
    }
    x.dispose();
  });
});
