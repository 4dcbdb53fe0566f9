'use strict';
// A PEFT method: a learned gain on each output feature of the target Linear layers.
const { existsSync, readFileSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');
const { Module, tf, loadSafetensors, saveSafetensors } = require('@leantune/tensor');

class ScaledLinear extends Module {
  constructor(base) {
    super();
    this.addModule('base_layer', base); // keeps the base's parameter names under base_layer.*
    const ones = tf.ones([base.getParameter('weight').shape[0]]);
    this.addParameter('scale_gain', ones); // the parameter keeps its own copy
    ones.dispose();
  }
  forward(x) {
    return tf.mul(this.child('base_layer').forward(x), this.param('scale_gain'));
  }
}

/** Wraps every module whose dotted path is, or ends with, a target name. */
function wrapTargets(model, targets) {
  const paths = [...model.namedModules()].map(([path]) => path).filter((p) => targets.some((t) => p === t || p.endsWith(`.${t}`)));
  if (!paths.length) throw new Error(`scale: target_modules ${JSON.stringify(targets)} match no module`);
  for (const path of paths) model.setSubmodule(path, new ScaledLinear(model.getSubmodule(path)));
  return paths;
}

const gains = (model) => [...model.namedParameters()].filter(([path]) => path.endsWith('.scale_gain'));

/** The method's handle: what it trains, its files, and how it folds into the base weights. */
function scaleHandle(model, config) {
  return {
    config,
    trains: (path) => path.endsWith('.scale_gain'),
    save(dir) {
      const trained = gains(model);
      saveSafetensors(join(dir, 'scale.safetensors'), new Map(trained.map(([path, p]) => [path, p.variable])));
      writeFileSync(join(dir, 'scale_config.json'), JSON.stringify({ method: 'scale', ...config }, null, 2));
    },
    // Folds each gain into its layer's weight and bias, and puts the plain layer back.
    mergeAndUnload() {
      for (const [path] of [...model.namedModules()].filter(([, m]) => m instanceof ScaledLinear)) {
        const wrapper = model.getSubmodule(path);
        const base = wrapper.child('base_layer');
        const gain = wrapper.getParameter('scale_gain').variable;
        const weight = base.getParameter('weight').variable; // [out, in]
        weight.assign(tf.tidy(() => tf.mul(weight, tf.expandDims(gain, 1))));
        if (base.hasParameter('bias')) base.getParameter('bias').variable.assign(tf.tidy(() => tf.mul(base.getParameter('bias').variable, gain)));
        gain.dispose();
        model.setSubmodule(path, base);
      }
      return model;
    },
  };
}

module.exports = {
  meta: { name: 'leantune-plugin-scale', version: '1.0.0', core: '^0.1.0' },
  apply(ctx) {
    ctx.methods.register({
      id: 'scale',
      prefix: 'scale_',
      family: 'reparameterization',
      configSchema: {
        type: 'object',
        additionalProperties: false,
        properties: { target_modules: { type: 'array', items: { type: 'string' }, minItems: 1 } },
      },
      defaultTargets: { toy: ['hidden'] }, // per architecture (LoadedModel.arch)
      // inject gets the loaded model (model.module is the module tree) and returns a handle:
      // the run owns it, and all of the method's state lives in it (nothing at module scope).
      inject(model, config, mctx) {
        const paths = wrapTargets(model.module, config.target_modules ?? mctx.defaultTargets);
        return scaleHandle(model.module, { target_modules: paths });
      },
      load(model, dir) {
        const config = JSON.parse(readFileSync(join(dir, 'scale_config.json'), 'utf8'));
        const { tensors } = loadSafetensors(join(dir, 'scale.safetensors'));
        for (const path of config.target_modules) if (!tensors.has(`${path}.scale_gain`)) throw new Error(`scale: ${dir} has no gain for ${path}`);
        wrapTargets(model.module, config.target_modules);
        for (const [path, p] of gains(model.module)) p.variable.assign(tensors.get(path));
        return scaleHandle(model.module, config);
      },
      recognizes: (dir) => existsSync(join(dir, 'scale_config.json')),
    });
  },
};
