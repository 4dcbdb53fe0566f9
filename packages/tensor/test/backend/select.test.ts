import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  AUTO_ORDER,
  BACKEND_ENV,
  BackendUnavailableError,
  createNativeProvider,
  createTfjsNodeProvider,
  describeBackend,
  formatBackendInfo,
  initBackend,
  registerBackendProvider,
  requestedBackend,
  tf,
} from '@leantune/tensor';

// Selection is exercised on cpu; the wasm slot is replaced where a test must not start it
// (wasm itself is covered in wasm-kernels.test.ts). Whether the real tfjs-node packages are
// absent or half-installed depends on the machine, so the tfjs-node slots get providers for
// packages whose state each test sets up.
const wasmAbsent = { activate: () => Promise.reject(new BackendUnavailableError('wasm switched off for this test')) };

const tempRoots: string[] = [];
afterAll(() => tempRoots.forEach((root) => fs.rmSync(root, { recursive: true, force: true })));

/** A package in a temp node_modules: `addon` adds its native addon, `loadError` makes loading throw. */
function fakeTfjsNodePackage(name: string, options: { addon: boolean; loadError?: string }): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'leantune-backend-'));
  tempRoots.push(root);
  const dir = path.join(root, 'node_modules', name);
  fs.mkdirSync(path.join(dir, 'lib', 'napi-v8'), { recursive: true });
  const binary = { module_name: 'tfjs_binding', module_path: './lib/napi-v{napi_build_version}', napi_versions: [3, 8] };
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name, version: '4.22.0', main: 'index.js', binary }));
  if (options.addon) fs.writeFileSync(path.join(dir, 'lib', 'napi-v8', 'tfjs_binding.node'), '');
  const body = options.loadError == null ? '' : `throw new Error(${JSON.stringify(options.loadError)});`;
  fs.writeFileSync(path.join(dir, 'index.js'), `globalThis.fakeTfjsNodeLoads = (globalThis.fakeTfjsNodeLoads || 0) + 1;\n${body}\n`);
  return root;
}

const restores: (() => void)[] = [];
function fillSlots(slots: Partial<Record<'tfjs-node-gpu' | 'tfjs-node' | 'native' | 'wasm', Parameters<typeof registerBackendProvider>[1]>>): void {
  for (const [slot, provider] of Object.entries(slots)) restores.push(registerBackendProvider(slot as 'wasm', provider));
}

describe('backend selection', () => {
  const savedEnv = process.env[BACKEND_ENV];
  beforeEach(() => {
    delete process.env[BACKEND_ENV];
    fillSlots({
      'tfjs-node-gpu': createTfjsNodeProvider('@leantune/absent-tfjs-node-gpu'),
      'tfjs-node': createTfjsNodeProvider('@leantune/absent-tfjs-node'),
      native: createNativeProvider('@leantune/absent-native'),
    });
    (globalThis as { fakeTfjsNodeLoads?: number }).fakeTfjsNodeLoads = 0;
  });
  afterEach(() => {
    for (const restore of restores.splice(0).reverse()) restore();
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

  it('the real tfjs-node packages, absent or half-installed here, never stop auto', async () => {
    for (const restore of restores.splice(0).reverse()) restore();
    // native (@leantune/native, which this checkout may have built) is not what this is about.
    fillSlots({ wasm: wasmAbsent, native: createNativeProvider('@leantune/absent-native') });
    const info = await initBackend();
    expect(info.name).toBe('cpu');
    for (const attempt of info.tried.slice(0, 2)) expect(attempt.skipped ?? attempt.error).toMatch(/^@tensorflow\/tfjs-node(-gpu)? is /);
  });

  it('an explicitly requested backend that is not installed fails with the install command', async () => {
    await expect(initBackend({ backend: 'tfjs-node' })).rejects.toThrow(
      "backend 'tfjs-node' is not available: @leantune/absent-tfjs-node is not installed: npm i @leantune/absent-tfjs-node (optional;",
    );
    await expect(initBackend({ backend: 'native' })).rejects.toThrow(
      "backend 'native' is not available: @leantune/absent-native is not installed: npm i @leantune/absent-native (builds a C++ addon",
    );
  });

  it('auto skips absent optional packages silently and records them in tried', async () => {
    fillSlots({ wasm: wasmAbsent });
    const log = jest.fn();
    const info = await initBackend({ log });
    expect(info.name).toBe('cpu');
    expect(info.requested).toBe('auto');
    expect(info.tried.map((t) => t.name)).toEqual([...AUTO_ORDER]);
    expect(info.tried.map((t) => Object.keys(t).sort())).toEqual([
      ['name', 'skipped'], ['name', 'skipped'], ['name', 'skipped'], ['name', 'skipped'], ['name'],
    ]);
    expect(info.tried[0].skipped).toMatch(/^@leantune\/absent-tfjs-node-gpu is not installed: npm i @leantune\/absent-tfjs-node-gpu/);
    expect(info.tried[2].skipped).toMatch(/^@leantune\/absent-native is not installed: npm i @leantune\/absent-native/);
    expect(log).not.toHaveBeenCalled();
  });

  it('a tfjs-node whose native addon could not be installed counts as absent and is not loaded', async () => {
    const root = fakeTfjsNodePackage('fake-tfjs-node', { addon: false });
    fillSlots({ 'tfjs-node': createTfjsNodeProvider('fake-tfjs-node', root), wasm: wasmAbsent });
    const log = jest.fn();
    const info = await initBackend({ log });
    expect(info.name).toBe('cpu');
    expect(info.tried[1].skipped).toMatch(/^fake-tfjs-node is installed but its native addon tfjs_binding.node is missing under .*: run npm rebuild fake-tfjs-node/);
    expect(log).not.toHaveBeenCalled();
    expect((globalThis as { fakeTfjsNodeLoads?: number }).fakeTfjsNodeLoads).toBe(0);
  });

  it('a tfjs-node that fails to load is recorded and logged, and not loaded a second time', async () => {
    const root = fakeTfjsNodePackage('fake-tfjs-node', { addon: true, loadError: 'libtensorflow.so.2: cannot open shared object file' });
    fillSlots({ 'tfjs-node': createTfjsNodeProvider('fake-tfjs-node', root), wasm: wasmAbsent });
    const log = jest.fn();
    for (let run = 0; run < 2; run++) {
      const info = await initBackend({ log });
      expect(info.name).toBe('cpu');
      expect(info.tried[1]).toEqual({ name: 'tfjs-node', error: 'libtensorflow.so.2: cannot open shared object file' });
    }
    expect(log).toHaveBeenCalledWith('backend tfjs-node failed, trying the next one: libtensorflow.so.2: cannot open shared object file');
    expect((globalThis as { fakeTfjsNodeLoads?: number }).fakeTfjsNodeLoads).toBe(1);
  });

  it('a broken native provider is logged, recorded with its error, and the next one is tried', async () => {
    fillSlots({ wasm: wasmAbsent, native: { activate: () => Promise.reject(new Error('libaccel.so: cannot open')) } });
    const log = jest.fn();
    const info = await initBackend({ log });
    expect(info.name).toBe('cpu');
    expect(info.tried.find((t) => t.name === 'native')).toEqual({ name: 'native', error: 'libaccel.so: cannot open' });
    expect(log).toHaveBeenCalledWith('backend native failed, trying the next one: libaccel.so: cannot open');
    await expect(initBackend({ backend: 'native' })).rejects.toThrow("backend 'native' failed to start: libaccel.so: cannot open");
  });

  it('a registered native provider fills its slot ahead of wasm', async () => {
    fillSlots({
      native: {
        async activate({ threads }) {
          await tf.setBackend('cpu');
          return { tfjsName: 'cpu', threads, simd: true };
        },
      },
    });
    const info = await initBackend({ threads: 3 });
    expect(info).toMatchObject({ name: 'native', threads: 3, simd: true });
    expect(describeBackend().text).toBe('backend native (simd, 3 threads)');
    expect(() => registerBackendProvider('auto' as 'cpu', wasmAbsent)).toThrow("'auto' is not a backend slot");
  });

  it('describeBackend describes the active backend for run records', async () => {
    const info = await initBackend({ backend: 'cpu' });
    expect(describeBackend()).toEqual({ info, text: 'backend cpu (1 thread)' });
    expect(formatBackendInfo({ ...info, name: 'wasm', simd: true, threads: 2 })).toBe('backend wasm (simd, 2 threads)');
    // A provider that leaves tfjs on another backend: what tfjs runs on is described.
    fillSlots({ native: { activate: async () => ({ tfjsName: 'elsewhere', threads: 4, simd: true }) } });
    await initBackend({ backend: 'native' });
    expect(describeBackend()).toEqual({
      info: { name: 'cpu', requested: 'none', threads: 1, simd: false, tried: [] },
      text: 'backend cpu (1 thread)',
    });
  });
});
