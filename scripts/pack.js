#!/usr/bin/env node
'use strict';
// `npm run pack`: an installable tarball (npm pack) of every publishable workspace package,
// into dist-packs/ (or --out <dir>). Private packages (the e2e fixtures, tools) are skipped.
// Packages are packed as built: run `npm run build` first (the root `pack` script does).
const { execFileSync } = require('node:child_process');
const { existsSync, mkdirSync, readdirSync, readFileSync } = require('node:fs');
const { join, relative, resolve } = require('node:path');

const root = join(__dirname, '..');

/** Publishable workspace packages: { name, dir } for each non-private package.json. */
function publishablePackages() {
  const out = [];
  for (const glob of require(join(root, 'package.json')).workspaces) {
    const base = join(root, glob.replace(/\/\*$/, ''));
    if (!existsSync(base)) continue;
    for (const entry of readdirSync(base).sort()) {
      const manifest = join(base, entry, 'package.json');
      if (!existsSync(manifest)) continue;
      const pkg = JSON.parse(readFileSync(manifest, 'utf8'));
      if (!pkg.private) out.push({ name: pkg.name, dir: join(base, entry) });
    }
  }
  return out;
}

/** The named packages and every workspace package they depend on (optional ones included). */
function withWorkspaceDeps(all, names) {
  const byName = new Map(all.map((p) => [p.name, p]));
  const picked = new Set();
  const visit = (name) => {
    const p = byName.get(name);
    if (!p || picked.has(p)) return;
    picked.add(p);
    const pkg = JSON.parse(readFileSync(join(p.dir, 'package.json'), 'utf8'));
    for (const deps of [pkg.dependencies, pkg.optionalDependencies, pkg.peerDependencies]) Object.keys(deps ?? {}).forEach(visit);
  };
  for (const name of names) {
    if (!byName.has(name)) throw new Error(`no publishable workspace package named ${name}`);
    visit(name);
  }
  return all.filter((p) => picked.has(p));
}

/** `pack.js [--out <dir>] [<package>...]`: every publishable package, or the named ones with their workspace dependencies. */
function main(argv) {
  const at = argv.indexOf('--out');
  const out = resolve(at >= 0 ? argv[at + 1] : join(root, 'dist-packs'));
  const names = argv.filter((a, i) => !a.startsWith('--') && !(at >= 0 && i === at + 1));
  mkdirSync(out, { recursive: true });
  const packages = names.length ? withWorkspaceDeps(publishablePackages(), names) : publishablePackages();
  const unbuilt = packages.filter((p) => !existsSync(join(p.dir, 'dist')));
  if (unbuilt.length) throw new Error(`not built: ${unbuilt.map((p) => p.name).join(', ')}; run npm run build first`);
  const workspaces = packages.flatMap((p) => ['-w', relative(root, p.dir)]);
  const packed = JSON.parse(
    execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', out, ...workspaces], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }),
  );
  for (const p of packed) process.stdout.write(`${join(out, p.filename)}\n`);
  return packed.map((p) => join(out, p.filename));
}

if (require.main === module) {
  try {
    main(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`pack: ${err.message}\n`);
    process.exit(1);
  }
}

module.exports = { publishablePackages, main };
