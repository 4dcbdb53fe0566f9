import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadSafetensors } from '@leantune/tensor';
import { cli, localConfig, jsonLines, onlyRun, tempDir, tinyLora } from './helpers';

// One tiny LoRA run (64 records, 12 steps), then every command that reads it.
const cwd = tempDir('lt-single-');
let dir = '';
let summary: { metrics: Record<string, number>; dir: string };

beforeAll(async () => {
  const r = await cli(cwd, ['train', '-c', localConfig(cwd), '--json']);
  expect(r.code).toBe(0);
  const events = jsonLines(r.out);
  summary = events.at(-1);
  dir = onlyRun(cwd);
}, 30_000);

describe('leantune train', () => {
  it('writes the run folder: config, history, checkpoints, PEFT adapter, reports, trained weights', () => {
    expect(readdirSync(dir).sort()).toEqual(['adapters', 'checkpoints', 'config.json', 'data-reports.json', 'environment.json', 'metrics.json', 'metrics.jsonl', 'run.json', 'splits.json', 'trainable.safetensors']);
    // 48 training records, batch 8: 6 steps per epoch, 2 epochs; a checkpoint every 2 steps.
    expect(readdirSync(join(dir, 'checkpoints')).sort()).toEqual(['latest', ...[2, 4, 6, 8, 10, 12].map((s) => `step-${String(s).padStart(8, '0')}`)]);
    const history = jsonLines(readFileSync(join(dir, 'metrics.jsonl'), 'utf8'));
    expect(history.filter((h) => h.type === 'step').map((h) => h.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    const epochs = history.filter((h) => h.type === 'epoch');
    expect(epochs.map((e) => e.epoch)).toEqual([0, 1]);
    const metrics = JSON.parse(readFileSync(join(dir, 'metrics.json'), 'utf8'));
    expect(metrics).toEqual({ ...summary.metrics });
    expect(metrics.accuracy).toBe(epochs[1].accuracy);
    expect(metrics.loss).toBe(epochs[1].loss);
    const record = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8'));
    expect(record).toMatchObject({ status: 'completed', labels: ['neg', 'pos'], methods: ['lora'], adapters: { lora: join('adapters', 'lora') }, step: 12 });
  });

  it('saves LoRA in PEFT format, holding the same values as the trained weights', () => {
    const peft = JSON.parse(readFileSync(join(dir, 'adapters', 'lora', 'adapter_config.json'), 'utf8'));
    expect(peft).toMatchObject({ peft_type: 'LORA', r: 4, lora_alpha: 8, modules_to_save: ['classifier'] });
    const adapter = loadSafetensors(join(dir, 'adapters', 'lora', 'adapter_model.safetensors')).tensors;
    const trained = loadSafetensors(join(dir, 'trainable.safetensors')).tensors;
    const a = adapter.get('base_model.model.encoder.dense.lora_A.weight')!;
    expect(Array.from(a.dataSync())).toEqual(Array.from(trained.get('encoder.dense.lora_A.default.weight')!.dataSync()));
    expect([...adapter.keys()].sort()).toEqual(['base_model.model.classifier.bias', 'base_model.model.classifier.weight', 'base_model.model.encoder.dense.lora_A.weight', 'base_model.model.encoder.dense.lora_B.weight']);
  });
});

describe('leantune eval', () => {
  it('reproduces the final validation metrics, with a confusion matrix that agrees with them', async () => {
    const r = await cli(cwd, ['eval', dir, '--json']);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.out);
    expect(report).toMatchObject({ split: 'validation', count: 16, labels: ['neg', 'pos'] });
    for (const k of ['loss', 'accuracy', 'macro_f1']) expect(report.metrics[k]).toBeCloseTo(summary.metrics[k], 6);
    const m: number[][] = report.confusion;
    expect(m.flat().reduce((a, b) => a + b, 0)).toBe(16);
    expect((m[0][0] + m[1][1]) / 16).toBeCloseTo(report.metrics.accuracy, 10);
  });

  it('evaluates a base model plus the PEFT adapter folder the same way, and prints a table', async () => {
    const r = await cli(cwd, ['eval', '-c', tinyLora, '--adapter', join(dir, 'adapters', 'lora')]);
    expect(r.code).toBe(0);
    expect(r.out).toContain(`loss       ${summary.metrics.loss.toFixed(4)}`);
    expect(r.out).toMatch(/confusion \(rows: true, columns: predicted\)\n\s+neg\s+pos\n\s+neg\s+\d+\s+\d+\n\s+pos\s+\d+\s+\d+/);
  });
});

describe('leantune predict', () => {
  const texts = ['good film', 'awful day', 'nice day'];
  let fromRun: Array<{ input: string; label: string; probabilities: Record<string, number> }>;

  beforeAll(async () => {
    const r = await cli(cwd, ['predict', dir, ...texts.flatMap((t) => ['-t', t])]);
    expect(r.code).toBe(0);
    fromRun = jsonLines(r.out);
  });

  it('gives a label and probabilities per input, the label being the most probable', () => {
    expect(fromRun.map((p) => p.input)).toEqual(texts);
    for (const p of fromRun) {
      expect(p.probabilities.neg + p.probabilities.pos).toBeCloseTo(1, 5);
      expect(p.label).toBe(p.probabilities.pos > p.probabilities.neg ? 'pos' : 'neg');
    }
  });

  it('reads a file and stdin, and gives the same outputs from the adapter folder and from the merged model', async () => {
    const file = join(cwd, 'inputs.txt');
    writeFileSync(file, `${texts.join('\n')}\n`);
    const viaAdapter = await cli(cwd, ['predict', '-c', tinyLora, '--adapter', `lora:${join(dir, 'adapters', 'lora')}`, '-f', file]);
    expect(viaAdapter.code).toBe(0);
    const merged = await cli(cwd, ['merge', dir, '-o', 'merged']);
    expect(merged.code).toBe(0);
    expect(JSON.parse(merged.out)).toMatchObject({ format: 'leantune', merged: ['lora'], files: ['leantune-merged.json', 'model.safetensors'] });
    const viaMerged = await cli(cwd, ['predict', '--model', 'merged'], new TextEncoder().encode(texts.join('\n')));
    expect(viaMerged.code).toBe(0);
    for (const other of [jsonLines(viaAdapter.out), jsonLines(viaMerged.out)]) {
      other.forEach((p, i) => {
        expect(p.label).toBe(fromRun[i].label);
        expect(p.probabilities.pos).toBeCloseTo(fromRun[i].probabilities.pos, 5);
      });
    }
    // The merged model has no LoRA left: its weights are the base layer's names only.
    const keys = [...loadSafetensors(join(cwd, 'merged', 'model.safetensors')).tensors.keys()].sort();
    expect(keys).toEqual(['classifier.bias', 'classifier.weight', 'embed.weight', 'encoder.dense.bias', 'encoder.dense.weight']);
    expect(existsSync(join(cwd, '.merged.tmp-' + process.pid))).toBe(false);
  });
});
