'use strict';
// A dataset stage: drops records whose text was seen before, and says so in its report.
const { STAGE } = require('@leantune/core');

module.exports = {
  meta: { name: 'leantune-plugin-dedupe', version: '1.0.0', core: '^0.1.0' },
  apply(ctx) {
    ctx.stages.register({
      name: 'dedupe',
      // After loading and the CLEAN stages, before LABEL and SPLIT: any number slots in.
      stage: STAGE.CLEAN + 5,
      optionsSchema: { type: 'object', additionalProperties: false, properties: { caseSensitive: { type: 'boolean', default: false } } },
      run(dataset, options) {
        const seen = new Set();
        const records = dataset.records.filter((r) => {
          const key = options.caseSensitive ? r.text : r.text.toLowerCase();
          return !seen.has(key) && seen.add(key);
        });
        const dropped = dataset.records.length - records.length;
        const report = { stage: 'dedupe', plugin: 'leantune-plugin-dedupe', in: dataset.records.length, out: records.length, changed: 0, dropped, dropReasons: dropped ? { duplicate: dropped } : {} };
        return { ...dataset, records, reports: [...dataset.reports, report] };
      },
    });
  },
};
