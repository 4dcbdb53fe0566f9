/**
 * Images in whatever form into ViT and CLIP: grey and RGBA become RGB inside the model's
 * preprocessing (transformers' convert_to_rgb), the readers' { data, shape } (uint8 0–255
 * or float 0–1) and pngjs-style { width, height, data } give the same pixel_values, and
 * checkRecord names an image the model cannot use.
 */
import { tf } from '@leantune/tensor';
import { loadHfCheckpoint, writeTinyHfCheckpoint, type HfLoadedModel } from '../src';
import { record, recordingLogger, tempDir } from './helpers';

const pixels = (m: HfLoadedModel, image: unknown) => {
  const batch = m.encode!([record('a', { image, label: 'cat', text: 'a cat' })]);
  return (batch.inputs as Record<string, tf.Tensor>).pixel_values;
};

describe.each(['vit', 'clip'] as const)('%s', (arch) => {
  let model: HfLoadedModel;
  beforeAll(async () => {
    const dir = tempDir(`${arch}-forms`);
    writeTinyHfCheckpoint(arch, dir, { seed: 5 });
    model = await loadHfCheckpoint(dir, { log: recordingLogger() });
  });

  const grey = Uint8Array.from({ length: 64 }, (_, i) => (i * 53) % 256);
  const rgb = new Uint8Array(64 * 3);
  const rgba = new Uint8Array(64 * 4);
  for (let p = 0; p < 64; p++) {
    rgb.set([grey[p], grey[p], grey[p]], p * 3);
    rgba.set([grey[p], grey[p], grey[p], (p * 11) % 256], p * 4);
  }

  it('grey, RGBA and every record form give the pixel_values of the RGB image', () => {
    const expected = pixels(model, { width: 8, height: 8, data: rgb });
    expect(expected.shape[3]).toBe(3);
    const forms = [
      { width: 8, height: 8, data: grey },
      { width: 8, height: 8, data: rgba },
      { data: grey, shape: [8, 8, 1] },
      { data: Float32Array.from(grey, (v) => v / 255), shape: [8, 8, 1] },
      { data: rgba, shape: [8, 8, 4] },
    ];
    for (const form of forms) expect(Array.from(pixels(model, form).dataSync())).toEqual(Array.from(expected.dataSync()));
  });

  it('checkRecord names an unusable image and passes a usable one', () => {
    expect(model.checkRecord!(record('bad', { image: { data: new Uint8Array(128), shape: [8, 8, 2] } }))).toBe('image has 2 channels; give 1 (grey), 3 (RGB) or 4 (RGBA)');
    expect(model.checkRecord!(record('bad', { image: { width: 0, height: 0, data: new Uint8Array(0) } }))).toBe('image is 0×0');
    expect(model.checkRecord!(record('ok', { image: { data: grey, shape: [8, 8, 1] } }))).toBeUndefined();
  });
});
