import fs, { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeTinyHfCheckpoint } from '@leantune/plugin-hf';
import { cli, localConfig, fixtures, onlyRun, tempDir, tinyLora } from './helpers';

const cwd = tempDir('lt-bad-');
const override = (value: object) => ['--override', JSON.stringify(value)];
let run = '';

beforeAll(async () => {
  const r = await cli(cwd, ['train', '-c', tinyLora, '--quiet', ...override({ output: { dir: 'good' } })]);
  expect(r.code).toBe(0);
  run = onlyRun(cwd, 'good');
}, 30_000);

/** Every file under `dir`, with its bytes, to show that a failure changed nothing. */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) out.set(join(entry.parentPath, entry.name), readFileSync(join(entry.parentPath, entry.name), 'base64'));
  }
  return out;
}

describe('bad input fails clearly and damages nothing', () => {
  it('gradient checkpointing on a model without a block stack: exit 2 naming the field, and no run folder', async () => {
    const cwd = tempDir('lt-ckpt-');
    const r = await cli(cwd, ['train', '-c', localConfig(cwd), '--quiet', '--override', JSON.stringify({ train: { epochs: 1, gradientCheckpointing: true } })]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/\/train\/gradientCheckpointing: model "tiny-text" has no block stack to checkpoint/);
    expect(existsSync(join(cwd, 'runs'))).toBe(false);
  });

  it('a config whose dataset file is missing: exit 1 naming the file, and no run folder', async () => {
    const config = join(cwd, 'missing-data.json');
    writeFileSync(config, JSON.stringify({ plugins: [{ name: join(fixtures, 'tiny-model.js'), allowOutside: true }, 'datasets'], model: 'tiny-text', trainable: ['classifier\\..*'], data: { name: 'jsonl', path: 'nowhere.jsonl' }, output: { dir: 'missing' } }));
    const r = await cli(cwd, ['train', '-c', config]);
    expect(r.code).not.toBe(0);
    expect(r.err).toContain('nowhere.jsonl');
    expect(existsSync(join(cwd, 'missing'))).toBe(false);
  });

  it('an adapter folder trained for another base model: exit 1, saying so', async () => {
    const gpt2 = join(cwd, 'gpt2');
    writeTinyHfCheckpoint('gpt2', gpt2);
    const before = snapshot(run);
    const r = await cli(cwd, ['predict', '--model', gpt2, '-c', join(fixtures, 'tiny-gpt2.json'), '--adapter', join(run, 'adapters', 'lora'), '-t', 'x']);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`Adapter ${join(run, 'adapters', 'lora')} (method lora) does not fit model "gpt2" (arch gpt2)`);
    expect(r.err).toContain('Was it trained on another base model?');
    expect(snapshot(run)).toEqual(before);
  });

  it('a resume with a different config: exit 2 listing the differences; a completed run cannot resume', async () => {
    const interrupted = join(cwd, 'interrupted');
    fs.cpSync(run, interrupted, { recursive: true });
    const record = JSON.parse(readFileSync(join(interrupted, 'run.json'), 'utf8'));
    writeFileSync(join(interrupted, 'run.json'), JSON.stringify({ ...record, status: 'interrupted' }));
    const before = snapshot(interrupted);
    const r = await cli(cwd, ['train', '-c', tinyLora, '--resume', interrupted, ...override({ output: { dir: 'good' }, train: { epochs: 5, batchSize: 8, learningRate: 0.05, checkpointEvery: 2 } })]);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`Cannot resume ${interrupted}: the config differs from the one it was started with (train.epochs: 2 → 5)`);
    expect(snapshot(interrupted)).toEqual(before);
    const done = await cli(cwd, ['train', '--resume', run]);
    expect(done.code).toBe(2);
    expect(done.err).toContain('already completed');
  });

  it('an output folder that cannot be created: exit 1 naming it', async () => {
    writeFileSync(join(cwd, 'a-file'), 'not a folder');
    const r = await cli(cwd, ['train', '-c', tinyLora, '--quiet', ...override({ output: { dir: 'a-file/runs' } })]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`Cannot write the run folder ${join(cwd, 'a-file', 'runs')}`);
    expect(readFileSync(join(cwd, 'a-file'), 'utf8')).toBe('not a folder');
  });

  it('a full disk while saving: exit 1 with the error, no temp file left, earlier files intact', async () => {
    const real = fs.writeFileSync;
    const spy = jest.spyOn(fs, 'writeFileSync').mockImplementation((file, data, options) => {
      if (String(file).includes('metrics.json.')) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      return real(file, data, options);
    });
    try {
      const r = await cli(cwd, ['train', '-c', tinyLora, '--quiet', ...override({ output: { dir: 'full' } })]);
      expect(r.code).toBe(1);
      expect(r.err).toContain('ENOSPC: no space left on device');
    } finally {
      spy.mockRestore();
    }
    const dir = onlyRun(cwd, 'full');
    const files = fs.readdirSync(dir, { recursive: true }).map(String);
    expect(files.filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect(files).not.toContain('metrics.json');
    expect(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')).name).toBe('tiny-lora');
    // A failed run never looks alive: run.json says so, with the error.
    const record = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8'));
    expect(record.status).toBe('failed');
    expect(record.error).toContain('ENOSPC: no space left on device');
  });

  it('text input that is not UTF-8: exit 2 naming the file and the byte', async () => {
    writeFileSync(join(cwd, 'latin1.txt'), Buffer.from([0x67, 0x6f, 0x6f, 0x64, 0x20, 0xe9, 0x74, 0xe9, 0x0a]));
    const r = await cli(cwd, ['predict', run, '-f', 'latin1.txt']);
    expect(r.code).toBe(2);
    expect(r.err).toBe('leantune: latin1.txt is not valid UTF-8 text (bad byte near offset 5); convert it first, e.g. iconv -f latin1 -t utf-8.\n');
    const stdin = await cli(cwd, ['predict', run], new Uint8Array([0xff, 0xfe, 0x00]));
    expect(stdin.err).toContain('standard input is not valid UTF-8 text (bad byte near offset 0)');
  });

  it('merging a method that cannot be merged: exit 2 saying why, nothing written', async () => {
    const r0 = await cli(cwd, ['train', '-c', tinyLora, '--quiet', ...override({ methods: { adapter: { reduction_factor: 4 } }, trainable: ['classifier\\..*'], output: { dir: 'bottleneck' } })]);
    expect(r0.code).toBe(0);
    const r = await cli(cwd, ['merge', onlyRun(cwd, 'bottleneck'), '-o', 'never']);
    expect(r.code).toBe(2);
    expect(r.err).toContain('Cannot merge method "adapter"');
    expect(r.err).toContain('Bottleneck adapters cannot be merged into the base weights: the adapter applies a non-linearity');
    expect(existsSync(join(cwd, 'never'))).toBe(false);
    expect(readdirSync(cwd).filter((f) => f.startsWith('.never'))).toEqual([]);
  });

  it('pull without network: exit 1 with the manual steps, no empty folder left', async () => {
    const r = await cli(cwd, ['pull', 'gpt2', '-o', 'pulled'], undefined);
    expect(r.code).toBe(1);
    expect(r.err).toContain('Download the files by hand from https://huggingface.co/gpt2/tree/main');
    expect(existsSync(join(cwd, 'pulled'))).toBe(false);
  });
});
