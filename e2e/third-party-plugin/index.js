'use strict';
// A plugin as a third party would publish it: no build step, no import of any
// leantune internals beyond the public API of @leantune/core and @leantune/tensor.
const { STAGE } = require('@leantune/core');
const fs = require('node:fs');
const path = require('node:path');
const { Module, tf, loadSafetensors, saveSafetensors } = require('@leantune/tensor');

const NAME = '@acme/leantune-plugin-shift';

/** Wraps a layer and adds a learnable output shift: the smallest possible PEFT method. */
class ShiftedLayer extends Module {
  constructor(base, dim) {
    super();
    this.addModule('base_layer', base);
    const zeros = tf.zeros([dim]);
    this.addParameter('shift_bias', zeros);
    zeros.dispose(); // the parameter holds its own reference

  }
  forward(x) {
    return tf.add(this.child('base_layer').forward(x), this.param('shift_bias'));
  }
}

/**
 * The handle inject and load return: the run owns it, and it holds all of the method's
 * state (nothing at module scope). Trains the shift biases; saves them in its own files;
 * unload puts the original layers back.
 */
function shiftHandle(root, config) {
  const layers = () => [...root.namedModules()].filter(([, m]) => m instanceof ShiftedLayer);
  return {
    config,
    trains: (p) => p.split('.').includes('shift_bias'),
    save(dir) {
      const tensors = new Map(layers().map(([p, m]) => [`${p}.shift_bias`, m.getParameter('shift_bias').variable]));
      saveSafetensors(path.join(dir, 'shift.safetensors'), tensors);
      fs.writeFileSync(path.join(dir, 'shift_config.json'), `${JSON.stringify(config, null, 2)}\n`);
    },
    unload() {
      for (const [p, m] of layers()) {
        m.getParameter('shift_bias').variable.dispose();
        root.setSubmodule(p, m.child('base_layer'));
      }
      return root;
    },
    notMergeable: 'a shift after a layer with a bias folds into that bias, but this example keeps it separate',
  };
}

/** Holds a prompt method's virtual tokens as one parameter, attached to the model's root. */
class PromptTokens extends Module {
  constructor(init) {
    super();
    this.addParameter('embeddings', init);
  }
}

const PROMPT_CHILD = 'acme_prompt';
const PROMPT_FILE = 'acme_prompt.safetensors';
const PROMPT_CONFIG = 'acme_prompt_config.json';

/**
 * The prompt method's handle. Two extension points of the model: `inputEmbeddings` (its
 * virtual tokens go before every input) and `hiddenStates` (a tap on the last layer's output
 * measures what the virtual positions carry there). All state is here: the parameters, the
 * two disposers and the tap's figures.
 */
function promptHandle(model, config, init) {
  const { inputEmbeddings, hiddenStates } = model.points;
  const root = model.module;
  if (root.child(PROMPT_CHILD)) throw new Error(`acme-prompt: the model already holds "${PROMPT_CHILD}"; unload the other prompt first`);
  const tokens = root.addModule(PROMPT_CHILD, new PromptTokens(init));
  const n = config.num_virtual_tokens;
  const offset = inputEmbeddings.offset;
  const lastLayer = hiddenStates.layers - 1;
  const tap = { calls: 0, lastShape: undefined, virtualMeanAbs: undefined };
  const detachTokens = inputEmbeddings.addVirtualTokens(() => tokens.param('embeddings'));
  const detachTap = hiddenStates.tapLayerOutput(lastLayer, (output) => {
    tap.calls++;
    tap.lastShape = output.shape;
    tap.virtualMeanAbs = tf.tidy(() => tf.mean(tf.abs(tf.slice(output, [0, offset, 0], [-1, n, -1]))).dataSync()[0]);
  });
  return {
    config,
    tap,
    lastLayer,
    trains: (p) => p.startsWith(`${PROMPT_CHILD}.`),
    save(dir) {
      saveSafetensors(path.join(dir, PROMPT_FILE), new Map([['prompt_embeddings', tokens.param('embeddings')]]));
      fs.writeFileSync(path.join(dir, PROMPT_CONFIG), `${JSON.stringify({ ...config, token_dim: inputEmbeddings.dim }, null, 2)}\n`);
    },
    unload() {
      detachTokens();
      detachTap();
      root.removeModule(PROMPT_CHILD)?.dispose();
      return root;
    },
    notMergeable: 'acme-prompt adds learned tokens to every input; there is no weight to fold them into',
  };
}

function outFeatures(layer, path) {
  const weight = layer.hasParameter('weight') ? layer.getParameter('weight') : undefined;
  if (!weight) throw new Error(`shift: target "${path}" has no weight parameter`);
  return weight.shape[0];
}

/** Records the first pass through each hook, in order, for the e2e test to read. */
function traceTo(run, log) {
  const trace = [];
  run.context.state.set(NAME, trace);
  const mark = (name) => {
    if (trace.includes(name)) return;
    trace.push(name);
    log.info(`[acme-shift] hook ${name}`);
  };
  const h = run.hooks;
  h.modelLoaded.tapPromise(NAME, async () => mark('modelLoaded'));
  h.selectTrainable.tap(NAME, (set) => (mark('selectTrainable'), set));
  h.loadDataset.tapPromise({ name: NAME, stage: -100 }, async () => (mark('loadDataset'), undefined));
  h.beforeTrain.tapPromise(NAME, async () => mark('beforeTrain'));
  h.beforeStep.tap(NAME, () => mark('beforeStep'));
  h.afterStep.tap(NAME, () => mark('afterStep'));
  h.afterEpoch.tapPromise(NAME, async () => mark('afterEpoch'));
  h.afterTrain.tapPromise(NAME, async () => mark('afterTrain'));
  h.evaluate.tapPromise(NAME, async (metrics) => (mark('evaluate'), metrics));
  h.save.tapPromise(NAME, async () => mark('save'));
  // loadModel is a bail hook: answering undefined passes the spec on to the real loader.
  h.loadModel.tapPromise({ name: NAME, stage: -100 }, async () => (mark('loadModel'), undefined));
}

module.exports = {
  meta: { name: NAME, version: '1.2.0', core: '^0.1.0', description: 'Learnable output shift, and a lowercasing stage' },
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: { trace: { type: 'boolean', default: false } },
  },
  apply(ctx) {
    ctx.methods.register({
      id: 'shift',
      prefix: 'shift_',
      family: 'adapter',
      description: 'Adds a learnable bias after each target layer',
      configSchema: {
        type: 'object',
        additionalProperties: false,
        properties: { target_modules: { type: 'array', items: { type: 'string' }, minItems: 1 } },
      },
      // No table of architectures: the model's own default targets (LoadedModel.defaultTargets) apply.
      inject(model, config, mctx) {
        const root = model.module;
        const targets = config.target_modules || mctx.defaultTargets;
        if (!targets) throw new Error(`shift: no target_modules given and no default for architecture "${mctx.arch}"`);
        const paths = [...root.namedModules()].map(([p]) => p).filter((p) => targets.some((t) => p === t || p.endsWith(`.${t}`)));
        if (!paths.length) throw new Error(`shift: target_modules ${JSON.stringify(targets)} match no module`);
        for (const path of paths) {
          const layer = root.getSubmodule(path);
          root.setSubmodule(path, new ShiftedLayer(layer, outFeatures(layer, path)));
        }
        if (mctx.state.has(NAME)) mctx.state.get(NAME).push(`inject:${paths.join(',')}`);
        return shiftHandle(root, { target_modules: paths });
      },
      load(model, dir) {
        const config = JSON.parse(fs.readFileSync(path.join(dir, 'shift_config.json'), 'utf8'));
        const { tensors } = loadSafetensors(path.join(dir, 'shift.safetensors'));
        try {
          const root = model.module;
          for (const p of config.target_modules) {
            const saved = tensors.get(`${p}.shift_bias`);
            if (!saved) throw new Error(`shift: ${dir}/shift.safetensors has no tensor "${p}.shift_bias"`);
            const layer = root.getSubmodule(p);
            const dim = outFeatures(layer, p);
            if (saved.shape[0] !== dim) throw new Error(`shift: "${p}.shift_bias" has ${saved.shape[0]} values, the layer has ${dim} outputs`);
          }
          for (const p of config.target_modules) {
            const layer = root.getSubmodule(p);
            const shifted = new ShiftedLayer(layer, outFeatures(layer, p));
            shifted.getParameter('shift_bias').variable.assign(tensors.get(`${p}.shift_bias`));
            root.setSubmodule(p, shifted);
          }
          return shiftHandle(root, config);
        } finally {
          tf.dispose([...tensors.values()]);
        }
      },
      recognizes: (dir) => fs.existsSync(path.join(dir, 'shift_config.json')),
    });
    ctx.methods.register({
      id: 'acme-prompt',
      family: 'prompt',
      description: 'Learned virtual tokens before every input, with a tap on the last layer (two model extension points)',
      // Checked before inject: a model without them fails validation, naming the method and the points.
      requires: ['inputEmbeddings', 'hiddenStates'],
      configSchema: {
        type: 'object',
        additionalProperties: false,
        properties: {
          num_virtual_tokens: { type: 'integer', minimum: 1, maximum: 128, default: 4 },
          init: { enum: ['vocabulary', 'random'], default: 'vocabulary' },
        },
      },
      inject(model, config, mctx) {
        const { dim, vocabulary } = model.points.inputEmbeddings;
        const n = config.num_virtual_tokens;
        let init;
        if (config.init === 'vocabulary' && vocabulary) {
          // Embeddings of n tokens drawn from the vocabulary with the run's seed (as PEFT's RANDOM init samples the vocab).
          let state = mctx.seed >>> 0 || 1;
          const ids = Array.from({ length: n }, () => ((state = (Math.imul(state, 1664525) + 1013904223) >>> 0) % vocabulary.size));
          init = vocabulary.embed(ids);
        } else {
          init = tf.randomNormal([n, dim], 0, 0.02, 'float32', mctx.seed);
        }
        try {
          return promptHandle(model, config, init);
        } finally {
          init.dispose();
        }
      },
      load(model, dir) {
        const config = JSON.parse(fs.readFileSync(path.join(dir, PROMPT_CONFIG), 'utf8'));
        const { tensors } = loadSafetensors(path.join(dir, PROMPT_FILE));
        try {
          const saved = tensors.get('prompt_embeddings');
          const dim = model.points.inputEmbeddings.dim;
          if (!saved || saved.shape.length !== 2 || saved.shape[0] !== config.num_virtual_tokens || saved.shape[1] !== dim) {
            throw new Error(`acme-prompt: ${path.join(dir, PROMPT_FILE)} needs "prompt_embeddings" of shape [${config.num_virtual_tokens}, ${dim}], got ${saved ? `[${saved.shape}]` : 'none'}`);
          }
          return promptHandle(model, config, saved);
        } finally {
          tf.dispose([...tensors.values()]);
        }
      },
      recognizes: (dir) => fs.existsSync(path.join(dir, PROMPT_CONFIG)),
    });
    // Reports what the tap measured, from the handle the run owns.
    ctx.hooks.run.tap(NAME, (run) => {
      run.hooks.afterEpoch.tapPromise(NAME, async (logs) => {
        const applied = run.methods.find((m) => m.id === 'acme-prompt');
        if (!applied?.handle.tap.calls) return;
        const { tap, lastLayer } = applied.handle;
        ctx.log.info(`[acme-prompt] epoch ${logs.epoch}: layer ${lastLayer} output [${tap.lastShape}], virtual-token mean |h| ${tap.virtualMeanAbs.toFixed(4)} (${tap.calls} passes)`);
      });
    });
    ctx.stages.register({
      name: 'lowercase',
      // Between CLEAN and LABEL: the numeric order lets a third party slot in anywhere.
      stage: STAGE.CLEAN + 10,
      optionsSchema: { type: 'object', additionalProperties: false, properties: { enabled: { type: 'boolean', default: true } } },
      run(dataset, options, rctx) {
        const trace = rctx.state.get(NAME);
        if (trace && !trace.includes('datasetStage')) trace.push('datasetStage');
        if (!options.enabled) return dataset;
        let changed = 0;
        const lower = (r) => {
          if (typeof r.text !== 'string' || r.text === r.text.toLowerCase()) return r;
          changed++;
          return { ...r, text: r.text.toLowerCase() };
        };
        const records = dataset.records.map(lower);
        const splits = dataset.splits && Object.fromEntries(Object.entries(dataset.splits).map(([k, v]) => [k, v.map(lower)]));
        const report = { stage: 'lowercase', plugin: NAME, in: records.length, out: records.length, changed, dropped: 0, dropReasons: {} };
        return { ...dataset, records, splits, reports: [...dataset.reports, report] };
      },
    });
    if (ctx.options.trace) ctx.hooks.run.tap(NAME, (run) => traceTo(run, ctx.log));
  },
};
