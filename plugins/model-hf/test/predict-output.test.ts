/** `leantune predict --output <name>`: transformers-named outputs per input, as JSON lines. */
import { main } from '@leantune/cli';
import { tf } from '@leantune/tensor';
import { loadHfCheckpoint, writeTinyHfCheckpoint } from '../src';
import { record, recordingLogger, tempDir } from './helpers';

async function cli(cwd: string, args: string[]) {
  let out = '';
  let err = '';
  const code = await main(['node', 'leantune', ...args], { out: (s) => void (out += s), err: (s) => void (err += s), cwd, readStdin: async () => new Uint8Array() });
  return { code, out, err };
}

test('predict --output pooler_output / last_hidden_state / hidden_states on a base RobertaModel folder gives the API\'s values per input', async () => {
  const dir = tempDir('cli-roberta');
  writeTinyHfCheckpoint('roberta', dir, { base: true, layers: 2, seed: 6 });
  const r = await cli(dir, ['predict', '--model', dir, '-t', 'hello world', '-t', 'Good films!', '--output', 'pooler_output', '--output', 'last_hidden_state', '--output', 'hidden_states']);
  expect(r.err).toBe('');
  expect(r.code).toBe(0);
  const lines = r.out.trim().split('\n').map((l) => JSON.parse(l));
  expect(lines.map((l) => Object.keys(l))).toEqual(Array(2).fill(['input', 'pooler_output', 'last_hidden_state', 'hidden_states']));
  const m = await loadHfCheckpoint(dir, { log: recordingLogger() });
  for (const [i, text] of ['hello world', 'Good films!'].entries()) {
    const out = m.outputs(m.encode!([record('a', { text })]));
    expect(lines[i].input).toBe(text);
    expect(lines[i].pooler_output).toEqual((out.pooler_output as tf.Tensor).arraySync()[0]);
    expect(lines[i].last_hidden_state).toEqual((out.last_hidden_state as tf.Tensor).arraySync()[0]);
    expect(lines[i].hidden_states).toHaveLength(3);
    expect(lines[i].hidden_states[2]).toEqual(lines[i].last_hidden_state);
  }
});

test('predict --output with a name the model lacks lists the ones it has', async () => {
  const dir = tempDir('cli-gpt2');
  writeTinyHfCheckpoint('gpt2', dir, {});
  const r = await cli(dir, ['predict', '--model', dir, '-t', 'hi', '--output', 'pooler_output']);
  expect(r.code).not.toBe(0);
  expect(r.err).toMatch(/has no output "pooler_output"; --output takes logits, last_hidden_state, hidden_states/);
  const ok = await cli(dir, ['predict', '--model', JSON.stringify({ name: 'hf', path: dir, task: 'feature-extraction' }), '-t', 'hi', '--output', 'last_hidden_state']);
  expect(ok.err).toBe('');
  expect(JSON.parse(ok.out).last_hidden_state[0]).toHaveLength(8);
});
