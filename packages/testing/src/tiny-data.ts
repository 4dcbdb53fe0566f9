import { definePlugin, type DataRecord, type Dataset } from '@leantune/core';

const POSITIVE = ['good', 'great', 'fine', 'happy', 'nice', 'super', 'lovely', 'glad'];
const NEGATIVE = ['bad', 'awful', 'sad', 'poor', 'grim', 'nasty', 'ugly', 'vile'];

/** A deterministic two-class text set: the class is the sentiment word in the text. */
export function tinySentiment(count = 64): DataRecord[] {
  const records: DataRecord[] = [];
  for (let row = 0; row < count; row++) {
    const pos = row % 2 === 0;
    const words = pos ? POSITIVE : NEGATIVE;
    const word = words[(row * 7) % words.length];
    records.push({
      id: `tiny-${row}`,
      text: `${word} ${row % 3 === 0 ? 'day' : 'film'}`,
      label: pos ? 'pos' : 'neg',
      meta: { source: 'tiny-sentiment', row },
    });
  }
  return records;
}

/** A dataset-loader plugin for "tiny-sentiment", split 75/25 in row order. */
export const tinyDataPlugin = definePlugin({
  meta: { name: '@leantune/testing-tiny-data', version: '0.1.0', core: '^0.1.0' },
  apply(ctx) {
    ctx.datasets.register({
      name: 'tiny-sentiment',
      datasets: ['tiny-sentiment'],
      test: (spec) => spec.name === 'tiny-sentiment',
      load: async (spec): Promise<Dataset> => {
        const records = tinySentiment((spec.count as number | undefined) ?? 64);
        const cut = Math.floor(records.length * 0.75);
        return {
          name: 'tiny-sentiment',
          records,
          labels: ['neg', 'pos'],
          splits: { train: records.slice(0, cut), validation: records.slice(cut) },
          reports: [],
        };
      },
    });
  },
});
