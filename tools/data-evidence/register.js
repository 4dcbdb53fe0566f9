// Runs the workspace's TypeScript sources in plain node, without a build and without jest:
// `@leantune/x` resolves to its package's src/index.ts (as jest.preset.js maps it), and .ts
// files are compiled on load with @swc/core (already a root devDependency).
const fs = require('node:fs');
const path = require('node:path');
const Module = require('node:module');
const { transformSync } = require('@swc/core');

const root = path.resolve(__dirname, '../..');
const entries = new Map();
for (const base of ['packages', 'plugins']) {
  for (const dir of fs.readdirSync(path.join(root, base))) {
    const pkg = path.join(root, base, dir, 'package.json');
    const src = path.join(root, base, dir, 'src', 'index.ts');
    if (fs.existsSync(pkg) && fs.existsSync(src)) entries.set(JSON.parse(fs.readFileSync(pkg, 'utf8')).name, src);
  }
}

const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, parent, ...rest) {
  if (entries.has(request)) return entries.get(request);
  if (request.startsWith('.') && parent && parent.filename && parent.filename.endsWith('.ts')) {
    const base = path.resolve(path.dirname(parent.filename), request);
    for (const candidate of [`${base}.ts`, path.join(base, 'index.ts')]) if (fs.existsSync(candidate)) return candidate;
  }
  return resolve.call(this, request, parent, ...rest);
};

require.extensions['.ts'] = (module, filename) => {
  const { code } = transformSync(fs.readFileSync(filename, 'utf8'), {
    filename,
    jsc: { target: 'es2022', parser: { syntax: 'typescript' } },
    module: { type: 'commonjs' },
  });
  module._compile(code, filename);
};
