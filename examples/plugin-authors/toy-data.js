'use strict';
// A dataset loader: answers for { "data": { "name": "toy-reviews" } }.
const WORDS = { pos: ['good', 'great', 'lovely', 'fine'], neg: ['bad', 'awful', 'poor', 'grim'] };

module.exports = {
  meta: { name: 'leantune-plugin-toy-data', version: '1.0.0', core: '^0.1.0' },
  apply(ctx) {
    ctx.datasets.register({
      name: 'toy-reviews',
      datasets: ['toy-reviews'],
      test: (spec) => spec.name === 'toy-reviews',
      async load(spec) {
        const count = spec.count ?? 80;
        const records = Array.from({ length: count }, (_, row) => {
          const label = row % 2 ? 'neg' : 'pos';
          // Every tenth review repeats an earlier one of its class: something for the dedupe stage to find.
          const n = row % 10 === 9 ? row - 2 : row;
          return { id: `toy-${row}`, text: `a ${WORDS[label][n % 4]} film, take ${n}`, label, meta: { source: 'toy-reviews', row } };
        });
        return { name: 'toy-reviews', records, labels: ['neg', 'pos'], reports: [] };
      },
    });
  },
};
