import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { tf } from '@leantune/tensor';

// tfjs's cpu backend warns "Hi, looks like you are running TensorFlow.js in Node.js …" on
// the first tensor of every instance. It printed once per test file during `npm test`
// (28 times), because the engine builds a fresh cpu instance when it picks a backend itself.
const BANNER = /looks like you are running TensorFlow\.js in Node\.js/;

describe('the tfjs Node.js banner', () => {
  let warn: jest.SpyInstance;
  beforeEach(() => {
    warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
  });
  afterEach(() => warn.mockRestore());
  const banners = () => warn.mock.calls.filter((args) => args.some((a: unknown) => BANNER.test(String(a)))).length;

  it('is not printed by the first tensor, when the engine picks (and builds) the cpu backend itself', () => {
    expect(tf.engine().backendName).toBeUndefined();
    tf.tensor1d([1, 2]).dispose();
    expect(tf.getBackend()).toBe('cpu');
    expect(banners()).toBe(0);
  });

  it('is not printed by a backend registered later that derives from the cpu backend', async () => {
    tf.registerBackend('cpu-derived', () => new (class extends MathBackendCPU {})());
    expect(await tf.setBackend('cpu-derived')).toBe(true);
    tf.tensor1d([3]).dispose();
    expect(banners()).toBe(0);
    await tf.setBackend('cpu');
    tf.removeBackend('cpu-derived');
  });
});
