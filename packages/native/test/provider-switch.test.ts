import { NativeBackend } from '@leantune/native';
import { describeBackend, initBackend, tf } from '@leantune/tensor';

describe('the native slot', () => {
  it('activates the tfjs backend "native" (registered once) and switches to wasm and back', async () => {
    const info = await initBackend({ backend: 'native', threads: 2 });
    expect(tf.getBackend()).toBe('native');
    expect(tf.backend()).toBeInstanceOf(NativeBackend);
    expect(info).toMatchObject({ name: 'native', threads: 2 });
    expect(describeBackend().info.name).toBe('native');
    const kept = tf.tensor1d([1, 2, 3]);
    const backend = tf.backend();
    await initBackend({ backend: 'wasm', threads: 2 });
    expect(tf.getBackend()).toBe('wasm');
    expect(describeBackend().info.name).toBe('wasm');
    // A tensor made on native is read from wasm (tfjs moves it), and the wasm slot trains as before.
    expect(Array.from(tf.add(kept, 1).dataSync())).toEqual([2, 3, 4]);
    await initBackend({ backend: 'native', memoryLimit: '1g' });
    expect(tf.backend()).toBe(backend);
    expect((tf.backend() as NativeBackend).memoryLimit.bytes).toBe(1024 ** 3);
    kept.dispose();
  });

  it('names the backend when tfjs was switched to it behind initBackend', async () => {
    await initBackend({ backend: 'cpu' });
    await tf.setBackend('native');
    expect(describeBackend().info).toMatchObject({ name: 'native', requested: 'none', threads: 2, simd: true });
  });
});
