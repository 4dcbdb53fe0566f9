import { Linear, MLP, ModuleList, Sequential, activation, tf } from '@leantune/tensor';
import { expectGradientsMatchFiniteDifferences, weightedSum } from '../helpers/gradcheck';
import { expectClose, linearRef, setParameters, testValues } from '../helpers/reference';

describe('MLP', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('computes fc2(act(fc1(x))) with fc1/fc2 named as Linear children', () => {
    const mlp = new MLP(3, 4, 'relu');
    expect([...mlp.namedParameters()].map(([n, p]) => `${n}:${p.shape}`)).toEqual([
      'fc1.weight:4,3', 'fc1.bias:4', 'fc2.weight:3,4', 'fc2.bias:3',
    ]);
    const p = { 'fc1.weight': testValues(12, 1), 'fc1.bias': testValues(4, 2), 'fc2.weight': testValues(12, 3), 'fc2.bias': testValues(3, 4) };
    setParameters(mlp, p);
    const x = testValues(2 * 2 * 3, 5);
    const h = linearRef(x, p['fc1.weight'], p['fc1.bias'], 4, 3, 4).map((v) => Math.max(0, v));
    const y = mlp.forward(tf.tensor(x, [2, 2, 3]));
    expect(y.shape).toEqual([2, 2, 3]);
    expectClose(y.dataSync(), linearRef(h, p['fc2.weight'], p['fc2.bias'], 4, 4, 3));
    mlp.dispose();
  });

  it('applies dropout only in training mode', () => {
    const mlp = new MLP(3, 4, 'gelu', { dropout: 0.5 });
    const x = tf.tensor(testValues(60, 6), [20, 3]);
    const evalOut = mlp.eval().forward(x).dataSync();
    const trainOut = mlp.train().forward(x).dataSync();
    const zeros = Array.from(trainOut).filter((v) => v === 0).length;
    expect(zeros).toBeGreaterThan(10);
    trainOut.forEach((v, i) => v !== 0 && expect(v).toBeCloseTo(2 * evalOut[i], 4));
    mlp.dispose();
  });

  it('rejects an unknown activation name', () => {
    expect(() => new MLP(2, 2, 'gelu_fast')).toThrow('Unknown activation "gelu_fast"; allowed: gelu, gelu_new');
  });

  it('has gradients that match finite differences', () => {
    const mlp = new MLP(3, 4, 'gelu');
    const x = tf.variable(tf.tensor(testValues(6, 7), [2, 3]));
    expectGradientsMatchFiniteDifferences(() => weightedSum(mlp.forward(x)), [...mlp.trainableVariables().values(), x]);
    mlp.dispose();
    x.dispose();
  });
});

describe('Sequential and ModuleList', () => {
  it('name children 0, 1, … and chain them in order', () => {
    const seq = new Sequential(new Linear(2, 3, { bias: false }), activation('relu'), new Linear(3, 1, { bias: false }));
    expect([...seq.namedParameters()].map(([n]) => n)).toEqual(['0.weight', '2.weight']);
    setParameters(seq, { '0.weight': [1, 0, 0, 1, -1, -1], '2.weight': [1, 2, 3] });
    // x = [2, -1] → h = relu([2, -1, -1]) = [2, 0, 0] → y = 2
    expectClose(seq.forward(tf.tensor2d([[2, -1]])).dataSync(), [2]);
    expect(seq.length).toBe(3);
    seq.dispose();
  });

  it('ModuleList indexes, iterates, appends, sees replacements and has no forward', () => {
    const list = new ModuleList([new Linear(2, 2), new Linear(2, 2)]);
    list.append(new Linear(2, 2));
    expect(list.length).toBe(3);
    expect([...list.namedModules()].map(([n]) => n)).toEqual(['', '0', '1', '2']);
    const replacement = new Linear(2, 2);
    list.setSubmodule('1', replacement);
    expect(list.at(1)).toBe(replacement);
    expect([...list].length).toBe(3);
    expect(() => list.at(3)).toThrow('ModuleList: index 3 out of range [0, 2]');
    expect(() => list.forward()).toThrow('ModuleList has no forward');
    list.dispose();
  });

  it('propagate train/eval to every item', () => {
    const seq = new Sequential(new MLP(2, 2, 'gelu', { dropout: 0.1 }));
    seq.eval();
    expect([...seq.namedModules()].every(([, m]) => !m.training)).toBe(true);
    seq.dispose();
  });
});
