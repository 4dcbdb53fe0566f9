import { tf } from '@leantune/tensor';
import type { DataRecord, LoadedModel } from '@leantune/core';
import { loadMobileNetV2, preprocessImages } from '../src';
import { maxAbsDiff } from './reference';

// Images in whatever form the readers give: grey (MNIST, Fashion-MNIST) and RGBA become RGB
// inside the model's preprocessing; { data, shape } uint8 0..255 (IDX, image-folder),
// { data, shape } float 0..1 (the mnist package) and { width, height, data } (pngjs,
// jpeg-js) give the same tensor; an image the model cannot use is refused by checkRecord.
const meta = { source: 'test', row: 0 };
const where = () => 'img';

/** An 8×8 grey digit-like image: a bright bar on a dark ground, moved by `shift`. */
function grey(shift: number): Uint8Array {
  return Uint8Array.from({ length: 64 }, (_, p) => ((p % 8) + shift) % 8 < 3 ? 230 : 10 + ((p * 7) % 20));
}

describe('image forms', () => {
  const px = grey(1);

  it('uint8 { data, shape }, float 0..1 { data, shape }, { width, height, data } and a [h, w] tensor give the same tensor', () => {
    const forms = [
      { data: px, shape: [8, 8, 1] },
      { data: Float32Array.from(px, (v) => v / 255), shape: [8, 8, 1] },
      { width: 8, height: 8, data: px },
      { data: Float64Array.from(px, (v) => v / 255), shape: [8, 8] },
      tf.tensor2d(px, [8, 8], 'int32'),
    ];
    const reference = preprocessImages([forms[0]], 32, where);
    for (const form of forms.slice(1)) expect(maxAbsDiff(preprocessImages([form], 32, where), reference)).toBeLessThan(1e-6);
  });

  it('grey is the RGB image with R = G = B; RGBA is the RGB image without alpha', () => {
    const rgb = new Uint8Array(64 * 3);
    const rgba = new Uint8Array(64 * 4);
    for (let p = 0; p < 64; p++) {
      rgb.set([px[p], px[p], px[p]], p * 3);
      rgba.set([px[p], px[p], px[p], (p * 31) % 256], p * 4);
    }
    const expected = preprocessImages([{ data: rgb, shape: [8, 8, 3] }], 8, where);
    expect(expected.shape).toEqual([1, 8, 8, 3]);
    expect(maxAbsDiff(preprocessImages([{ data: px, shape: [8, 8, 1] }], 8, where), expected)).toBe(0);
    expect(maxAbsDiff(preprocessImages([{ data: rgba, shape: [8, 8, 4] }], 8, where), expected)).toBe(0);
    expect(maxAbsDiff(preprocessImages([{ width: 8, height: 8, data: rgba }], 8, where), expected)).toBe(0);
  });
});

describe('MobileNetV2 on grey images', () => {
  let model: LoadedModel;
  beforeAll(async () => {
    tf.setBackend('cpu');
    model = await loadMobileNetV2({ name: 'mobilenet-v2', labels: ['left', 'right'], inputSize: 32 });
  });
  afterAll(() => model.module.dispose());

  it('trains: the loss on four grey 8×8 images falls with a few SGD steps on the classifier', () => {
    const records: DataRecord[] = [0, 1, 2, 3].map((i) => ({ id: `g${i}`, image: { data: grey(i < 2 ? i : 4 + i), shape: [8, 8, 1] }, label: i < 2 ? 'left' : 'right', meta }));
    expect(records.map((r) => model.checkRecord!(r))).toEqual([undefined, undefined, undefined, undefined]);
    model.module.freeze();
    model.module.unfreeze(['classifier.weight', 'classifier.bias']);
    const vars = [...model.module.trainableVariables().values()];
    const batch = model.encode!(records);
    expect((batch.inputs as tf.Tensor).shape).toEqual([4, 32, 32, 3]);
    const loss = () => tf.tidy(() => model.loss!(batch, false).dataSync()[0]);
    const start = loss();
    for (let step = 0; step < 5; step++) {
      tf.tidy(() => {
        const { grads } = tf.variableGrads(() => model.loss!(batch, false), vars);
        for (const v of vars) v.assign(tf.sub(v, tf.mul(grads[v.name], 0.5)));
      });
    }
    expect(Number.isFinite(start)).toBe(true);
    expect(loss()).toBeLessThan(start);
  });

  it('checkRecord names what makes an image unusable', () => {
    const check = (image: unknown) => model.checkRecord!({ id: 'bad', image, meta });
    expect(check({ data: new Uint8Array(8 * 8 * 2), shape: [8, 8, 2] })).toBe('image has 2 channels; give 1 (grey), 3 (RGB) or 4 (RGBA)');
    expect(check({ data: new Uint8Array(50), shape: [8, 8, 1] })).toBe('image data has 50 values, but 8×8×1 needs 64');
    expect(check({ width: 8, height: 8, data: new Uint8Array(100) })).toBe('image data has 100 values, not 8×8 pixels times 1, 3 or 4 channels');
    expect(check({ data: Float32Array.from({ length: 64 }, (_, i) => (i === 9 ? NaN : 0.5)), shape: [8, 8, 1] })).toBe('image has NaN or infinite pixel values');
    expect(check({ data: new Uint8Array(0), shape: [0, 0, 3] })).toBe('image is 0×0');
    expect(check({ data: Float32Array.from({ length: 64 }, () => -3), shape: [8, 8, 1] })).toBe('image has pixel values outside 0..255');
    expect(check(undefined)).toBe('record has no image');
    expect(check({ data: new Uint8Array(64), shape: [8, 8, 1] })).toBeUndefined();
  });
});
