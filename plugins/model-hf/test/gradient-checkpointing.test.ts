/**
 * train.gradientCheckpointing on the Hugging Face architectures: the recompute in the
 * backward reads the attention mask the forward's scope has freed unless the mask travels
 * as saved context (checkpointBlock's `context`). Gradients must equal the plain backward's.
 */
import { loadHfCheckpoint, writeTinyHfCheckpoint } from '@leantune/plugin-hf';
import { setGradientCheckpointing, setSeed, tf, variableGradients } from '@leantune/tensor';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

describe.each(['bert', 'roberta', 'gpt2', 'llama', 'qwen2', 'mistral'] as const)('%s with gradient checkpointing', (arch) => {
  it('gives the gradients of the plain backward', async () => {
    await tf.setBackend('cpu');
    const dir = mkdtempSync(join(tmpdir(), 'ck-'));
    writeTinyHfCheckpoint(arch, dir, { layers: 2, seed: 3 });
    const m = await loadHfCheckpoint(dir, { labels: ['bert', 'roberta'].includes(arch) ? ['a', 'b'] : undefined });
    m.module.unfreeze();
    const batch = m.encode!([{ id: '1', text: 'hello world', label: 'a', meta: { source: 'x', row: 0 } }, { id: '2', text: 'good', label: 'b', meta: { source: 'x', row: 1 } }]);
    const grads = () => {
      setSeed(11); // the same dropout masks in both backwards (training mode)
      const { grads, value } = variableGradients(() => m.loss!(batch, true) as tf.Scalar, [...m.module.trainableVariables().values()]);
      const out = Object.fromEntries(Object.entries(grads).map(([k, g]) => [k, Array.from(g.dataSync())]));
      value.dispose();
      return out;
    };
    const plain = grads();
    expect(setGradientCheckpointing(m.module, true)).toBeGreaterThan(0);
    const ck = grads();
    expect(Object.keys(ck).sort()).toEqual(Object.keys(plain).sort());
    let worst = 0;
    for (const k of Object.keys(plain)) ck[k].forEach((v, i) => (worst = Math.max(worst, Math.abs(v - plain[k][i]))));
    // The same ops on the same values, once more: equal up to float summation order.
    expect(worst).toBeLessThan(1e-6);
    expect(Object.values(plain).some((g) => g.some((v) => v !== 0))).toBe(true);
  });
});
