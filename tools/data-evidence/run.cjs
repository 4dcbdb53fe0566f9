#!/usr/bin/env node
// Runs one evidence script (TypeScript) straight from the sources: swc strips the types on
// require, and every @leantune/* package name resolves to its src/index.ts, as jest's
// mapper does. So a script runs on a fresh checkout with no build step, including packages
// npm has not linked yet.
//   node tools/data-evidence/run.cjs tools/data-evidence/compress.ts
const fs = require('node:fs');
const path = require('node:path');
const Module = require('node:module');
const { addHook } = require('pirates');
const swc = require('@swc/core');

const root = path.resolve(__dirname, '..', '..');
const workspaces = new Map();
for (const group of ['packages', 'plugins', 'tools']) {
  const base = path.join(root, group);
  for (const entry of fs.readdirSync(base)) {
    const pkg = path.join(base, entry, 'package.json');
    const src = path.join(base, entry, 'src', 'index.ts');
    if (fs.existsSync(pkg) && fs.existsSync(src)) workspaces.set(JSON.parse(fs.readFileSync(pkg, 'utf8')).name, path.join(base, entry, 'src'));
  }
}

const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, parent, ...rest) {
  const m = /^(@leantune\/[^/]+)(?:\/(.*))?$/.exec(request);
  if (m && workspaces.has(m[1])) request = path.join(workspaces.get(m[1]), m[2] ?? 'index.ts');
  else if (request.startsWith('.') && parent?.filename?.endsWith('.ts')) {
    const base = path.resolve(path.dirname(parent.filename), request);
    for (const candidate of [`${base}.ts`, path.join(base, 'index.ts')]) if (fs.existsSync(candidate)) return candidate;
  }
  return resolve.call(this, request, parent, ...rest);
};

addHook(
  (code, filename) =>
    swc.transformSync(code, { filename, jsc: { target: 'es2022', parser: { syntax: 'typescript' } }, module: { type: 'commonjs' }, sourceMaps: 'inline' }).code,
  { exts: ['.ts'], ignoreNodeModules: true },
);

const script = process.argv[2];
if (!script) {
  console.error('usage: node tools/data-evidence/run.cjs <script.ts> [args...]');
  process.exit(2);
}
process.argv.splice(1, 1); // the script sees itself as argv[1]
require(path.resolve(script));
