import { ia3Layers, injectIa3, loadIa3, type Ia3Config } from '../src';
// The suite's driver and NumPy writer live with the LoRA tests (one re-implementation of PEFT's save path).
import { describePeftCompat, describePeftRead, type CompatCase } from '../../method-lora/test/peft-compat/cases';

const CASES: CompatCase[] = [
  // feedforward_modules left out: the writer fills the model type's defaults, as PEFT's _prepare_adapter_config.
  { name: 'IA3, GPT-2 defaults filled', arch: 'gpt2', peftType: 'IA3', config: { target_modules: ['c_attn', 'mlp.c_proj'] } },
  { name: 'IA3, BERT', arch: 'bert', peftType: 'IA3', config: { target_modules: ['key', 'value', 'output.dense'], feedforward_modules: ['output.dense'] } },
  { name: 'IA3, regex feed-forward', arch: 'bert', peftType: 'IA3', config: { target_modules: ['value', 'dense'], feedforward_modules: '.*\\.output\\.dense' } },
];

describePeftCompat(
  'PEFT compatibility: IA3 adapters written as PEFT writes them load into leantune with PEFT\'s outputs',
  CASES,
  200,
  (model, folder, _name, c) => void loadIa3(model, folder, { arch: c.arch }),
  (_c, r) => expect(ia3Layers(r.model).length).toBe(r.diffs.length),
);

describePeftRead('PEFT compatibility: IA3 folders leantune writes read as PEFT 0.18.0 loads them', CASES, 400, (model, c) =>
  injectIa3(model, c.config as Partial<Ia3Config>, { arch: c.arch }),
);
