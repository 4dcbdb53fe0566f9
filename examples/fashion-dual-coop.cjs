// Step 2 of the CLIP-style recipe (plugins/model-dual-encoder/README.md): on the five Fashion-MNIST
// classes the dual encoder was NOT aligned on (examples/fashion-dual-align.json saw the other five),
// the hand-written prompt zero-shot ("a photo of a {}.", hard-prompt) against CoOp (context from
// "a photo of a", and 16 random context vectors as in the CoOp paper) and a linear probe of the
// image projection, at SHOTS training images per class (1, 2, 4, 8 or 16; default 16):
//
//   SHOTS=4 npx leantune compare -c examples/fashion-dual-coop.cjs --seeds 3
//
// Each run seed draws its own SHOTS images per class and its own 100 validation images per class
// (data.seed and split.seed default to runtime.seed: CoOp's protocol, where the seeds change the
// few-shot sample); every method sees the same draw at the same seed. Validation runs once, at the
// end (train.evalStrategy "end"). With real CLIP weights, change only "model":
//   { "name": "hf", "path": "./clip-vit-base-patch32" }   (plugins: "hf" instead of "dual-encoder")
const shots = Number(process.env.SHOTS ?? 16);
if (![1, 2, 4, 8, 16].includes(shots)) throw new Error(`SHOTS must be 1, 2, 4, 8 or 16, got ${process.env.SHOTS}`);
const UNSEEN = ['Dress', 'Coat', 'Sandal', 'Shirt', 'Ankle boot'];
const VALIDATION_PER_CLASS = 100;
// About 60–100 optimizer steps whatever the shot count.
const schedule = { 1: { epochs: 60, batchSize: 5 }, 2: { epochs: 60, batchSize: 10 }, 4: { epochs: 60, batchSize: 20 }, 8: { epochs: 40, batchSize: 20 }, 16: { epochs: 25, batchSize: 20 } }[shots];

module.exports = {
  name: `fashion-dual-coop-${shots}shot`,
  description: `CoOp vs the hand-written prompt vs a linear probe on the 5 Fashion-MNIST classes the dual encoder was not aligned on, ${shots} shot(s) per class`,
  plugins: ['dual-encoder', 'datasets', 'coop', 'hard-prompt', 'baselines'],
  model: { name: 'dual-encoder', inputSize: 64, projectionDim: 256, weights: '../.cache/fashion-dual-aligned' },
  data: {
    name: 'fashion-mnist',
    limit: shots + VALIDATION_PER_CLASS,
    stages: { classes: { keep: UNSEEN }, split: { validation: VALIDATION_PER_CLASS / (shots + VALIDATION_PER_CLASS) } },
  },
  train: { ...schedule, learningRate: 0.002, evalStrategy: 'end' },
  runtime: { seed: 42 },
  compare: {
    methods: [
      { id: 'hard-prompt', label: 'zero-shot', config: { templates: ['a photo of a {}.'] } },
      { id: 'coop', label: 'coop-init', config: { ctx_init: 'a photo of a' } },
      { id: 'coop', label: 'coop-16', config: { n_ctx: 16 } },
      { id: 'linear-probe', label: 'linear-probe', config: { head: 'visual_projection' } },
    ],
  },
};
