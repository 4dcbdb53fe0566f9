import fs from 'node:fs';
import path from 'node:path';
import { STAGE, type Dataset, type RunContext } from '@leantune/core';
import { tf } from '@leantune/tensor';
import { causalLmLoss } from '../src/arch/gpt2';
import { ChatTemplate, chatPackStage, chatRows, encodeChat, readChatTemplate, type ChatMessage } from '../src/chat';
import { SMOLLM2_CHAT_TEMPLATE } from '../src/fixtures';
import { loadHfCheckpoint, writeTinyHfCheckpoint } from '../src';
import { record, recordingLogger, tempDir } from './helpers';

const CONVERSATION: ChatMessage[] = [
  { role: 'user', content: 'hello' },
  { role: 'assistant', content: 'hi there' },
  { role: 'user', content: 'and then?' },
  { role: 'assistant', content: 'the end' },
];

async function chatModel(arch: 'gpt2' | 'llama' = 'llama') {
  const dir = tempDir(`chat-${arch}`);
  writeTinyHfCheckpoint(arch, dir, { chat: true, seed: 3, ...(arch === 'llama' ? { decoder: { positions: 512 } } : { gpt2Sizes: { embd: 8, heads: 2, positions: 512 } }) });
  return { dir, model: await loadHfCheckpoint(dir, { log: recordingLogger() }) };
}

describe('chat templates (tokenizer_config.json chat_template through @huggingface/jinja)', () => {
  it('renders SmolLM2-Instruct\'s ChatML template as transformers does', () => {
    const t = new ChatTemplate({ template: SMOLLM2_CHAT_TEMPLATE, file: 'x', specials: {} });
    expect(t.render(CONVERSATION.slice(0, 1), true)).toBe(
      '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n',
    );
    expect(t.render([{ role: 'system', content: 'Be brief.' }, ...CONVERSATION.slice(0, 2)], false)).toBe(
      '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\nhi there<|im_end|>\n',
    );
  });

  it('reads chat_template.jinja before tokenizer_config.json, and the "default" of a template list', () => {
    const dir = tempDir('chat-files');
    fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify({ eos_token: { content: '</s>' }, chat_template: [{ name: 'tool_use', template: 'T' }, { name: 'default', template: 'D' }] }));
    expect(readChatTemplate(dir)).toMatchObject({ template: 'D', specials: { eos_token: '</s>' } });
    fs.writeFileSync(path.join(dir, 'chat_template.jinja'), 'J');
    expect(readChatTemplate(dir)).toMatchObject({ template: 'J', file: path.join(dir, 'chat_template.jinja') });
    fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify({ chat_template: 7 }));
    fs.rmSync(path.join(dir, 'chat_template.jinja'));
    expect(() => readChatTemplate(dir)).toThrow(/tokenizer_config\.json: chat_template must be a string/);
  });

  it('marks exactly the assistant turns (their text and the end-of-turn the template writes) as targets', async () => {
    const { model } = await chatModel();
    const chat = model.points!.chat!;
    const tok = model.points!.tokenizer!;
    const { ids, assistant } = chat.encode(CONVERSATION, 'record r1');
    expect(ids).toHaveLength(assistant.length);
    // The pieces are the whole rendering, in order…
    expect(tok.decode(ids)).toBe(chat.render(CONVERSATION, false));
    // …and the masked ones are the two replies with their <|im_end|>\n, nothing of the user's or the headers.
    const picked = (want: number) => {
      const runs: string[] = [];
      let run: number[] = [];
      ids.forEach((id, k) => {
        if (assistant[k] === want) run.push(id);
        else if (run.length) (runs.push(tok.decode(run)), (run = []));
      });
      if (run.length) runs.push(tok.decode(run));
      return runs;
    };
    expect(picked(1)).toEqual(['hi there<|im_end|>\n', 'the end<|im_end|>\n']);
    expect(picked(0).join('')).not.toMatch(/hi there|the end/);
    expect(picked(0)[1]).toBe('<|im_start|>user\nand then?<|im_end|>\n<|im_start|>assistant\n');
  });

  it('refuses a template whose renderings do not grow turn by turn, and a conversation with no reply', async () => {
    const reversed = new ChatTemplate({ template: '{% for m in messages | reverse %}{{ m.content }};{% endfor %}', file: 'rev.jinja', specials: {} });
    expect(() => encodeChat(reversed, (t) => [...t].map((c) => c.charCodeAt(0)), CONVERSATION, 'record r2')).toThrow(/record r2: the chat template \(rev\.jinja\) does not render the conversation up to message 1 as a prefix/);
    const { model } = await chatModel();
    expect(() => model.points!.chat!.encode([{ role: 'user', content: 'x' }], 'record r3')).toThrow(/record r3: no message has role "assistant"/);
    expect(() => model.points!.chat!.encode([{ role: 'user' }] as never, 'record r4')).toThrow(/record r4: messages\[0\] must be/);
  });

  it('the loss counts only positions whose next token is an assistant token', () => {
    const [b, s, v] = [2, 5, 7];
    const logits = tf.randomNormal([b, s, v], 0, 1, 'float32', 5);
    const ids = [[1, 2, 3, 4, 5], [6, 5, 4, 3, 0]];
    const attention = [[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]];
    const mask = [[0, 0, 1, 1, 0], [0, 1, 0, 1, 1]];
    const got = causalLmLoss(logits, tf.tensor2d(ids, [b, s], 'int32'), tf.tensor2d(attention, [b, s], 'int32'), tf.tensor2d(mask, [b, s], 'int32')).dataSync()[0];
    // By hand: position t predicts ids[t+1] where mask[t+1] and attention[t+1] are 1.
    const lp = tf.logSoftmax(logits).arraySync() as number[][][];
    let sum = 0;
    let n = 0;
    for (let r = 0; r < b; r++) for (let t = 0; t + 1 < s; t++) if (mask[r][t + 1] && attention[r][t + 1]) (sum -= lp[r][t][ids[r][t + 1]]), n++;
    expect(n).toBe(4);
    expect(got).toBeCloseTo(sum / n, 5);
  });

  it('encode gives input_ids, attention_mask and loss_mask for chat records; a batch mixing chat and text is refused', async () => {
    const { model } = await chatModel('gpt2');
    const batch = model.encode!([record('a', { messages: CONVERSATION }), record('b', { messages: CONVERSATION.slice(0, 2) })]);
    const inputs = batch.inputs as Record<string, tf.Tensor>;
    expect(Object.keys(inputs).sort()).toEqual(['attention_mask', 'input_ids', 'loss_mask']);
    const mask = inputs.loss_mask.arraySync() as number[][];
    const attention = inputs.attention_mask.arraySync() as number[][];
    // The shorter conversation is padded; padding is never a target.
    mask[1].forEach((m, k) => expect(m <= attention[1][k]).toBe(true));
    expect(mask[0].reduce((a, c) => a + c, 0)).toBe(model.points!.chat!.encode(CONVERSATION, 'a').assistant.reduce((a, c) => a + c, 0));
    const loss = model.loss!(batch, false).dataSync()[0];
    expect(Number.isFinite(loss)).toBe(true);
    expect(() => model.encode!([record('a', { messages: CONVERSATION }), record('c', { text: 'plain' })])).toThrow(/record c has no "messages" while others of its batch do/);
  });

  it('a folder without a chat template says which files to add', async () => {
    const dir = tempDir('no-chat');
    writeTinyHfCheckpoint('llama', dir, { seed: 3 });
    const model = await loadHfCheckpoint(dir, { log: recordingLogger() });
    expect(model.points!.chat).toBeUndefined();
    expect(() => model.encode!([record('a', { messages: CONVERSATION })])).toThrow(/record a has "messages" but the model's folder has no chat template \(chat_template in tokenizer_config\.json, or chat_template\.jinja\)/);
  });

  it('chat-pack packs conversations best-fit decreasing into rows of the model length, never splitting one', async () => {
    const { model } = await chatModel();
    const convs = Array.from({ length: 9 }, (_, i) => record(`c${i}`, { messages: [{ role: 'user', content: 'q'.repeat(1 + i) }, { role: 'assistant', content: 'a '.repeat(1 + ((i * 5) % 7)) }] }));
    const lengths = new Map(convs.map((c) => [c.id, model.points!.chat!.encode(c.messages!, c.id).ids.length]));
    const cap = Math.round(2.5 * Math.max(...lengths.values()));
    const log = recordingLogger();
    const ctx = { model, log } as unknown as RunContext;
    const dataset: Dataset = { name: 'chat', records: convs, reports: [] };
    const out = await chatPackStage.run(dataset, { maxTokens: cap }, ctx);
    expect(chatPackStage.stage).toBe(STAGE.ENCODE);
    // Opt-in: the toolkit taps it only for configs that name it (packages/core/test: opt-in stages).
    expect(chatPackStage.optIn).toBe(true);
    // Every conversation is in exactly one row, whole, with its own mask.
    const members = out.records.flatMap((r) => r.meta.members as string[]);
    expect(members.sort()).toEqual(convs.map((c) => c.id).sort());
    for (const row of out.records) {
      const want = (row.meta.members as string[]).reduce((s, id) => s + lengths.get(id)!, 0);
      expect(row.tokens!.ids).toHaveLength(want);
      expect(want).toBeLessThanOrEqual(cap);
      const parts = (row.meta.members as string[]).flatMap((id) => model.points!.chat!.encode(convs.find((c) => c.id === id)!.messages!, id).assistant);
      expect(row.tokens!.lossMask).toEqual(parts);
    }
    const total = [...lengths.values()].reduce((a, b) => a + b, 0);
    expect(out.records.length).toBeGreaterThanOrEqual(Math.ceil(total / cap));
    expect(out.records.length).toBeLessThan(convs.length);
    // Best fit: a row was opened only when the conversation fitted no earlier one, so no two rows fit together.
    const sizes = out.records.map((r) => r.tokens!.ids.length);
    for (let i = 0; i < sizes.length; i++) for (let j = i + 1; j < sizes.length; j++) expect(sizes[i] + sizes[j]).toBeGreaterThan(cap);
    expect(out.reports.at(-1)).toMatchObject({ stage: 'chat-pack', in: 9, out: out.records.length });
    // The packed rows encode as they are.
    const batch = model.encode!(out.records.slice(0, 2));
    expect(((batch.inputs as Record<string, tf.Tensor>).input_ids.shape[1])).toBe(Math.max(...out.records.slice(0, 2).map((r) => r.tokens!.ids.length)));
    await expect(Promise.resolve().then(() => chatPackStage.run(dataset, {}, { model: { name: 'x', points: {} }, log } as unknown as RunContext))).rejects.toThrow(/needs a causal LM with a chat template/);
  });

  it('chatRows pads to the longest row and cuts (counting) rows over the limit', () => {
    const rows = chatRows([{ ids: [1, 2, 3], assistant: [0, 1, 1] }, { ids: [4], assistant: [1] }], 2, 9);
    expect(rows).toEqual({ ids: [[1, 2], [4, 9]], attentionMask: [[1, 1], [1, 0]], assistant: [[0, 1], [1, 0]], truncated: 1 });
  });
});

test('a huge message is cut to what a row can hold before it is rendered and tokenised', async () => {
  const { model } = await chatModel();
  const chat = model.points!.chat!;
  const t0 = Date.now();
  const { ids, assistant } = chat.encode([{ role: 'user', content: 'spam '.repeat(4_000_000) }, { role: 'assistant', content: 'ok' }], 'record big');
  expect(Date.now() - t0).toBeLessThan(10_000);
  // At most maxTokens × 32 characters of the 20 MB message reach the tokenizer; the row is cut at maxTokens afterwards.
  expect(ids.length).toBeLessThan(chat.maxTokens * 32 + 200);
  expect(assistant.slice(-3)).toContain(1);
});
