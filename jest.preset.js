// Shared jest settings. Tests run on TypeScript sources through swc (no type check here:
// `tsc -b` runs first in `npm test`), and every workspace package resolves to its src/,
// so a test never needs a prior build of its dependencies.
const fs = require('node:fs');
const path = require('node:path');

const root = __dirname;
const workspaceGlobs = require('./package.json').workspaces;

function workspaceDirs() {
  const dirs = [];
  for (const glob of workspaceGlobs) {
    const base = path.join(root, glob.replace(/\/\*$/, ''));
    if (!fs.existsSync(base)) continue;
    for (const entry of fs.readdirSync(base)) {
      const dir = path.join(base, entry);
      if (fs.existsSync(path.join(dir, 'package.json'))) dirs.push(dir);
    }
  }
  return dirs;
}

function sourceMapper() {
  const map = {};
  for (const dir of workspaceDirs()) {
    const { name } = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
    const entry = path.join(dir, 'src', 'index.ts');
    if (name && fs.existsSync(entry)) {
      map[`^${name.replace(/[/.]/g, '\\$&')}$`] = entry;
      map[`^${name.replace(/[/.]/g, '\\$&')}/(.*)$`] = path.join(dir, 'src', '$1');
    }
  }
  return map;
}

module.exports = {
  testEnvironment: 'node',
  transform: {
    '^.+\\.(t|j)sx?$': ['@swc/jest', { jsc: { target: 'es2022', parser: { syntax: 'typescript' } } }],
  },
  moduleFileExtensions: ['ts', 'tsx', 'js', 'mjs', 'cjs', 'json'],
  moduleNameMapper: sourceMapper(),
  testMatch: ['**/test/**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
};
