import fs from 'node:fs';
import path from 'node:path';
import type { Template as JinjaTemplate } from '@huggingface/jinja' with { 'resolution-mode': 'import' };
import { STAGE, cutForTokens, type ChatCapability, type DataRecord, type Dataset, type DatasetStage, type TruncationTally } from '@leantune/core';
import { tf } from '@leantune/tensor';
import { readJsonFile } from './config';
import type { HfTokenizer } from './tokenizer';

// ESM-typed, with a CommonJS build (its "require" export), which is what loads here.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { Template } = require('@huggingface/jinja') as { Template: typeof JinjaTemplate };

/**
 * Chat-format fine-tuning (SFT) for causal LMs: a record's `messages` (role/content) are
 * rendered with the checkpoint's own chat template through @huggingface/jinja, as
 * transformers' `apply_chat_template` does, and only the assistant turns carry loss.
 *
 * The assistant spans come from the template itself, by rendering prefixes of the
 * conversation: turn i (an assistant message) spans from the end of
 * `render(messages[:i], add_generation_prompt=True)` to the end of
 * `render(messages[:i+1])`, so whatever the template wraps around a reply (the end-of-turn
 * token, a newline) is learned with it, and the header that opens the turn is not. A
 * template that does not render conversations as growing prefixes of each other has no
 * such spans and is refused, naming the turn. Each span is tokenised on its own and the
 * pieces are concatenated (with add_special_tokens false, as apply_chat_template does), so
 * the mask is exact by construction; the prompt part is tokenised exactly as `generate`
 * tokenises a rendered prompt.
 */

export interface ChatMessage {
  role: string;
  content: string;
}

export interface ChatTemplateSource {
  template: string;
  /** The file it came from (for errors). */
  file: string;
  /** bos_token, eos_token, … from tokenizer_config.json, which templates refer to. */
  specials: Record<string, string>;
}

const SPECIAL_KEYS = ['bos_token', 'eos_token', 'unk_token', 'pad_token', 'sep_token', 'cls_token', 'mask_token'] as const;

function tokenText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  return undefined;
}

/**
 * The checkpoint's chat template: `chat_template.jinja` (where transformers ≥ 4.43 saves it),
 * else `chat_template` in tokenizer_config.json (a string, or a list of {name, template}
 * where "default" is used). Undefined when the folder has none.
 */
export function readChatTemplate(dir: string): ChatTemplateSource | undefined {
  const configFile = path.join(dir, 'tokenizer_config.json');
  const config = fs.existsSync(configFile) ? (readJsonFile(dir, 'tokenizer_config.json', '') as Record<string, unknown>) : {};
  const specials: Record<string, string> = {};
  for (const key of SPECIAL_KEYS) {
    const t = tokenText(config[key]);
    if (t !== undefined) specials[key] = t;
  }
  const jinjaFile = path.join(dir, 'chat_template.jinja');
  if (fs.existsSync(jinjaFile)) return { template: fs.readFileSync(jinjaFile, 'utf8'), file: jinjaFile, specials };
  const raw = config.chat_template;
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw === 'string') return { template: raw, file: configFile, specials };
  if (Array.isArray(raw)) {
    const named = raw.find((t) => t && typeof t === 'object' && (t as { name?: unknown }).name === 'default') as { template?: unknown } | undefined;
    if (named && typeof named.template === 'string') return { template: named.template, file: configFile, specials };
    throw new Error(`${configFile}: chat_template is a list without a template named "default"; leantune uses that one`);
  }
  throw new Error(`${configFile}: chat_template must be a string or a list of {name, template}, got ${typeof raw}`);
}

/** A compiled chat template and the variables transformers passes to it. */
export class ChatTemplate {
  private readonly compiled: JinjaTemplate;

  constructor(readonly source: ChatTemplateSource) {
    try {
      this.compiled = new Template(source.template);
    } catch (err) {
      throw new Error(`${source.file}: the chat template does not parse (${(err as Error).message})`);
    }
  }

  render(messages: readonly ChatMessage[], addGenerationPrompt: boolean): string {
    try {
      return this.compiled.render({ ...this.source.specials, messages, add_generation_prompt: addGenerationPrompt });
    } catch (err) {
      throw new Error(`${this.source.file}: rendering the chat template failed (${(err as Error).message})`);
    }
  }
}

/** Checks a record's `messages` field; throws naming the record and what is wrong. */
export function checkMessages(messages: unknown, where: string): ChatMessage[] {
  if (!Array.isArray(messages) || messages.length === 0) throw new Error(`${where}: "messages" must be a non-empty array of {role, content}`);
  messages.forEach((m, i) => {
    if (!m || typeof m !== 'object' || typeof (m as ChatMessage).role !== 'string' || typeof (m as ChatMessage).content !== 'string') {
      throw new Error(`${where}: messages[${i}] must be {"role": string, "content": string}`);
    }
  });
  if (!messages.some((m) => (m as ChatMessage).role === 'assistant')) throw new Error(`${where}: no message has role "assistant", so there is nothing to learn; give at least one assistant reply`);
  return messages as ChatMessage[];
}

export interface ChatEncoding {
  ids: number[];
  /** 1 where the token belongs to an assistant turn (it is a training target), else 0. */
  assistant: number[];
}

/** Renders and tokenises one conversation, marking the assistant tokens. */
export function encodeChat(template: ChatTemplate, encode: (text: string) => number[], messages: readonly ChatMessage[], where: string): ChatEncoding {
  const full = template.render(messages, false);
  const pieces: Array<{ text: string; assistant: boolean }> = [];
  let at = 0;
  messages.forEach((m, i) => {
    if (m.role !== 'assistant') return;
    const before = template.render(messages.slice(0, i), true);
    const through = template.render(messages.slice(0, i + 1), false);
    if (!through.startsWith(before) || !full.startsWith(through) || before.length < at) {
      throw new Error(
        `${where}: the chat template (${template.source.file}) does not render the conversation up to message ${i} as a prefix of the whole, so the assistant tokens cannot be told apart; use a template whose renderings grow turn by turn (as ChatML, Llama 3 and SmolLM2's do)`,
      );
    }
    if (before.length > at) pieces.push({ text: full.slice(at, before.length), assistant: false });
    pieces.push({ text: full.slice(before.length, through.length), assistant: true });
    at = through.length;
  });
  if (at < full.length) pieces.push({ text: full.slice(at), assistant: false });
  const ids: number[] = [];
  const assistant: number[] = [];
  for (const p of pieces) {
    if (!p.text) continue;
    const piece = encode(p.text);
    ids.push(...piece);
    for (let k = 0; k < piece.length; k++) assistant.push(p.assistant ? 1 : 0);
  }
  return { ids, assistant };
}

export interface ChatRows {
  ids: number[][];
  attentionMask: number[][];
  /** Per token: 1 where the NEXT-token loss at this position's target counts (the target is an assistant token). */
  assistant: number[][];
  /** Conversations cut because they were longer than the row. */
  truncated: number;
}

/**
 * One row per conversation, right-padded to the longest and cut at `maxTokens` (counted).
 * Packing several conversations into a row is the `chat-pack` stage's work, before this.
 */
export function chatRows(encodings: readonly ChatEncoding[], maxTokens: number, padId: number): ChatRows {
  let truncated = 0;
  const cut = encodings.map((e) => {
    if (e.ids.length <= maxTokens) return e;
    truncated++;
    return { ids: e.ids.slice(0, maxTokens), assistant: e.assistant.slice(0, maxTokens) };
  });
  const longest = Math.max(1, ...cut.map((e) => e.ids.length));
  const padTo = (row: number[], v: number) => [...row, ...new Array<number>(longest - row.length).fill(v)];
  return {
    ids: cut.map((e) => padTo(e.ids, padId)),
    attentionMask: cut.map((e) => padTo(e.ids.map(() => 1), 0)),
    assistant: cut.map((e) => padTo(e.assistant, 0)),
    truncated,
  };
}

/**
 * The `chat` point of a causal LM whose folder has a chat template (undefined otherwise):
 * render, encode with the assistant mask, and the ids that end a turn.
 */
export function chatCapability(dir: string, tokenizer: () => HfTokenizer, maxTokens: number): ChatCapability | undefined {
  const source = readChatTemplate(dir);
  if (!source) return undefined;
  const template = new ChatTemplate(source);
  const encode = (text: string) => tokenizer().tokenizer.encode(text, { add_special_tokens: false }).ids;
  let stops: number[] | undefined;
  const stopIds = () => {
    if (stops) return stops;
    const found = new Set<number>();
    const eos = source.specials.eos_token;
    const eosId = eos === undefined ? undefined : tokenizer().tokenizer.token_to_id(eos);
    if (eosId !== undefined) found.add(eosId);
    // What the template writes right after a reply's content, when it is a special (added) token, ends a turn too (<|im_end|>, <|eot_id|>).
    const marker = '\u0000reply\u0000';
    const probe = [{ role: 'user', content: 'x' }, { role: 'assistant', content: marker }];
    const rendered = template.render(probe, false);
    const after = rendered.slice(rendered.indexOf(marker) + marker.length);
    const first = after ? encode(after)[0] : undefined;
    if (first !== undefined && tokenizer().tokenizer.get_added_tokens_decoder().get(first)?.special) found.add(first);
    return (stops = [...found]);
  };
  return {
    render: (messages, addGenerationPrompt) => template.render(messages, addGenerationPrompt),
    // Each message's content is cut to what a row can hold (cutForTokens) before rendering, so a huge message costs its first characters, not its whole tokenisation; the row is cut at maxTokens after.
    encode: (messages, where) => encodeChat(template, encode, checkMessages(messages, where).map((m) => ({ ...m, content: cutForTokens(m.content, maxTokens).text })), where),
    encodePrompt: (messages) => encode(template.render(messages, true)),
    maxTokens,
    get stopIds() {
      return stopIds();
    },
    file: source.file,
  };
}

/** Rows of a causal LM's batch from chat records (`messages`) or pre-tokenised ones (`tokens`). */
export function encodeChatRecords(chat: ChatCapability | undefined, records: readonly DataRecord[], maxTokens: number, padId: number, tally?: TruncationTally) {
  const encodings: ChatEncoding[] = records.map((r) => {
    if (r.tokens) return { ids: r.tokens.ids, assistant: r.tokens.lossMask ?? r.tokens.ids.map(() => 1) };
    if (!chat) throw new Error(`record ${r.id} has "messages" but the model's folder has no chat template (chat_template in tokenizer_config.json, or chat_template.jinja); add one, or give "text"`);
    return chat.encode(r.messages!, `record ${r.id}`);
  });
  const rows = chatRows(encodings, maxTokens, padId);
  if (rows.truncated && tally) {
    const cut = records.filter((_, i) => encodings[i].ids.length > maxTokens).map((r) => r.id);
    tally.note(records.map((r) => r.id), cut, { longest: Math.max(...encodings.map((e) => e.ids.length)), maxLength: maxTokens, warning: `${cut.length} of ${records.length} conversations are longer than ${maxTokens} tokens and were cut` });
  }
  const shape: [number, number] = [rows.ids.length, rows.ids[0].length];
  return {
    input_ids: tf.tensor2d(rows.ids, shape, 'int32'),
    attention_mask: tf.tensor2d(rows.attentionMask, shape, 'int32'),
    loss_mask: tf.tensor2d(rows.assistant, shape, 'int32'),
  };
}

/** True when the batch's records are chat or pre-tokenised records (and not text ones); a mix is refused. */
export function isChatBatch(records: readonly DataRecord[]): boolean {
  const chat = records.filter((r) => r.messages !== undefined || r.tokens !== undefined).length;
  if (chat && chat !== records.length) {
    const text = records.find((r) => r.messages === undefined && r.tokens === undefined)!;
    throw new Error(`record ${text.id} has no "messages" while others of its batch do; a dataset is either chat (messages) or text, not both`);
  }
  return chat > 0;
}

export interface ChatPackOptions {
  /** Tokens per packed row (default: the model's maximum). */
  maxTokens?: number;
}

/**
 * The `chat-pack` stage, opt-in (`data.stages["chat-pack"]: {}`): conversations packed into rows of at most `maxTokens` tokens by
 * best-fit decreasing (TRL's "bfd" packing): no conversation is split, a conversation
 * longer than a row is cut (counted) and gets a row of its own. Each packed record holds
 * the tokens and the assistant mask; the rows are then padded only to the longest in a batch.
 */
export const chatPackStage: DatasetStage<ChatPackOptions> = {
  name: 'chat-pack',
  stage: STAGE.ENCODE,
  optIn: true,
  description: 'pack chat conversations (messages) into rows of the model\'s length, best-fit decreasing; loss stays on assistant tokens',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      maxTokens: { type: 'integer', minimum: 8, maximum: 1048576, description: "tokens per packed row (default: the model's maximum length)" },
    },
  },
  run(dataset, options, ctx) {
    const chat = ctx.model?.points?.chat;
    if (!chat) throw new Error(`data stage "chat-pack" needs a causal LM with a chat template (model "${ctx.model?.name ?? '(none)'}" offers none): add chat_template to tokenizer_config.json, or drop the stage`);
    const cap = options.maxTokens ?? chat.maxTokens;
    if (cap > chat.maxTokens) throw new Error(`data stage "chat-pack": maxTokens ${cap} is more than the model's ${chat.maxTokens}`);
    const pack = (records: readonly DataRecord[], split: string): DataRecord[] => {
      const items = records.map((r) => {
        if (!r.messages) throw new Error(`data stage "chat-pack": record ${r.id} has no "messages"`);
        const e = chat.encode(r.messages, `record ${r.id}`);
        const cut = e.ids.length > cap;
        return { id: r.id, ids: cut ? e.ids.slice(0, cap) : e.ids, mask: cut ? e.assistant.slice(0, cap) : e.assistant, cut };
      });
      const order = items.map((_, i) => i).sort((a, b) => items[b].ids.length - items[a].ids.length || a - b);
      const bins: Array<{ free: number; members: number[] }> = [];
      for (const i of order) {
        const n = items[i].ids.length;
        let best = -1;
        for (let b = 0; b < bins.length; b++) if (bins[b].free >= n && (best < 0 || bins[b].free < bins[best].free)) best = b;
        if (best < 0) bins.push({ free: cap - n, members: [i] });
        else {
          bins[best].free -= n;
          bins[best].members.push(i);
        }
      }
      const cut = items.filter((it) => it.cut).length;
      if (records.length) ctx.log.info(`chat-pack (${split}): ${records.length} conversations into ${bins.length} rows of at most ${cap} tokens (${(items.reduce((s, it) => s + it.ids.length, 0) / Math.max(1, bins.length * cap) * 100).toFixed(0)}% full)${cut ? `; ${cut} longer than a row were cut` : ''}`);
      return bins.map((b, k) => ({
        id: `${split}-pack-${k}`,
        tokens: { ids: b.members.flatMap((i) => items[i].ids), lossMask: b.members.flatMap((i) => items[i].mask) },
        meta: { source: 'chat-pack', row: k, members: b.members.map((i) => items[i].id) },
      }));
    };
    // Split datasets are packed split by split (a row never mixes train and validation); records are then the rows of all splits.
    const splits = dataset.splits ? Object.fromEntries(Object.entries(dataset.splits).map(([name, list]) => [name, pack(list, name)])) : undefined;
    const out: Dataset = { ...dataset, records: splits ? Object.values(splits).flat() : pack(dataset.records, 'all') };
    if (splits) out.splits = splits;
    out.reports = [
      ...dataset.reports,
      { stage: 'chat-pack', plugin: '@leantune/plugin-hf', in: dataset.records.length, out: out.records.length, changed: out.records.length, dropped: 0, dropReasons: {}, details: { maxTokens: cap } },
    ];
    return out;
  },
};
