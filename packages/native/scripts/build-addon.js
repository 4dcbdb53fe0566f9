#!/usr/bin/env node
// Builds the addon with node-gyp at install. A failed build must not fail `npm install`:
// it prints why and leaves the package installed without its .node file, which the
// backend provider reports as "not available" and `auto` skips silently.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const strict = process.argv.includes('--strict');
// --if-stale: do nothing when the addon is newer than every source (for a root `prepare`).
const ifStale = process.argv.includes('--if-stale');
const addon = path.join(root, 'build', 'Release', 'leantune_native.node');

function upToDate() {
  if (!fs.existsSync(addon)) return false;
  const built = fs.statSync(addon).mtimeMs;
  const sources = [path.join(root, 'binding.gyp'), ...fs.readdirSync(path.join(root, 'csrc')).map((f) => path.join(root, 'csrc', f))];
  return sources.every((file) => fs.statSync(file).mtimeMs <= built);
}

if (ifStale && upToDate()) process.exit(0);

/** npm's own node-gyp: npm names it in npm_config_node_gyp; otherwise look beside npm. */
function nodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  try {
    candidates.push(require.resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    // not installed as a package: fine, npm ships one
  }
  return candidates.find((file) => file && fs.existsSync(file));
}

function fail(reason) {
  process.stderr.write(
    `@leantune/native: the native addon was not built (${reason}).\n` +
      '  leantune still works: backend auto falls back to wasm. To retry: npm run build:addon -w @leantune/native\n',
  );
  process.exit(strict ? 1 : 0);
}

const gyp = nodeGyp();
if (gyp == null) fail('node-gyp not found; it ships with npm');
/** Headers of the running Node, when installed beside it (Debian's nodejs: /usr/include/node); else node-gyp downloads them. */
function nodeDir() {
  if (process.env.npm_config_nodedir) return null;
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  return fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h')) ? prefix : null;
}

const dir = nodeDir();
const args = [gyp, 'rebuild', ...(dir ? [`--nodedir=${dir}`] : [])];
const result = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
if (result.error) fail(result.error.message);
if (result.status !== 0) fail(`node-gyp rebuild exited with ${result.status}; a C++17 compiler (g++) and Python 3 are needed`);
