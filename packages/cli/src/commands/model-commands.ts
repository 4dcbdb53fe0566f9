import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import { ConfigError } from '@leantune/core';
import { evaluateTrained, formatEvalReport } from '@leantune/runner';
import { generateText } from '@leantune/runner';
import { formatModel, inspectModel } from '@leantune/runner';
import { mergeTrained, type QuantizedMerge } from '@leantune/runner';
import { outputRecords, predictRecords, readNpyImage, readTextInputs, textRecords } from '@leantune/runner';
import { loadTrainedModel, type AdapterRef } from '@leantune/runner';
import { parseModelSpec, warningsTo } from '@leantune/runner';
import { readProcessStdin, type CliIO } from '../main';

interface ModelFlags {
  config?: string;
  model?: string;
  adapter?: string[];
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** "lora:<dir>" names the method; a bare folder lets the enabled methods recognize it. */
export function parseAdapterRef(text: string): AdapterRef {
  const m = /^([a-z][a-z0-9-]*):(.+)$/.exec(text);
  return m && m[1].length > 1 ? { method: m[1], dir: m[2] } : { dir: text };
}

function modelOptions(cmd: Command): Command {
  return cmd
    .argument('[run]', 'a run folder written by "leantune train"')
    .option('-c, --config <file>', 'config naming the base model and plugins (without a run folder)')
    .option('--model <spec>', 'base model: a name (use-lite), a folder (HF checkpoint or merged model), or JSON')
    .option('--adapter <dir>', 'adapter folder to load (repeatable; "<method>:<dir>" names the method)', collect);
}

function load(io: CliIO, run: string | undefined, flags: ModelFlags, data?: string) {
  if (!run && !flags.config && !flags.model) throw new ConfigError('Name the model: a run folder, -c <config>, or --model <name|folder>.');
  return loadTrainedModel({
    run,
    config: flags.config,
    model: flags.model ? parseModelSpec(flags.model) : undefined,
    adapters: (flags.adapter ?? []).map(parseAdapterRef),
    data: data ? parseData(data) : undefined,
    cwd: io.cwd,
    log: warningsTo(io.err),
  });
}

function parseData(text: string) {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`--data is not valid JSON (${(err as Error).message}); pass a dataset spec such as '{"name":"spam-assassin","limit":50}'`);
  }
  if (!value || typeof value !== 'object' || typeof (value as { name?: unknown }).name !== 'string') throw new ConfigError('--data must be a JSON object with a "name", as a config\'s "data" section');
  // Without "stages" the trained run's stages apply (restore.ts), so its split fractions and seed do too.
  return value as { name: string; stages?: Record<string, Record<string, unknown>> };
}

function number(name: string, parse: (v: string) => number = Number) {
  return (value: string) => {
    const n = parse(value);
    if (Number.isNaN(n)) throw new ConfigError(`${name} must be a number, got "${value}"`);
    return n;
  };
}

export function modelCommands(io: CliIO): Command[] {
  const evalCmd = modelOptions(new Command('eval'))
    .description('Evaluate a run folder, or a base model with adapters, on a dataset split: metrics and a confusion matrix.')
    .option('--data <json>', 'dataset spec to evaluate on, e.g. \'{"name":"spam-assassin","limit":50}\'; without "stages", the run\'s stages (its split) apply. Records the run trained on are counted and warned about (default: the run\'s own split, from its splits.json)')
    .option('--split <name>', 'split to use: validation, test, train or all (default validation, then test, then all)')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExamples:\n  leantune eval runs/20250101-120000-spam\n  leantune eval -c leantune.json --adapter runs/x/adapters/lora --split test')
    .action(async (run: string | undefined, opts: ModelFlags & { data?: string; split?: string; json?: boolean }) => {
      const report = await evaluateTrained(await load(io, run, opts, opts.data), { split: opts.split });
      io.out(opts.json ? `${JSON.stringify(report)}\n` : formatEvalReport(report));
    });

  const predictCmd = modelOptions(new Command('predict'))
    .description('Labels with probabilities (classifiers) or embeddings for texts, a file, stdin, or .npy images.')
    .option('-t, --text <text>', 'an input text (repeatable)', collect)
    .option('-f, --file <file>', 'UTF-8 text file, one input per line')
    .option('--image <file>', '.npy image, [h, w] or [h, w, c] with values 0-255 (repeatable)', collect)
    .option('--output <name>', 'a named model output instead of labels (repeatable): logits, last_hidden_state, pooler_output, hidden_states, text_embeds, image_embeds (Hugging Face models)', collect)
    .addHelpText('after', '\nOne JSON object per input on stdout. Without -t, -f or --image, reads lines from stdin.\nExamples:\n  leantune predict runs/x -t "win a free prize" -t "meeting at 10"\n  leantune predict --model merged/ -f emails.txt\n  leantune predict --model ./roberta-base -t "hello" --output pooler_output')
    .action(async (run: string | undefined, opts: ModelFlags & { text?: string[]; file?: string; image?: string[]; output?: string[] }) => {
      const texts = [...(opts.text ?? [])];
      if (opts.file) texts.push(...readTextInputs(readFileSync(resolve(io.cwd, opts.file)), opts.file));
      if (!texts.length && !opts.image?.length) texts.push(...readTextInputs(await (io.readStdin ?? readProcessStdin)(), 'standard input'));
      if (!texts.length && !opts.image?.length) throw new ConfigError('No inputs: give -t <text>, -f <file>, --image <file.npy>, or lines on stdin.');
      const trained = await load(io, run, opts);
      const records = [...textRecords(texts), ...(await Promise.all((opts.image ?? []).map((f) => readNpyImage(resolve(io.cwd, f)))))];
      const rows = opts.output?.length ? outputRecords(trained, records, opts.output) : predictRecords(trained, records);
      for (const p of rows) io.out(`${JSON.stringify(p)}\n`);
    });

  const generateCmd = modelOptions(new Command('generate'))
    .description('Continue a prompt with a decoder language model (GPT-2), streaming tokens to stdout.')
    .requiredOption('-p, --prompt <text>', 'the prompt')
    .option('--max-tokens <n>', 'tokens to generate', number('--max-tokens', (v) => Number.parseInt(v, 10)), 32)
    .option('--temperature <t>', '0 is greedy; above 0 samples', number('--temperature'), 0)
    .option('--top-k <k>', 'sample among the k most probable tokens (0: all)', number('--top-k', (v) => Number.parseInt(v, 10)), 0)
    .option('--top-p <p>', 'nucleus sampling mass', number('--top-p'), 1)
    .option('--seed <n>', 'sampling seed', number('--seed', (v) => Number.parseInt(v, 10)), 0)
    .option('--chat', "the prompt is a user message: rendered with the model's chat template, the reply stops at the end of the assistant's turn")
    .option('--system <text>', 'with --chat, a system message before the prompt')
    .addHelpText('after', '\nExamples:\n  leantune generate runs/20250101-gpt2 -p "Once upon a time" --temperature 0.8 --top-p 0.9 --seed 1\n  leantune generate runs/20250101-smollm2-sft --chat -p "What is LoRA?"')
    .action(async (run: string | undefined, opts: ModelFlags & { prompt: string; maxTokens: number; temperature: number; topK: number; topP: number; seed: number; chat?: boolean; system?: string }) => {
      const trained = await load(io, run, opts);
      if (!opts.chat) io.out(opts.prompt);
      generateText(trained, opts.prompt, { ...opts, onText: (t) => io.out(t) });
      io.out('\n');
    });

  const mergeCmd = modelOptions(new Command('merge'))
    .description('Fold a mergeable adapter (LoRA family, IA3) into the base weights and write a full model.')
    .requiredOption('-o, --out <dir>', 'folder for the merged model (must be new or empty)')
    .addOption(new Option('--quantized <mode>', 'a base quantized with model.quantize: dequantize (merge into fp32 and write fp32) or requantize (merge, quantize again in its format, report the added error)').choices(['dequantize', 'requantize']))
    .addHelpText('after', '\nHugging Face models get their own layout (config.json, model.safetensors, tokenizer files);\nothers a model.safetensors with leantune-merged.json. Load either with --model <dir>.\nExample:\n  leantune merge runs/20250101-120000-spam -o merged/spam')
    .action(async (run: string | undefined, opts: ModelFlags & { out: string; quantized?: QuantizedMerge }) => {
      const result = mergeTrained(await load(io, run, opts), resolve(io.cwd, opts.out), { quantized: opts.quantized });
      io.out(`${JSON.stringify(result)}\n`);
    });

  const inspectCmd = new Command('inspect')
    .description('Print a model\'s module tree with parameter counts and the module names methods can target.')
    .argument('<model>', 'a model name (use-lite, mobilenet-v2), a Hugging Face folder, or a JSON spec')
    .option('-c, --config <file>', 'use this config\'s plugins (default: every installed plugin)')
    .option('--depth <n>', 'deepest level of the tree to print', (v) => Number.parseInt(v, 10))
    .option('--labels <names>', 'comma-separated class names for a classification head (default two placeholders)')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExamples:\n  leantune inspect use-lite\n  leantune inspect ./checkpoints/gpt2 --depth 3 --json')
    .action(async (model: string, opts: { config?: string; depth?: number; labels?: string; json?: boolean }) => {
      const d = await inspectModel(parseModelSpec(model), { config: opts.config, cwd: io.cwd, labels: opts.labels?.split(','), log: warningsTo(io.err), warn: (m) => io.err(`warning: ${m}\n`) });
      io.out(opts.json ? `${JSON.stringify(d, null, 2)}\n` : formatModel(d, opts.depth));
    });

  return [evalCmd, predictCmd, generateCmd, mergeCmd, inspectCmd];
}
