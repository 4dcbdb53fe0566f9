import { CARD_FILE, MANIFEST_FILE, type PackManifest } from './manifest';

const mb = (n: number) => `${(n / 1e6).toFixed(2)} MB`;

/** A dataset card (markdown) written beside the manifest, for people browsing the pack. */
export function datasetCard(m: PackManifest): string {
  const lines = [
    `# Dataset pack: ${m.name}`,
    '',
    `${m.counts.records} records${m.labels ? `, ${m.labels.length} labels` : ''}; ${m.shards.length} shard(s), ${m.compression}${m.compression === 'none' ? '' : ` level ${m.level}`}, quantisation ${m.quantize}.`,
    `Stored ${mb(m.totals.bytes)} (${mb(m.totals.rawBytes)} before compression).`,
    '',
    '## Labels',
    '',
    '| label | records |',
    '| --- | ---: |',
    ...Object.entries(m.counts.labels).map(([label, n]) => `| ${label === '' ? '(none)' : label} | ${n} |`),
    '',
  ];
  if (m.counts.splits) {
    lines.push('## Splits', '', '| split | records |', '| --- | ---: |', ...Object.entries(m.counts.splits).map(([s, n]) => `| ${s} | ${n} |`), '');
  }
  lines.push('## Schema', '', '| field | type | present |', '| --- | --- | ---: |');
  for (const [k, f] of Object.entries(m.schema.fields)) lines.push(`| ${k} | ${f.type} | ${f.present} |`);
  for (const [k, f] of Object.entries(m.schema.meta)) lines.push(`| meta.${k} | ${f.type} | ${f.present} |`);
  if (m.schema.image) lines.push('', `Images: shape ${Array.isArray(m.schema.image.shape) ? `[${m.schema.image.shape.join(', ')}]` : 'mixed'}, ${m.schema.image.dtype}.`);
  if (m.quantize !== 'none') {
    lines.push('', `Float arrays are stored as ${m.quantize}; the largest absolute error introduced was ${m.quantization.maxAbsError.toExponential(3)}.`);
  }
  lines.push('', '## Provenance', '', '| stage | plugin | in | out | dropped | reasons |', '| --- | --- | ---: | ---: | ---: | --- |');
  for (const r of m.reports) lines.push(`| ${r.stage} | ${r.plugin} | ${r.in} | ${r.out} | ${r.dropped} | ${Object.entries(r.dropReasons).map(([k, v]) => `${k} ${v}`).join(', ')} |`);
  lines.push(
    '',
    '## Integrity',
    '',
    `Each shard file is named by the sha256 of its bytes, and ${MANIFEST_FILE} lists every hash; loading verifies them all and names any shard that is missing, truncated or altered. This ${CARD_FILE} is informational and is not checked.`,
    '',
  );
  return lines.join('\n');
}
