import { describeMethodContract, formatParameterCounts, standaloneFiles, type CheckResult } from '@leantune/testing';
import { tf } from '@leantune/tensor';
import { createTrainDriver } from '@leantune/train';
import adapterPlugin, { AdapterModel, loadAdapter, saveAdapter } from '../src';

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

// A Pfeiffer adapter after the tiny classifier's encoder.dense (bottleneck 16 / 4 = 4), saved
// and loaded as the plugin's own adapter folder into a bare base model, which loadAdapter
// injects from the saved config.
describeMethodContract({
  plugin: adapterPlugin,
  method: 'adapter',
  config: { target_modules: ['dense'], reduction_factor: 4 },
  trainer: createTrainDriver(),
  // mam_adapter init: the up-projection starts at zero, so the adapter adds nothing.
  identityAtInit: true,
  // The handle has no merge; its notMergeable says why (a non-linearity sits between the two
  // projections, so the adapter is no linear map to fold into the weights); `leantune merge`
  // turns that into a usage error. Nothing to check here.
  mergeable: false,
  mergeSkipReason: 'a bottleneck adapter cannot merge: its non-linearity is no linear map to fold into the weights',
  saveLoad: standaloneFiles(AdapterModel, saveAdapter, loadAdapter),
  invalidConfigs: [
    { config: { config: 'houlsbi' }, message: /must be one of "houlsby", "pfeiffer", "parallel"/ },
    { config: { reduction_factor: 0 }, message: /must be > 0/ },
    { config: { non_linearity: 'softsign' }, message: /must be one of/ },
    { config: { dropout: 1 }, message: /must be < 1/ },
  ],
  onResult: (r) => void results.push(r),
});
