import { initBackend, quantizeModule, setSeed, tf, type QuantizeSpec } from '@leantune/tensor';
import { presetBatch, presetJob, presetLoadedModel } from './presets';

/**
 * Output error of each model.quantize format on the GPT-2-small preset (random init, seed 0:
 * no GPT-2 weights can be installed here): the logits of one hashed batch against the fp32
 * model's, as max |Δ| and cosine. Each format gets a fresh model from the same seed, its frozen
 * Linear/Conv1D weights quantized as a run would store them.
 *
 *   npm run bench:quant-error [-- --batch 2 --seq 64]
 */
const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};

async function main(): Promise<void> {
  const info = await initBackend({ backend: 'auto' });
  const job = presetJob('gpt2-small', { seq: arg('seq', 64) });
  const batch = presetBatch(job, arg('batch', 2), 0);
  const ids = (batch.inputs as Record<string, tf.Tensor>).input_ids;
  const logitsWith = (spec?: QuantizeSpec): tf.Tensor => {
    setSeed(0);
    const model = presetLoadedModel(job);
    model.module.train(false);
    for (const [, p] of model.module.namedParameters()) p.requiresGrad = false;
    if (spec) quantizeModule(model.module, spec);
    const out = tf.keep((model.module.forward as (i: tf.Tensor) => tf.Tensor)(ids));
    model.module.dispose();
    return out;
  };
  const reference = logitsWith();
  const rows = ['| format | max abs Δ logits | cosine of logits |', '| --- | --- | --- |'];
  const specs: Array<[string, QuantizeSpec]> = [['fp16', { type: 'fp16' }], ['bf16', { type: 'bf16' }], ['int8', { type: 'int8' }], ['nf4', { type: 'nf4' }], ['nf4 + double quant', { type: 'nf4', doubleQuant: true }]];
  for (const [name, spec] of specs) {
    const got = logitsWith(spec);
    const [maxAbs, cosine] = tf.tidy(() => {
      const a = tf.reshape(got, [-1]);
      const b = tf.reshape(reference, [-1]);
      const cos = tf.div(tf.sum(tf.mul(a, b)), tf.mul(tf.norm(a), tf.norm(b)));
      return [tf.max(tf.abs(tf.sub(a, b))).dataSync()[0], cos.dataSync()[0]];
    });
    got.dispose();
    rows.push(`| ${name} | ${maxAbs.toExponential(2)} | ${cosine.toFixed(7)} |`);
  }
  const range = tf.tidy(() => [tf.min(reference).dataSync()[0], tf.max(reference).dataSync()[0]]);
  process.stdout.write(
    `GPT-2 small (random init, seed 0), logits of ${ids.shape[0]}×${ids.shape[1]} hashed tokens (fp32 range ${range[0].toFixed(3)} … ${range[1].toFixed(3)}); backend ${info.name}\n\n${rows.join('\n')}\n`,
  );
}

main().catch((err) => {
  process.stderr.write(`bench:quant-error failed: ${err instanceof Error ? err.stack : err}\n`);
  process.exitCode = 1;
});
