import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// leantune used from an outside project, with the commands the README gives ("Use leantune
// in your project"): the CLI's tarballs (scripts/pack.js, as `npm run pack` runs it)
// installed with npm into a project of its own, and a plugin in a package of its own (plain
// CommonJS, @leantune/core as a peer dependency) installed from its folder. The plugin then
// trains the tiny fixture model through the CLI, on the CLI's own core and tensor.
const repo = join(__dirname, '..', '..', '..');
const work = mkdtempSync(join(tmpdir(), 'lt-outside-'));
const packs = join(work, 'packs');
const project = join(work, 'project');
const pluginDir = join(work, 'leantune-plugin-gain');
const npm = (cwd: string, ...args: string[]) => execFileSync('npm', [...args, '--prefer-offline', '--no-audit', '--no-fund'], { cwd, encoding: 'utf8', stdio: 'pipe' });
const leantune = (...args: string[]) => spawnSync(join(project, 'node_modules', '.bin', 'leantune'), args, { cwd: project, encoding: 'utf8' });

const PLUGIN_INDEX = `'use strict';
const core = require('@leantune/core');
const { Module, tf } = require('@leantune/tensor');

/** A learnable per-feature gain after a layer. */
class Gained extends Module {
  constructor(inner, features) {
    super();
    this.addModule('inner', inner);
    const ones = tf.ones([features]);
    this.addParameter('gain_scale', ones);
    ones.dispose();
  }
  forward(x) {
    return tf.mul(this.child('inner').forward(x), this.param('gain_scale'));
  }
}

module.exports = {
  meta: { name: 'leantune-plugin-gain', version: '0.3.0', core: '^0.1.0' },
  apply(ctx) {
    ctx.methods.register({
      id: 'gain',
      prefix: 'gain_',
      family: 'reparameterization',
      configSchema: { type: 'object', additionalProperties: false, properties: {} },
      defaultTargets: { tiny: ['encoder.dense'] },
      // The loaded model in, a handle out: the run owns it (Method API v2).
      inject(model, config, mctx) {
        for (const path of mctx.defaultTargets) {
          const layer = model.module.getSubmodule(path);
          model.module.setSubmodule(path, new Gained(layer, layer.getParameter('weight').shape[0]));
        }
        return { config, trains: (path) => path.endsWith('.gain_scale') };
      },
    });
    ctx.hooks.run.tap('gain', (run) => {
      run.hooks.beforeTrain.tapPromise('gain', async () => {
        const seen = {
          core: require.resolve('@leantune/core'),
          tensor: require.resolve('@leantune/tensor'),
          sameRun: run instanceof core.Run,
          sameModule: run.model.module instanceof Module,
        };
        ctx.log.warn('[gain] ' + JSON.stringify(seen));
      });
    });
  },
};
`;

const CONFIG = {
  name: 'outside',
  plugins: ['gain', './tiny-model.js', './tiny-data.js'],
  model: 'tiny-text',
  methods: { gain: {} },
  data: { name: 'tiny-sentiment' },
  train: { epochs: 1, batchSize: 16, learningRate: 0.05 },
  runtime: { backend: 'cpu', seed: 7 },
};

beforeAll(() => {
  const pack = () => execFileSync(process.execPath, [join(repo, 'scripts', 'pack.js'), '--out', packs, '@leantune/cli'], { cwd: repo, stdio: 'pipe' });
  try {
    pack();
  } catch {
    // Some package the CLI needs is not built yet (npm test builds them all first).
    execFileSync('npx', ['tsc', '-b'], { cwd: repo });
    pack();
  }

  mkdirSync(pluginDir);
  writeFileSync(join(pluginDir, 'package.json'), JSON.stringify({ name: 'leantune-plugin-gain', version: '0.3.0', main: 'index.js', peerDependencies: { '@leantune/core': '^0.1.0', '@leantune/tensor': '^0.1.0' } }));
  writeFileSync(join(pluginDir, 'index.js'), PLUGIN_INDEX);

  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'outside-project', version: '1.0.0', private: true }));
  writeFileSync(join(project, 'tiny-model.js'), "module.exports = require('@leantune/testing').tinyModelPlugin;\n");
  writeFileSync(join(project, 'tiny-data.js'), "module.exports = require('@leantune/testing').tinyDataPlugin;\n");
  writeFileSync(join(project, 'leantune.json'), JSON.stringify(CONFIG, null, 2));
  // The README's commands: the tarballs, then the plugin from its folder (a symlink).
  npm(project, 'install', ...readdirSync(packs).map((f) => join(packs, f)));
  npm(project, 'install', '--install-links=false', pluginDir);
  // The install compiles better-sqlite3 (compare's store) from source: no prebuilt binary is reachable here; ~3 min on an idle 2-core machine, ~10 under load.
}, 900_000);

describe('leantune from an outside project, with an outside plugin', () => {
  const seenBy = (stderr: string) => JSON.parse(/\[gain\] (.*)/.exec(stderr)![1]);
  const hostCore = () => realpathSync(join(project, 'node_modules', '@leantune', 'core', 'dist', 'index.js'));

  it('trains with the folder-installed plugin, which gets the CLI’s @leantune/core and @leantune/tensor', () => {
    const r = leantune('train', '-c', 'leantune.json', '--quiet');
    expect(r.stderr).not.toContain('Cannot find module');
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ run: 'outside', methods: ['gain'], model: 'tiny-text' });
    expect(seenBy(r.stderr)).toEqual({
      core: hostCore(),
      tensor: realpathSync(join(project, 'node_modules', '@leantune', 'tensor', 'dist', 'index.js')),
      sameRun: true,
      sameModule: true,
    });
  }, 60_000);

  it('never loads a second copy of core that the plugin carries itself', () => {
    // e.g. a plugin author's own install for tests: node_modules/@leantune/core inside the plugin.
    cpSync(join(project, 'node_modules', '@leantune', 'core'), join(pluginDir, 'node_modules', '@leantune', 'core'), { recursive: true });
    const r = leantune('train', '-c', 'leantune.json', '--quiet');
    expect(r.status).toBe(0);
    expect(seenBy(r.stderr)).toMatchObject({ core: hostCore(), sameRun: true });
  }, 60_000);

  it('rejects a plugin built for another major of core, saying how to fix it', () => {
    const old = join(project, 'old-plugin');
    mkdirSync(old);
    writeFileSync(join(old, 'package.json'), JSON.stringify({ name: 'leantune-plugin-old', version: '3.0.0', peerDependencies: { '@leantune/core': '^9.0.0' } }));
    writeFileSync(join(old, 'index.js'), "module.exports = { meta: { name: 'leantune-plugin-old', version: '3.0.0', core: '^9.0.0' }, apply() {} };\n");
    writeFileSync(join(project, 'old.json'), JSON.stringify({ ...CONFIG, plugins: ['./old-plugin', ...CONFIG.plugins] }));
    const r = leantune('validate', '-c', 'old.json');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('is built for @leantune/core ^9.0.0 (peerDependencies in');
    expect(r.stderr).toContain('Install a version of the plugin whose peerDependencies accept 0.1.0');
  });
});
