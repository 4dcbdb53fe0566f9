import { conv2dWeightToTfjs, tf } from '@leantune/tensor';
import { FilterCachingConv2d, createMobileNetV2, loadMobileNetV2, nsfwjsPretrained, preprocessImages, type MobileNetV2 } from '../src';
import { maxAbsDiff } from './reference';

const meta = { source: 'test', row: 0 };

function image(size: number, seed: number): Uint8Array {
  const px = new Uint8Array(size * size * 3);
  for (let i = 0; i < px.length; i++) px[i] = (i * 37 + seed * 101) % 256;
  return px;
}

describe('heads', () => {
  it('keeps the pretrained head for nsfwjs labels, and replaces only the classifier for others', async () => {
    const nsfw = await loadMobileNetV2({ name: 'mobilenet-v2', inputSize: 64 });
    expect(nsfw.labels).toEqual(['Drawing', 'Hentai', 'Neutral', 'Porn', 'Sexy']);
    expect(nsfw.meta?.freshParameters).toEqual([]);
    const pets = await loadMobileNetV2({ name: 'mobilenet-v2', labels: ['cat', 'dog', 'bird'], inputSize: 64 });
    pets.module.freeze();
    expect(pets.meta?.freshParameters).toEqual(['classifier.weight', 'classifier.bias']);
    expect(pets.module.getParameter('classifier.weight').shape).toEqual([3, 128]);
    // head.0 is dense_1, pretrained: weight[5][9] = kernel[9][5] (Keras [in, out]).
    const dense1 = nsfwjsPretrained().weights.get('dense_1/kernel')!;
    expect(pets.module.getParameter('head.0.dense.weight').variable.dataSync()[5 * 1280 + 9]).toBe(dense1.values[9 * 256 + 5]);
    const batch = pets.encode!([{ id: 'a', image: image(64, 1), label: 'dog', meta }, { id: 'b', image: image(64, 2), label: 2, meta }]);
    expect(batch.targets!.arraySync()).toEqual([1, 2]);
    const probs = pets.predict!(batch);
    expect(probs.shape).toEqual([2, 3]);
    expect(tf.sum(probs, 1).arraySync()).toEqual([expect.closeTo(1, 5), expect.closeTo(1, 5)]);
    for (const m of [nsfw, pets]) m.module.dispose();
  });

  it("'linear' puts a fresh classifier on the pooled 1280 features; numLabels names classes 0..n-1", async () => {
    const model = await loadMobileNetV2({ name: 'mobilenet-v2', head: 'linear', numLabels: 4, inputSize: 64 });
    expect(model.labels).toEqual(['0', '1', '2', '3']);
    const names = [...model.module.namedParameters()].map(([p]) => p);
    expect(names.some((p) => p.startsWith('head.'))).toBe(false);
    expect(model.module.getParameter('classifier.weight').shape).toEqual([4, 1280]);
    const trunk = 2_619_461 - (1280 * 256 + 256) - (256 * 128 + 128) - (128 * 5 + 5); // nsfwjs total minus its Dense layers
    expect(model.module.countParameters().total).toBe(trunk + 4 * 1280 + 4);
    model.module.dispose();
  });
});

describe('input sizes', () => {
  it.each([
    [96, 3],
    [128, 4],
  ])('runs at %i px: final map side %i, 1280 channels, logits per label', (size, side) => {
    const { module } = createMobileNetV2({ name: 'mobilenet-v2', inputSize: size, labels: ['a', 'b'] });
    module.eval().freeze();
    const x = preprocessImages([image(size, 3), image(size, 4)], size, (i) => `image ${i}`);
    const { logits, features } = module.forwardWithFeatures(x, [18]);
    expect(features[0].shape).toEqual([2, side, side, 1280]);
    expect(logits.shape).toEqual([2, 2]);
    expect(() => module.forward(tf.zeros([1, 100, 100, 3]))).toThrow(/stride-2 conv got a 25×25 map; input sides must be multiples of 32/);
    module.dispose();
  });
});

describe('preprocessing (nsfwjs: /255, bilinear resize with alignCorners)', () => {
  it('accepts a tensor, nested arrays, { data, shape }, flat typed arrays and RGBA alike', () => {
    const flat = image(4, 5);
    const nested = Array.from({ length: 4 }, (_, y) => Array.from({ length: 4 }, (_, x) => Array.from(flat.subarray((y * 4 + x) * 3, (y * 4 + x) * 3 + 3))));
    const rgba = { data: new Uint8Array(4 * 4 * 4), shape: [4, 4, 4] as [number, number, number] };
    for (let p = 0; p < 16; p++) rgba.data.set([...flat.subarray(p * 3, p * 3 + 3), 255], p * 4);
    const expected = tf.div(tf.tensor(Float32Array.from(flat), [1, 4, 4, 3]), 255);
    for (const input of [tf.tensor3d(flat, [4, 4, 3], 'int32'), nested, { data: Array.from(flat), shape: [4, 4, 3] }, flat, rgba]) {
      expect(maxAbsDiff(preprocessImages([input], 4, () => 'img'), expected)).toBe(0);
    }
  });

  it('resizes other sizes as tf.image.resizeBilinear(alignCorners = true) after /255', () => {
    const src = { data: Uint8Array.from({ length: 10 * 6 * 3 }, (_, i) => (i * 13) % 256), shape: [10, 6, 3] as [number, number, number] };
    const ours = preprocessImages([src], 32, () => 'img');
    const ref = tf.image.resizeBilinear(tf.div(tf.tensor3d(Float32Array.from(src.data), [10, 6, 3]), 255) as tf.Tensor3D, [32, 32], true);
    expect(ours.shape).toEqual([1, 32, 32, 3]);
    expect(maxAbsDiff(ours, tf.expandDims(ref, 0))).toBeLessThan(1e-6);
  });

  it('rejects bad images and labels, naming the record', async () => {
    const model = await loadMobileNetV2({ name: 'mobilenet-v2', labels: ['x', 'y'], inputSize: 32 });
    const enc = (image: unknown, label: string | number = 'x') => () => model.encode!([{ id: 'r7', image, label, meta }]);
    const badTensor = tf.fill([8, 8, 3], -1);
    const before = tf.memory().numTensors;
    expect(enc(new Float32Array(32 * 32 * 3).fill(300))).toThrow(/Record r7 \(image\): image has pixel values outside 0\.\.255/);
    expect(enc(badTensor)).toThrow(/Record r7 \(image\): image has pixel values outside 0\.\.255/);
    expect(enc({ data: new Uint8Array(8 * 8 * 2), shape: [8, 8, 2] })).toThrow(/Record r7 \(image\): image has 2 channels; give 1 \(grey\), 3 \(RGB\) or 4 \(RGBA\)/);
    expect(enc(undefined)).toThrow(/Record r7 \(image\): record has no image/);
    expect(enc(new Uint8Array(32 * 32 * 3), 'z')).toThrow(/Record r7: label "z" is not one of x, y \(nor an index 0\.\.1\)/);
    expect(tf.memory().numTensors).toBe(before); // failed encodes leave nothing behind
    model.module.dispose();
  });
});

describe('cached filters and tensors', () => {
  let module: MobileNetV2;
  beforeAll(() => {
    module = createMobileNetV2({ name: 'mobilenet-v2', inputSize: 32, labels: ['a', 'b'] }).module;
    module.eval().freeze();
  });
  afterAll(() => module.dispose());

  it('primes every conv with exactly conv2dWeightToTfjs(weight), and refreshes it after assign', () => {
    const x = tf.randomUniform([1, 32, 32, 3], 0, 1, 'float32', 3);
    const convs = [...module.namedModules()].filter((e): e is [string, FilterCachingConv2d] => e[1] instanceof FilterCachingConv2d);
    expect(convs).toHaveLength(52);
    expect(convs[1][1].depthwise).toBe(true);
    for (const [path, conv] of [convs[0], convs[1], convs[3]]) {
      const w = module.getParameter(`${path}.weight`).variable;
      expect(maxAbsDiff(conv.cachedFilter!, conv2dWeightToTfjs(w, conv.groups))).toBe(0);
    }
    const [path, conv] = convs[3];
    const weightPath = `${path}.weight`;
    const w = module.getParameter(weightPath).variable;
    // Same output whether this conv uses its cache (frozen) or Conv2d's path (trainable).
    const viaConv2d = () => {
      module.unfreeze([weightPath]);
      const y = module.forward(x);
      module.freeze([weightPath]);
      return y;
    };
    const before = module.forward(x);
    expect(maxAbsDiff(before, viaConv2d())).toBe(0);
    w.assign(tf.mul(w, 0.5));
    expect(conv.cachedFilter).toBeNull(); // stale: the weight has new data
    const after = module.forward(x);
    expect(maxAbsDiff(before, after)).toBeGreaterThan(1e-4);
    expect(maxAbsDiff(after, viaConv2d())).toBe(0);
    w.assign(tf.mul(w, 2));
  });

  it('encode, loss and predict leak no tensors', async () => {
    const model = await loadMobileNetV2({ name: 'mobilenet-v2', inputSize: 32, labels: ['a', 'b'] });
    model.module.freeze();
    const records = [0, 1].map((i) => ({ id: `r${i}`, image: image(40, i), label: i, meta }));
    const cycle = () => {
      const batch = model.encode!(records);
      const loss = model.loss!(batch, true);
      const probs = model.predict!(batch);
      for (const t of [loss, probs, batch.inputs as tf.Tensor, batch.targets!]) t.dispose();
    };
    cycle(); // the first forward may build filter caches (kept on purpose)
    const before = tf.memory().numTensors;
    cycle();
    expect(tf.memory().numTensors).toBe(before);
    model.module.dispose();
  });
});
