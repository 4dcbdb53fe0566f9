import { tf } from '@leantune/tensor';
import { ConfigError, missingPoints, PointRegistry, requirePoints, type LoadedModel } from '../src';

const model = (points?: LoadedModel['points']): LoadedModel => ({ name: 'm', arch: 'x', loader: 'l', module: undefined as never, points });

describe('requirePoints', () => {
  it('returns the points when every needed one is there, and names method, missing points and model otherwise', () => {
    const points = { tokenizer: { encode: () => [], decode: () => '', files: [] } };
    expect(requirePoints(model(points), ['tokenizer'], 'p')).toBe(points);
    const run = () => requirePoints(model(points), ['attentionPrefix', 'inputEmbeddings.vocabulary'], 'prefix-tuning');
    expect(run).toThrow(ConfigError);
    expect(run).toThrow('Method "prefix-tuning" needs "attentionPrefix", "inputEmbeddings.vocabulary" from the model, which model "m" (arch x, loader l) does not offer (it offers: tokenizer)');
    expect(() => requirePoints(model(), ['generate'], 'g')).toThrow(/it offers: none/);
  });
});

describe('missingPoints (what the run checks against a method\'s requires)', () => {
  it('understands the same names as requirePoints, inputEmbeddings.vocabulary included', () => {
    const embeddings = (vocabulary?: unknown) => ({ inputEmbeddings: { vocabulary } as never });
    expect(missingPoints(model(embeddings({ size: 3 })), ['inputEmbeddings', 'inputEmbeddings.vocabulary'])).toEqual([]);
    expect(missingPoints(model(embeddings()), ['inputEmbeddings', 'inputEmbeddings.vocabulary', 'hiddenStates'])).toEqual(['inputEmbeddings.vocabulary', 'hiddenStates']);
    expect(missingPoints(model(), [])).toEqual([]);
  });
});

describe('PointRegistry', () => {
  it('joins providers in order, broadcasts [n, d] over the batch, and detaches with idempotent disposers', () => {
    const r = new PointRegistry('toy', 2);
    expect(r.virtualTokens(3, 2, false)).toBeUndefined();
    const a = r.addVirtualTokens(() => tf.tensor2d([[1, 2]]));
    const b = r.addVirtualTokens((batch) => tf.fill([batch, 2, 2], 7));
    const v = r.virtualTokens(3, 2, false)!;
    expect(v.shape).toEqual([3, 3, 2]);
    expect((v.arraySync() as number[][][])[2]).toEqual([[1, 2], [7, 7], [7, 7]]);
    a();
    a();
    expect(r.virtualTokens(3, 2, false)!.shape).toEqual([3, 2, 2]);
    b();
    expect(r.hasVirtualTokens).toBe(false);
  });

  it('names the provider, the shape it gave and the shape it must give', () => {
    const r = new PointRegistry('toy', 2);
    r.addVirtualTokens(() => tf.zeros([2, 5]));
    expect(() => r.virtualTokens(3, 4, true)).toThrow('toy: virtual-token provider 0 gave a tensor of shape [2,5]; it must be [n, 4] or [3, n, 4] for this batch of 3');
    r.addPrefix(1, () => ({ key: tf.zeros([2, 1, 3]), value: tf.zeros([2, 2, 3]) }));
    expect(() => r.prefix(1, 1, 2, 3, false)).toThrow('toy: prefix provider 0 of layer 1 (value) gave a tensor of shape [2,2,3]; it must be [2, 1, 3] or [1, 2, 1, 3] for this batch of 1');
    expect(() => r.atLayerEntry(2, (h) => h)).toThrow('toy: atLayerEntry layer must be an integer in [0, 1], got 2');
    expect(() => r.addPrefix(0, 'x' as never)).toThrow(TypeError);
  });

  it('runLayers applies entry functions, hands each layer its prefix, taps outputs, and refuses a changed shape', () => {
    const r = new PointRegistry('toy', 2);
    const seen: string[] = [];
    r.atLayerEntry(1, (h) => tf.mul(h, 10));
    r.tapLayerOutput(0, (out) => void seen.push(`tap0:${out.dataSync()[0]}`));
    r.addPrefix(1, () => ({ key: tf.ones([1, 2, 1]), value: tf.ones([1, 2, 1]) }));
    const out = r.runLayers([0, 1] as never[], tf.ones([1, 1, 1]), { checkpointing: false, training: false, heads: () => ({ heads: 1, headDim: 1 }) }, (_b, h, i, prefix) => {
      seen.push(`layer${i}:${prefix ? prefix.key.shape.join('x') : 'none'}`);
      return tf.add(h, 1);
    });
    expect(out.dataSync()[0]).toBe(21);
    expect(seen).toEqual(['layer0:none', 'tap0:2', 'layer1:1x1x2x1']);
    r.atLayerEntry(0, (h) => tf.concat([h, h], 1));
    expect(() => r.runLayers([0] as never[], tf.ones([1, 1, 1]), { checkpointing: false, training: false, heads: () => ({ heads: 1, headDim: 1 }) }, (_b, h) => h)).toThrow(
      'toy: a layer-entry function of layer 0 must return a tensor of the shape it got, [1,1,1]; got [1,2,1]',
    );
  });
});
