import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// The chat fine-tuning example as a user runs it: examples/write-smollm2-chat.cjs writes the
// SmolLM2-Instruct-shaped checkpoint and the chat dataset, `leantune train -c
// examples/smollm2-chat-lora.json` tunes LoRA on the assistant turns (packed rows), and
// `leantune generate --chat` answers a user message through the chat template.
const repo = join(__dirname, '..', '..', '..');
const cliBin = join(repo, 'packages', 'cli', 'bin', 'leantune.js');
const cwd = mkdtempSync(join(tmpdir(), 'lt-chat-sft-'));
const leantune = (...args: string[]) => spawnSync(process.execPath, [cliBin, ...args], { cwd, encoding: 'utf8' });

beforeAll(() => {
  if (!existsSync(join(repo, 'packages', 'cli', 'dist', 'main.js'))) execFileSync('npx', ['tsc', '-b'], { cwd: repo });
  execFileSync(process.execPath, [join(repo, 'examples', 'write-smollm2-chat.cjs'), cwd], { cwd: repo });
});

it('trains the chat example with LoRA on packed conversations, then answers with --chat', () => {
  const override = {
    model: { name: 'hf', path: join(cwd, 'smollm2-chat-tiny'), maxLength: 1024 },
    data: { name: 'jsonl', path: join(cwd, 'spam-chat.jsonl'), limit: 40, stages: { split: { validation: 0.1 }, 'chat-pack': {} } },
    train: { epochs: 1, batchSize: 2, learningRate: 0.002 },
    output: { dir: join(cwd, 'runs') },
  };
  const train = leantune('train', '-c', join(repo, 'examples', 'smollm2-chat-lora.json'), '--override', JSON.stringify(override));
  expect(train.stderr).toMatch(/chat-pack \(train\): 36 conversations into (\d+) rows of at most 1024 tokens/);
  expect(train.status).toBe(0);
  // Packing put several conversations in a row.
  expect(Number(/chat-pack \(train\): 36 conversations into (\d+) rows/.exec(train.stderr)![1])).toBeLessThan(36);
  const summary = JSON.parse(train.stdout.trim().split('\n').at(-1)!);
  expect(summary.metrics.steps).toBeGreaterThan(0);
  const run = summary.dir as string;
  // LoRA on the Llama family's default targets, saved as a PEFT adapter.
  const adapterConfig = JSON.parse(readFileSync(join(run, 'adapters', 'lora', 'adapter_config.json'), 'utf8'));
  expect([...adapterConfig.target_modules].sort()).toEqual(['down_proj', 'gate_proj', 'k_proj', 'o_proj', 'q_proj', 'up_proj', 'v_proj']);
  expect(adapterConfig.task_type).toBe('CAUSAL_LM');
  const history = readFileSync(join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  expect(history.some((h) => Number.isFinite(h.loss))).toBe(true);
  const answer = leantune('generate', run, '--chat', '-p', 'Is this email spam or ham? Answer with one word.\n\nWin a free prize now', '--max-tokens', '4');
  expect(answer.stderr).toBe('');
  expect(answer.status).toBe(0);
  // The prompt is not echoed in chat mode; what comes back is the assistant's text (up to 4 tokens, or less at <|im_end|>).
  expect(answer.stdout).not.toContain('Win a free prize');
  expect(readdirSync(join(cwd, 'runs'))).toHaveLength(1);
}, 240_000);
