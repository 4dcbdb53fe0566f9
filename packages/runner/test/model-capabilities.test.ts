/**
 * generate and merge go through the model's capabilities (model.points), whatever loader
 * produced it: no loader id or tokenizer shape is assumed.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RunError, type LoadedModel, type ModelPoints } from '@leantune/core';
import { Linear } from '@leantune/tensor';
import { generateText, mergeTrained, type TrainedModel } from '../src';

/** A word-level "language model": token i is the word WORDS[i]; each step's logits favour (last + 1) mod n. */
const WORDS = ['zero', 'one', 'two', 'three', 'four'];
const points = (): ModelPoints => ({
  tokenizer: { encode: (t) => t.split(' ').map((w) => WORDS.indexOf(w)), decode: (ids) => ids.map((i) => ` ${WORDS[i]}`).join(''), files: [] },
  generate: (prompt, options) => {
    const out: number[] = [];
    let last = prompt[prompt.length - 1];
    for (let step = 0; step < options.maxTokens; step++) {
      const logits = new Float32Array(WORDS.length);
      logits[(last + 1) % WORDS.length] = 5;
      const next = options.pick(logits, step);
      if (options.stopTokens?.includes(next)) break;
      out.push(next);
      options.onToken?.(next);
      last = next;
    }
    return out;
  },
});

function trained(model: LoadedModel): TrainedModel {
  return { model, run: { methods: [], context: { configDir: '/' } }, config: { model: { name: model.name }, plugins: [] }, origin: 'test', toolkit: {} } as unknown as TrainedModel;
}

const layer = () => new Linear(2, 2);

test('generate streams the continuation through points.generate and points.tokenizer, from any loader', () => {
  const model: LoadedModel = { name: 'words', arch: 'words', loader: 'someone-else', module: layer(), points: points() };
  const pieces: string[] = [];
  const result = generateText(trained(model), 'two', { maxTokens: 4, onText: (t) => void pieces.push(t) });
  expect(result.tokens).toEqual([3, 4, 0, 1]);
  expect(result.text).toBe(' three four zero one');
  expect(pieces.join('')).toBe(result.text);
  expect(generateText(trained(model), 'two', { maxTokens: 4, stopToken: 0 }).tokens).toEqual([3, 4]);
});

test('--chat: the prompt is the chat template\'s rendering of the user (and system) message, and any end-of-turn id stops the reply', () => {
  const rendered: unknown[] = [];
  const chat = {
    render: () => '',
    encode: () => ({ ids: [], assistant: [] }),
    encodePrompt: (messages: ReadonlyArray<{ role: string; content: string }>) => (rendered.push(messages), [1]),
    maxTokens: 8,
    stopIds: [4],
    file: 'tokenizer_config.json',
  };
  const model: LoadedModel = { name: 'words', arch: 'words', module: layer(), points: { ...points(), chat } };
  // From "one" the model goes two, three, four: four ends the turn and is not added.
  expect(generateText(trained(model), 'hello', { maxTokens: 4, chat: true, system: 'be brief' }).tokens).toEqual([2, 3]);
  expect(rendered).toEqual([[{ role: 'system', content: 'be brief' }, { role: 'user', content: 'hello' }]]);
  // With a stop token of its own as well, the earlier one wins.
  expect(generateText(trained(model), 'hello', { maxTokens: 4, chat: true, stopToken: 3 }).tokens).toEqual([2]);
  expect(() => generateText(trained({ ...model, points: points() }), 'hello', { chat: true })).toThrow(/has no chat template/);
  expect(() => generateText(trained(model), 'two', { system: 'x' })).toThrow(/--system needs --chat/);
});

test('a model without the generate capability is refused, naming it (even from the hf loader)', () => {
  const { generate: _g, ...rest } = points();
  const model: LoadedModel = { name: 'enc', arch: 'bert', loader: 'hf', module: layer(), points: rest };
  expect(() => generateText(trained(model), 'two')).toThrow(RunError);
  expect(() => generateText(trained(model), 'two')).toThrow(/Model "enc" \(arch bert\) offers no generate capability \(model\.points\)/);
});

test('merge writes through points.exportMerged (format "native"), else leantune\'s format; the loader id plays no part', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lt-merge-cap-'));
  const calls: Array<{ labels?: readonly string[]; same: boolean }> = [];
  const m = layer();
  const exporting: LoadedModel = {
    name: 'x', arch: 'x', loader: 'someone-else', module: m, labels: ['a', 'b'],
    points: { exportMerged: (dir, o) => (calls.push({ labels: o.labels, same: o.module === m }), fs.writeFileSync(path.join(dir, 'own.bin'), 'x'), ['own.bin']) },
  };
  const a = mergeTrained(trained(exporting), path.join(root, 'a'));
  expect(a).toMatchObject({ format: 'native', files: ['leantune-merged.json', 'own.bin'] });
  expect(calls).toEqual([{ labels: ['a', 'b'], same: true }]);
  expect(JSON.parse(fs.readFileSync(path.join(root, 'a', 'leantune-merged.json'), 'utf8')).native).toBe(true);
  // A model from the hf loader with a folder but no exportMerged: leantune's own format.
  const plain: LoadedModel = { name: 'y', arch: 'gpt2', loader: 'hf', module: layer(), meta: { dir: root } };
  const b = mergeTrained(trained(plain), path.join(root, 'b'));
  expect(b).toMatchObject({ format: 'leantune', files: ['leantune-merged.json', 'model.safetensors'] });
});
