import fs from 'node:fs';
import path from 'node:path';
import { tf } from '@leantune/tensor';
import { loadCheckpoint, resolveCheckpoint, safetensorsStore, saveCheckpoint, TensorStore } from '@leantune/train';
import { freshTempDir } from './helpers/temp-dir';

function contents(step: number, value: number) {
  return {
    step,
    weights: new Map([['layer.weight', tf.tensor2d([[value, 2], [3, 4]])]]),
    optimizerName: 'adamw',
    optimizer: { step, paramSteps: { 'layer.weight': step }, tensors: new Map([['layer.weight.exp_avg', tf.tensor2d([[0.5, 0], [0, -0.5]])]]) },
    trainer: { epoch: 1, note: `at ${step}` },
  };
}

function disposeContents(c: { weights: Map<string, tf.Tensor>; optimizer: { tensors: Map<string, tf.Tensor> } }): void {
  tf.dispose([...c.weights.values(), ...c.optimizer.tensors.values()]);
}

describe('checkpoints', () => {
  const tmp = freshTempDir('lt-ckpt-');

  it('round-trips weights, optimizer state and trainer state, and points latest at it', async () => {
    const c = contents(10, 1.5);
    const folder = await saveCheckpoint(tmp.path, c);
    disposeContents(c);
    expect(path.basename(folder)).toBe('step-00000010');
    expect(fs.readFileSync(path.join(tmp.path, 'latest'), 'utf8').trim()).toBe('step-00000010');
    expect(fs.readdirSync(tmp.path).sort()).toEqual(['latest', 'step-00000010']);
    const loaded = await loadCheckpoint<{ epoch: number; note: string }>(tmp.path);
    expect(loaded.step).toBe(10);
    expect(loaded.trainer).toEqual({ epoch: 1, note: 'at 10' });
    expect(loaded.optimizerName).toBe('adamw');
    expect(loaded.optimizer.paramSteps).toEqual({ 'layer.weight': 10 });
    expect(Array.from(loaded.weights.get('layer.weight')!.dataSync())).toEqual([1.5, 2, 3, 4]);
    expect(Array.from(loaded.optimizer.tensors.get('layer.weight.exp_avg')!.dataSync())).toEqual([0.5, 0, 0, -0.5]);
    // The files are plain safetensors.
    const raw = safetensorsStore.load(path.join(folder, 'weights.safetensors')) as { tensors: Map<string, tf.Tensor> };
    expect([...raw.tensors.keys()]).toEqual(['layer.weight']);
    disposeContents(loaded);
    tf.dispose([...raw.tensors.values()]);
  });

  it('a save that fails half-way leaves no checkpoint folder and keeps the previous one as latest', async () => {
    const first = contents(5, 1);
    await saveCheckpoint(tmp.path, first);
    let calls = 0;
    const failing: TensorStore = {
      extension: 'safetensors',
      save(p, t, m) {
        if (++calls === 2) throw new Error('disk full');
        return safetensorsStore.save(p, t, m);
      },
      load: safetensorsStore.load,
    };
    await expect(saveCheckpoint(tmp.path, contents(10, 9), { store: failing })).rejects.toThrow('disk full');
    expect(fs.readdirSync(tmp.path).sort()).toEqual(['latest', 'step-00000005']);
    const loaded = await loadCheckpoint(tmp.path);
    expect(loaded.step).toBe(5);
    disposeContents(loaded);
    disposeContents(first);
  });

  it('never takes a damaged or half-written folder for a good one', async () => {
    const c5 = contents(5, 1);
    const c10 = contents(10, 2);
    await saveCheckpoint(tmp.path, c5);
    const folder10 = await saveCheckpoint(tmp.path, c10);
    // A crash inside a temp folder, and a step folder without its manifest, are both ignored.
    fs.mkdirSync(path.join(tmp.path, '.tmp-step-00000015-1-x'));
    fs.mkdirSync(path.join(tmp.path, 'step-00000020'));
    expect(resolveCheckpoint(tmp.path)).toBe(folder10);
    // Truncating a file of the latest checkpoint makes it invalid: fall back to step 5.
    const weights = path.join(folder10, 'weights.safetensors');
    fs.truncateSync(weights, fs.statSync(weights).size - 4);
    expect(path.basename(resolveCheckpoint(tmp.path))).toBe('step-00000005');
    expect(() => resolveCheckpoint(folder10)).toThrow(/step-00000010 is incomplete or damaged: weights.safetensors has \d+ bytes, the manifest says \d+/);
    disposeContents(c5);
    disposeContents(c10);
  });

  it('refuses a file changed at the same size (sha256), and says what it skipped and what it used', async () => {
    const c5 = contents(5, 1);
    const c10 = contents(10, 2);
    await saveCheckpoint(tmp.path, c5);
    const folder10 = await saveCheckpoint(tmp.path, c10);
    disposeContents(c5);
    disposeContents(c10);
    const weights = path.join(folder10, 'weights.safetensors');
    const bytes = fs.readFileSync(weights);
    bytes[bytes.length - 1] ^= 0x01;
    fs.writeFileSync(weights, bytes);
    const warnings: string[] = [];
    expect(path.basename(resolveCheckpoint(tmp.path, { warn: (m) => warnings.push(m) }))).toBe('step-00000005');
    expect(warnings).toEqual([
      expect.stringMatching(/^Skipping checkpoint .*step-00000010: weights.safetensors has sha256 [0-9a-f]{64}, the manifest says [0-9a-f]{64}/),
      expect.stringMatching(/^Using checkpoint .*step-00000005, the newest intact one/),
    ]);
    expect(() => resolveCheckpoint(folder10)).toThrow(/step-00000010 is incomplete or damaged: weights.safetensors has sha256/);
    // With every checkpoint bad, the error names each one and why.
    fs.rmSync(path.join(tmp.path, 'step-00000005', 'checkpoint.json'));
    expect(() => resolveCheckpoint(tmp.path)).toThrow(/No usable checkpoint in .*\n  step-00000010: weights.safetensors has sha256 .*\n  step-00000005: no checkpoint.json/);
  });

  it('accepts a checkpoint from before hashes (manifest version 1, sizes only) as unverified, with a warning', async () => {
    const c = contents(3, 1);
    const folder = await saveCheckpoint(tmp.path, c);
    disposeContents(c);
    const manifestPath = path.join(folder, 'checkpoint.json');
    const manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8'));
    expect(manifest.version).toBe(2);
    manifest.version = 1;
    manifest.files = Object.fromEntries(Object.entries(manifest.files as Record<string, { bytes: number }>).map(([f, e]) => [f, e.bytes]));
    fs.writeFileSync(manifestPath, JSON.stringify(manifest));
    const warnings: string[] = [];
    const loaded = await loadCheckpoint(tmp.path, undefined, { warn: (m) => warnings.push(m) });
    expect(loaded.step).toBe(3);
    disposeContents(loaded);
    expect(warnings).toEqual([expect.stringMatching(/step-00000003 was written before checkpoints carried sha256 hashes: only its file sizes could be checked \(unverified\)/)]);
  });

  it('overwrites a checkpoint of the same step and prunes to keepLast', async () => {
    for (const [step, v] of [[1, 1], [2, 2], [3, 3], [3, 7]]) {
      const c = contents(step, v);
      await saveCheckpoint(tmp.path, c, { keepLast: 2 });
      disposeContents(c);
    }
    expect(fs.readdirSync(tmp.path).sort()).toEqual(['latest', 'step-00000002', 'step-00000003']);
    const loaded = await loadCheckpoint(tmp.path);
    expect(loaded.weights.get('layer.weight')!.dataSync()[0]).toBe(7);
    disposeContents(loaded);
  });

  it('explains what it expected when nothing is there', () => {
    expect(() => resolveCheckpoint(tmp.path)).toThrow(/No complete checkpoint in .*lt-ckpt-.*"latest" file/);
  });
});
