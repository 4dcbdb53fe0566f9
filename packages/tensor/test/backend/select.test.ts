import {
  AUTO_ORDER,
  BACKEND_ENV,
  BackendUnavailableError,
  describeBackend,
  formatBackendInfo,
  initBackend,
  registerBackendProvider,
  requestedBackend,
  tf,
} from '@leantune/tensor';

// Selection is exercised on cpu; the wasm slot is replaced where a test must not start it
// (wasm itself is covered in wasm-kernels.test.ts).
const wasmAbsent = { activate: () => Promise.reject(new BackendUnavailableError('wasm switched off for this test')) };

describe('backend selection', () => {
  const savedEnv = process.env[BACKEND_ENV];
  afterEach(() => {
    if (savedEnv == null) delete process.env[BACKEND_ENV];
    else process.env[BACKEND_ENV] = savedEnv;
  });

  it('LEANTUNE_BACKEND overrides the option', async () => {
    process.env[BACKEND_ENV] = 'cpu';
    expect(requestedBackend('wasm')).toBe('cpu');
    const info = await initBackend({ backend: 'tfjs-node' });
    expect(info).toMatchObject({ name: 'cpu', requested: 'cpu', threads: 1, simd: false, tried: [{ name: 'cpu' }] });
    expect(tf.getBackend()).toBe('cpu');
  });

  it('an unknown name fails and lists the allowed ones', async () => {
    process.env[BACKEND_ENV] = 'gpu';
    await expect(initBackend()).rejects.toThrow(
      'LEANTUNE_BACKEND=gpu is not a known backend; allowed: auto, tfjs-node-gpu, tfjs-node, native, wasm, cpu',
    );
    delete process.env[BACKEND_ENV];
    await expect(initBackend({ backend: 'webgl' as 'cpu' })).rejects.toThrow("backend 'webgl' is not a known backend; allowed: auto,");
    await expect(initBackend({ backend: 'cpu', threads: 0 })).rejects.toThrow('threads must be a positive integer, got 0');
  });

  it('an explicitly requested backend that is not installed fails with the install command', async () => {
    delete process.env[BACKEND_ENV];
    await expect(initBackend({ backend: 'tfjs-node' })).rejects.toThrow(
      "backend 'tfjs-node' is not available: @tensorflow/tfjs-node is not installed: npm i @tensorflow/tfjs-node",
    );
    await expect(initBackend({ backend: 'native' })).rejects.toThrow("backend 'native' is not available: no provider registered");
  });

  it('auto skips absent optional packages silently and records them in tried', async () => {
    delete process.env[BACKEND_ENV];
    const restore = registerBackendProvider('wasm', wasmAbsent);
    const log = jest.fn();
    try {
      const info = await initBackend({ log });
      expect(info.name).toBe('cpu');
      expect(info.requested).toBe('auto');
      expect(info.tried.map((t) => t.name)).toEqual([...AUTO_ORDER]);
      expect(info.tried.map((t) => Object.keys(t).sort())).toEqual([
        ['name', 'skipped'], ['name', 'skipped'], ['name', 'skipped'], ['name', 'skipped'], ['name'],
      ]);
      expect(info.tried[0].skipped).toMatch(/^@tensorflow\/tfjs-node-gpu is not installed: npm i @tensorflow\/tfjs-node-gpu/);
      expect(info.tried[1].skipped).toMatch(/^@tensorflow\/tfjs-node is not installed/);
      expect(log).not.toHaveBeenCalled();
    } finally {
      restore();
    }
  });

  it('a broken candidate is logged, recorded with its error, and the next one is tried', async () => {
    delete process.env[BACKEND_ENV];
    const restoreWasm = registerBackendProvider('wasm', wasmAbsent);
    const restoreNative = registerBackendProvider('native', { activate: () => Promise.reject(new Error('libaccel.so: cannot open')) });
    const log = jest.fn();
    try {
      const info = await initBackend({ log });
      expect(info.name).toBe('cpu');
      expect(info.tried.find((t) => t.name === 'native')).toEqual({ name: 'native', error: 'libaccel.so: cannot open' });
      expect(log).toHaveBeenCalledWith('backend native failed, trying the next one: libaccel.so: cannot open');
      await expect(initBackend({ backend: 'native' })).rejects.toThrow("backend 'native' failed to start: libaccel.so: cannot open");
    } finally {
      restoreNative();
      restoreWasm();
    }
  });

  it('a registered native provider fills its slot ahead of wasm', async () => {
    delete process.env[BACKEND_ENV];
    const restore = registerBackendProvider('native', {
      async activate({ threads }) {
        await tf.setBackend('cpu');
        return { tfjsName: 'cpu', threads, simd: true };
      },
    });
    try {
      const info = await initBackend({ threads: 3 });
      expect(info).toMatchObject({ name: 'native', threads: 3, simd: true });
      expect(describeBackend().text).toBe('backend native (simd, 3 threads)');
    } finally {
      restore();
    }
    expect(() => registerBackendProvider('auto' as 'cpu', wasmAbsent)).toThrow("'auto' is not a backend slot");
  });

  it('describeBackend describes the active backend for run records', async () => {
    delete process.env[BACKEND_ENV];
    const info = await initBackend({ backend: 'cpu' });
    expect(describeBackend()).toEqual({ info, text: 'backend cpu (1 thread)' });
    expect(formatBackendInfo({ ...info, name: 'wasm', simd: true, threads: 2 })).toBe('backend wasm (simd, 2 threads)');
  });
});
