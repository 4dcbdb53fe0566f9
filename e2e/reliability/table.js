#!/usr/bin/env node
'use strict';
// Prints the reliability suite's table from the JSON lines its cases wrote
// (LEANTUNE_RELIABILITY_TABLE, default $TMPDIR/leantune-reliability.jsonl); the last row per case wins.
const { readFileSync, existsSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
const file = process.argv[2] ?? process.env.LEANTUNE_RELIABILITY_TABLE ?? join(tmpdir(), 'leantune-reliability.jsonl');
if (!existsSync(file)) {
  console.error(`no reliability results at ${file}: run "npx jest e2e/reliability" first`);
  process.exit(2);
}
const rows = new Map();
for (const line of readFileSync(file, 'utf8').split('\n')) if (line.trim()) { const r = JSON.parse(line); rows.set(`${r.suite}\u0000${r.case}`, r); }
const all = [...rows.values()];
console.log('| suite | case | held | peak RSS MB | seconds | detail |');
console.log('| --- | --- | --- | ---: | ---: | --- |');
for (const r of all) console.log(`| ${r.suite} | ${r.case} | ${r.held ? 'yes' : 'NO'} | ${r.peakMB} | ${r.seconds} | ${r.detail ?? ''} |`);
console.log(`\n${all.length} cases, ${all.filter((r) => r.held).length} held`);
