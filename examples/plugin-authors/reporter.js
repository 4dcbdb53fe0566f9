'use strict';
// A reporter: taps every run's hooks and appends one JSON line per event to a file.
const { appendFileSync } = require('node:fs');
const { resolve } = require('node:path');

module.exports = {
  meta: { name: 'leantune-plugin-jsonl-report', version: '1.0.0', core: '^0.1.0' },
  optionsSchema: { type: 'object', required: ['file'], additionalProperties: false, properties: { file: { type: 'string' } } },
  apply(ctx) {
    ctx.hooks.run.tap('jsonl-report', (run) => {
      const file = resolve(run.context.configDir, ctx.options.file);
      const write = (event) => appendFileSync(file, `${JSON.stringify({ run: run.context.runName, ...event })}\n`);
      run.hooks.afterStep.tap('jsonl-report', (logs) => write({ type: 'step', step: logs.step, loss: logs.loss }));
      run.hooks.afterEpoch.tapPromise('jsonl-report', async (logs) => write({ type: 'epoch', epoch: logs.epoch, eval: logs.eval }));
      // evaluate is a waterfall: return the metrics (changed or not) for the next tap.
      run.hooks.evaluate.tapPromise('jsonl-report', async (metrics) => (write({ type: 'final', metrics }), metrics));
      run.hooks.failed.tapPromise('jsonl-report', async (err) => write({ type: 'failed', error: String(err) }));
    });
  },
};
