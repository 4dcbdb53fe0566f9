import fs from 'node:fs';
import path from 'node:path';
import { loadHfCheckpoint, writeTinyHfCheckpoint } from '@leantune/plugin-hf';
import { quietLog as quiet, snapshot, tempDir } from '@leantune/testing';
import { loadLnTuning, saveLnTuning, selectLayerNorms, type LnTuningConfig } from '../src';
// The suite's driver and NumPy writer live with the LoRA tests (one re-implementation of PEFT's save path).
import { describePeftCompat, describePeftRead, describeWithNumpy, runCompatCase, type CompatCase } from '../../method-lora/test/peft-compat/cases';

const CASES: CompatCase[] = [
  // target_modules left out: the writer fills PEFT's LN_TUNING mapping for gpt2 (ln_1, ln_2, ln_f), as _prepare_adapter_config.
  { name: 'LN tuning, GPT-2 defaults filled', arch: 'gpt2', peftType: 'LN_TUNING', config: {} },
  { name: 'LN tuning, BERT, exclude_modules', arch: 'bert', peftType: 'LN_TUNING', config: { target_modules: ['LayerNorm'], exclude_modules: ['embeddings.LayerNorm'] } },
  { name: 'LN tuning, regex targets', arch: 'bert', peftType: 'LN_TUNING', config: { target_modules: '.*layer\\.1\\..*LayerNorm' } },
];

describePeftCompat(
  'PEFT compatibility: LN tuning adapters written as PEFT writes them load into leantune with PEFT\'s outputs',
  CASES,
  500,
  (model, folder) => void loadLnTuning(model, folder),
  // Every LayerNorm the folder holds was loaded (one checked output per LayerNorm).
  (c, r) => expect(r.diffs.length).toBe(c.arch === 'gpt2' ? 5 : c.config.exclude_modules ? 4 : 2),
);

describePeftRead('PEFT compatibility: LN tuning folders leantune writes read as PEFT 0.18.0 loads them', CASES, 600, (model, c) => {
  const selection = selectLayerNorms(model, c.config as Partial<LnTuningConfig>);
  return {
    save: (dir) => saveLnTuning(model, dir, selection),
    layers: () => selection.modules.map((p) => [p, model.getSubmodule(p)]),
    trained: () => selection.modules.flatMap((p) => ['weight', 'bias'].map((n) => `${p}.${n}`)),
  };
});

// PEFT trains modules_to_save alongside; leantune's LN tuning does not: such a folder is refused before anything changes.
describeWithNumpy('PEFT compatibility: LN tuning folders leantune refuses', () => {
  it('a PEFT LN_TUNING folder with modules_to_save fails naming the classifier tensors; the model is untouched', async () => {
    const c: CompatCase = { name: 'LN tuning + modules_to_save', arch: 'bert', peftType: 'LN_TUNING', config: { target_modules: ['LayerNorm'], modules_to_save: ['classifier'] } };
    await runCompatCase(c, 700, (model, folder) => {
      const before = snapshot(model);
      expect(() => loadLnTuning(model, folder)).toThrow(/adapter_model\.safetensors does not fit this model:[\s\S]*unexpected tensor "base_model\.model\.classifier\.weight"/);
      expect(snapshot(model)).toEqual(before);
    });
  });
});

describe('LN tuning saves target_modules as written (issue 20, part 2)', () => {
  it.each([
    ['a list (deduplicated, sorted, as PEFT saves its set)', { target_modules: ['output.LayerNorm', 'attention.output.LayerNorm', 'output.LayerNorm'] }, ['attention.output.LayerNorm', 'output.LayerNorm']],
    ['a regex', { target_modules: '.*layer\\.1\\..*LayerNorm' }, '.*layer\\.1\\..*LayerNorm'],
  ] as const)('%s; loading the file selects the same norms and saves the same field', async (_what, config, saved) => {
    const ckpt = tempDir('ln-written');
    writeTinyHfCheckpoint('bert', ckpt, { layers: 2, seed: 3 });
    const model = (await loadHfCheckpoint(ckpt, { log: quiet })).module;
    const selection = selectLayerNorms(model, config as Partial<LnTuningConfig>);
    const dir = saveLnTuning(model, tempDir('ln-written-out'), selection);
    const json = JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8'));
    expect(json.target_modules).toEqual(saved);
    const again = loadLnTuning((await loadHfCheckpoint(ckpt, { log: quiet })).module, dir);
    expect(again.modules.sort()).toEqual([...selection.modules].sort());
    expect(again.written).toEqual(saved);
  });

  it('unset: the selected paths (PEFT has no LN_TUNING targets for BERT)', async () => {
    const ckpt = tempDir('ln-written-null');
    writeTinyHfCheckpoint('bert', ckpt, { layers: 1, seed: 3 });
    const model = (await loadHfCheckpoint(ckpt, { log: quiet })).module;
    const selection = selectLayerNorms(model);
    const json = JSON.parse(fs.readFileSync(path.join(saveLnTuning(model, tempDir('ln-written-null-out'), selection), 'adapter_config.json'), 'utf8'));
    expect(json.target_modules).toEqual([...selection.modules].sort());
    expect(json.target_modules).toContain('bert.embeddings.LayerNorm');
  });
});
