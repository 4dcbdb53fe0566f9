import { ConfigError, RunError, type DataRecord } from '@leantune/core';
import { tf } from '@leantune/tensor';
import type { TrainedModel } from './restore';

export type Prediction =
  | { input: string; label: string; probabilities: Record<string, number> }
  | { input: string; embedding: number[] };

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Decodes bytes as UTF-8, failing with the source and byte offset on anything else. */
export function decodeUtf8(bytes: Uint8Array, source: string): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    let offset = 0;
    // Find the first bad byte for the message: decode growing prefixes of valid sequences.
    for (let i = 1; i <= bytes.length; i++) {
      try {
        strictUtf8.decode(bytes.subarray(0, i));
        offset = i;
      } catch {
        if (i - offset > 4) break;
      }
    }
    throw new ConfigError(`${source} is not valid UTF-8 text (bad byte near offset ${offset}); convert it first, e.g. iconv -f latin1 -t utf-8.`);
  }
}

/** Lines of a text file or stdin, one input per non-empty line. */
export function readTextInputs(bytes: Uint8Array, source: string): string[] {
  return decodeUtf8(bytes, source).split(/\r?\n/).filter((l) => l.trim() !== '');
}

interface NpyModule {
  readNpyFile(path: string): Promise<{ data: ArrayLike<number>; shape: number[] }>;
  npyToImage(array: { data: ArrayLike<number>; shape: number[] }, path: string): { data: ArrayLike<number>; shape: [number, number, number] };
}

/**
 * An image record from a .npy file ([h, w] or [h, w, c], values 0–255), via @leantune/data:
 * the size is checked against the per-record cap and the header against the file before the
 * body is read (readNpyFile).
 */
export async function readNpyImage(file: string): Promise<DataRecord> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- lazily: only image inputs need it
  const npy = require('@leantune/data') as NpyModule;
  const image = npy.npyToImage(await npy.readNpyFile(file), file);
  const rgb = image.shape[2] === 1 ? tf.tile(tf.tensor3d(Float32Array.from(image.data), image.shape), [1, 1, 3]) : tf.tensor3d(Float32Array.from(image.data), image.shape);
  return { id: file, image: rgb, meta: { source: file, row: 0 } };
}

/**
 * Runs the model's predict head on records, batch by batch: class probabilities for a
 * classifier (label = the most probable), the vector for an embedding model.
 */
export function predictRecords(trained: TrainedModel, records: readonly DataRecord[], batchSize = 32): Prediction[] {
  const model = trained.model;
  if (!model.predict || !model.encode) throw new RunError(`Model "${model.name}" cannot predict: its loader gives no predict() (a language model? use "leantune generate"; a base model such as BertModel or ViTModel? ask for its features with --output last_hidden_state or pooler_output).`);
  const out: Prediction[] = [];
  for (let i = 0; i < records.length; i += batchSize) {
    const slice = records.slice(i, i + batchSize);
    const rows = tf.tidy(() => model.predict!(model.encode!(slice)).arraySync()) as number[][];
    rows.forEach((row, j) => {
      const input = slice[j].text ?? slice[j].id;
      if (!model.labels) return void out.push({ input, embedding: row });
      const probabilities = Object.fromEntries(model.labels.map((l, k) => [l, row[k]]));
      const best = row.indexOf(Math.max(...row));
      out.push({ input, label: model.labels[best], probabilities });
    });
  }
  for (const r of records) if (r.image instanceof tf.Tensor) r.image.dispose();
  return out;
}

/** A model with transformers-named outputs (@leantune/plugin-hf's `outputs(batch, names)`). */
interface NamedOutputsModel {
  outputNames?: readonly string[];
  outputs?(batch: ReturnType<NonNullable<TrainedModel['model']['encode']>>, names?: readonly string[]): Record<string, tf.Tensor | tf.Tensor[]>;
}

export type NamedOutputs = { input: string } & Record<string, unknown>;

/**
 * The model's named outputs (`--output last_hidden_state`, `pooler_output`, `hidden_states`,
 * `logits`, `text_embeds`, `image_embeds`, …) for each record, as nested arrays. Records run
 * one at a time, so sequence outputs hold exactly that input's tokens (no padding).
 */
export function outputRecords(trained: TrainedModel, records: readonly DataRecord[], names: readonly string[]): NamedOutputs[] {
  const model = trained.model as TrainedModel['model'] & NamedOutputsModel;
  if (!model.outputs || !model.encode) throw new RunError(`Model "${model.name}" gives no named outputs (--output); Hugging Face checkpoints do.`);
  const known = model.outputNames ?? [];
  const unknown = names.filter((n) => !known.includes(n));
  if (unknown.length) throw new ConfigError(`Model "${model.name}" has no output ${unknown.map((n) => `"${n}"`).join(', ')}; --output takes ${known.join(', ')}.`);
  const out: NamedOutputs[] = [];
  try {
    for (const r of records) {
      const row: NamedOutputs = { input: r.text ?? r.id };
      tf.tidy(() => {
        const values = model.outputs!(model.encode!([r]), names);
        for (const n of names) {
          const v = values[n];
          row[n] = Array.isArray(v) ? v.map((t) => (t.arraySync() as unknown[])[0]) : (v.arraySync() as unknown[])[0];
        }
        tf.dispose(Object.values(values) as tf.TensorContainer);
      });
      out.push(row);
    }
  } finally {
    for (const r of records) if (r.image instanceof tf.Tensor) r.image.dispose();
  }
  return out;
}

/** Text inputs as records, as the loaders' encode() expects them. */
export function textRecords(texts: readonly string[]): DataRecord[] {
  return texts.map((text, row) => ({ id: `input-${row}`, text, meta: { source: 'input', row } }));
}
