import { describeBackend, initBackend } from '@leantune/tensor';
import { nativeWasmKernelsInstalled } from '@leantune/native';

describe('switching away from the native backend', () => {
  it('takes the native kernels off wasm, so a run recorded as wasm computes on wasm', async () => {
    await initBackend({ backend: 'native' });
    expect(nativeWasmKernelsInstalled()).toBe(true);
    expect(describeBackend().info.name).toBe('native');
    await initBackend({ backend: 'wasm' });
    expect(nativeWasmKernelsInstalled()).toBe(false);
    expect(describeBackend().info.name).toBe('wasm');
    await initBackend({ backend: 'native' });
    expect(nativeWasmKernelsInstalled()).toBe(true);
  });
});
