import { checkIdentityAtInit, checkInvalidConfigs, checkRegistration, checkTrainableParameters, quietLog, type MethodContractOptions } from '@leantune/testing';
import { tf } from '@leantune/tensor';
import { createTrainDriver } from '@leantune/train';
import hardPromptPlugin from '../src';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { tinyImages, tinyClipModel } = require('../../method-vpt/test/fixtures/tiny-images.js');

beforeAll(() => tf.setBackend('cpu'));

// A Hub-layout tiny CLIP with the class names as labels: its own outputs are zero-shot over
// "a photo of a {}.", the template hard-prompt uses by default.
const model = tinyClipModel('hard-prompt-contract', quietLog);
const records = tinyImages(24);

// hard-prompt trains nothing by design (trainsNothing, like zero-shot), so the training checks
// (save-load of perturbed parameters, leaks per step, loss) have nothing to act on. The checks
// that apply: registration, the config schema, "nothing is trainable", and identity: with the
// model's own template the injected classifier is the model's zero-shot one (to 1e-6). Its file
// round trip (hard_prompt.json) is tested in hard-prompt.test.ts.
describe('method contract: "hard-prompt" from @leantune/plugin-hard-prompt (the checks that apply)', () => {
  const base: MethodContractOptions = {
    plugin: hardPromptPlugin,
    method: 'hard-prompt',
    config: {},
    model,
    data: { train: records.slice(0, 16), validation: records.slice(16) },
    trainer: createTrainDriver(),
    identityAtInit: true,
  };

  it('registers the method as a baseline that trains nothing, and its default config validates', async () => {
    const r = await checkRegistration(base);
    expect([r.ok, r.problems, r.measured.family]).toEqual([true, [], 'baseline']);
  });

  it('with the model\'s own template it computes the model\'s zero-shot outputs (to float rounding), with nothing trainable', async () => {
    const identity = await checkIdentityAtInit(base);
    expect(identity.ok).toBe(true);
    // Not bit-exact: the class features are normalised (and averaged) before the cosine.
    expect(identity.measured.maxAbsDiff).toBeLessThanOrEqual(1e-6);
    const trainable = await checkTrainableParameters(base);
    expect(trainable.measured).toMatchObject({ trainable: 0, trainablePaths: [] });
    expect(trainable.problems).toEqual([expect.stringMatching(/^nothing is trainable after inject/)]);
  });

  it('with other templates the outputs change (so the identity check can fail)', async () => {
    const other = await checkIdentityAtInit({ ...base, config: { templates: ['a blurry photo of a {}.', 'a drawing of a {}.'] } });
    expect(other.ok).toBe(false);
    expect(other.measured.maxAbsDiff).toBeGreaterThan(1e-4);
  });

  it('rejects a template without {} and unknown keys, naming the pointer', async () => {
    const r = await checkInvalidConfigs({
      ...base,
      invalidConfigs: [
        { config: { templates: ['a photo'] }, pointer: '/methods/hard-prompt/templates/0' },
        { config: { templates: [] }, message: /must NOT have fewer than 1 items/ },
        { config: { epochs: 1 }, message: /unknown key "epochs"/ },
      ],
    });
    expect([r.ok, r.problems]).toEqual([true, []]);
  });
});
