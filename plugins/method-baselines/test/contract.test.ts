import {
  checkIdentityAtInit,
  checkInvalidConfigs,
  checkRegistration,
  checkTrainableParameters,
  describeMethodContract,
  formatParameterCounts,
  tinyLoadedModel,
  type CheckResult,
  type MethodContractOptions,
} from '@leantune/testing';
import { tf } from '@leantune/tensor';
import { createTrainDriver } from '@leantune/train';
import baselinesPlugin from '../src';

const results: CheckResult[] = [];

beforeAll(() => tf.setBackend('cpu'));
// The figures PEFT's tests print: parameter counts, how far the loss fell, save/load and merge diffs.
afterAll(() => {
  for (const r of results) {
    const m = r.measured;
    if (r.check === 'trainable') process.stdout.write(`${formatParameterCounts(r)}\n`);
    if (r.check === 'loss') process.stdout.write(`${r.method}: loss ${Number(m.first3).toFixed(3)} → ${Number(m.last3).toFixed(3)}\n`);
    if ((r.check === 'save-load' || r.check === 'merge') && !r.skipped) process.stdout.write(`${r.method}: ${r.check} max abs diff ${m.maxAbsDiff}\n`);
  }
});

// Full fine-tuning and the linear probe train base parameters in place (all of them; the
// classifier's 34), so the contract checks that exactly those move and nothing else does.
// Neither saves files of its own: the trained variables go to the run folder's
// trainable.safetensors, the contract's default save/load.
describeMethodContract({
  plugin: baselinesPlugin,
  method: 'full',
  config: {},
  // Training the embedding table is what makes full fine-tuning slow here: the gradient of
  // gather is an unsortedSegmentSum, which tfjs-cpu computes one segment (vocabulary row) at
  // a time, 1.4 s per step for the default 64-row table. A 16-row table (characters folded
  // mod 15) and 12 steps (four epochs; the loss goes 0.716 → 0.516) keep the file short.
  model: () => tinyLoadedModel(['neg', 'pos'], { vocab: 16 }),
  loss: { steps: 12 },
  trainer: createTrainDriver(),
  trainsBaseParameters: true,
  identityAtInit: true,
  mergeable: false,
  mergeSkipReason: 'full fine-tuning has no merge(): it trains the base weights themselves, so there is no separate delta to fold',
  onResult: (r) => void results.push(r),
});

describeMethodContract({
  plugin: baselinesPlugin,
  method: 'linear-probe',
  config: { head: 'classifier' },
  trainer: createTrainDriver(),
  trainsBaseParameters: true,
  identityAtInit: true,
  mergeable: false,
  mergeSkipReason: 'a linear probe has no merge(): it trains the base head in place, so there is no separate delta to fold',
  invalidConfigs: [{ config: { head: '' }, message: /must NOT have fewer than 1 characters/ }],
  onResult: (r) => void results.push(r),
});

// zero-shot trains nothing by design, so the training checks (trainable, save-load, leaks
// per step, loss) have nothing to act on; only registration, identity and the config schema
// apply, and "nothing is trainable" is the property to assert.
describe('method contract: "zero-shot" from @leantune/plugin-baselines (the checks that apply)', () => {
  const zeroShot: MethodContractOptions = { plugin: baselinesPlugin, method: 'zero-shot', config: {}, trainer: createTrainDriver(), identityAtInit: true };

  it('registers the method and its (empty) config validates', async () => {
    const r = await checkRegistration(zeroShot);
    expect([r.ok, r.problems, r.measured.family]).toEqual([true, [], 'baseline']);
  });

  it('computes the base model\'s outputs, with nothing trainable', async () => {
    const identity = await checkIdentityAtInit(zeroShot);
    expect([identity.ok, identity.measured.maxAbsDiff]).toEqual([true, 0]);
    const trainable = await checkTrainableParameters(zeroShot);
    expect(trainable.measured).toMatchObject({ trainable: 0, total: 1330, trainablePaths: [] });
    expect(trainable.problems).toEqual([expect.stringMatching(/^nothing is trainable after inject/)]);
  });

  it('rejects any key', async () => {
    const r = await checkInvalidConfigs({ ...zeroShot, invalidConfigs: [{ config: { head: 'classifier' }, message: /unknown key "head"/ }] });
    expect([r.ok, r.problems]).toEqual([true, []]);
  });
});
