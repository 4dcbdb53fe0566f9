import { tf } from '@leantune/tensor';
import { loadPretrainedUseLite, padBatch } from '@leantune/plugin-use-lite';
import { SENTENCES } from './fixtures/sentences';
import { cosine, lengthBuckets, loadReferenceGraph, referenceEmbeddings } from './reference';

export interface ParityResult {
  text: string;
  tokens: number;
  cosine: number;
  maxAbsDiff: number;
}

/**
 * Embeds `texts` with the re-implementation and with the shipped graph, in the same
 * length-sorted batches (so padding is exercised), and compares every row.
 */
export async function measureParity(texts: readonly string[]): Promise<ParityResult[]> {
  const { encoder, tokenizer } = loadPretrainedUseLite();
  const graph = await loadReferenceGraph();
  try {
    const rows = texts.map((t) => tokenizer.encode(t).slice(0, 128));
    const results: ParityResult[] = new Array(texts.length);
    let referenceMs = 0;
    let oursMs = 0;
    for (const bucket of lengthBuckets(rows, 8)) {
      // Shortest first: the graph's batch size is its last row index + 1, so an empty text
      // must not come last.
      const order = bucket;
      let start = Date.now();
      const reference = await referenceEmbeddings(graph, order.map((i) => rows[i]));
      referenceMs += Date.now() - start;
      start = Date.now();
      const inputs = padBatch(order.map((i) => rows[i]));
      const ours = tf.tidy(() => encoder.forward(inputs.ids, inputs.attentionMask).embedding.arraySync());
      tf.dispose([inputs.ids, inputs.attentionMask]);
      oursMs += Date.now() - start;
      if (reference.length !== order.length) throw new Error(`reference returned ${reference.length} rows for ${order.length}`);
      order.forEach((i, j) => {
        const maxAbsDiff = Math.max(...ours[j].map((v, k) => Math.abs(v - reference[j][k])));
        results[i] = { text: texts[i], tokens: rows[i].length, cosine: cosine(ours[j], reference[j]), maxAbsDiff };
      });
    }
    process.stdout.write(`use-lite parity timing: reference graph ${referenceMs} ms, modules ${oursMs} ms\n`);
    return results;
  } finally {
    encoder.dispose();
    graph.dispose();
  }
}

/**
 * The parity test body for one slice of the fixture sentences: the sentences are spread over
 * three files so that each stays small on two shared cores.
 */
export function parityTest(label: string, texts: readonly string[]): void {
  it(`matches the shipped graph model (cosine ≥ 0.9999 per text) on ${label}`, async () => {
    const results = await measureParity(texts);
    expect(results).toHaveLength(texts.length);
    for (const r of results) expect({ text: r.text, ok: r.cosine >= 0.9999 && r.maxAbsDiff < 1e-4 }).toEqual({ text: r.text, ok: true });
    const worst = Math.min(...results.map((r) => r.cosine));
    const maxDiff = Math.max(...results.map((r) => r.maxAbsDiff));
    process.stdout.write(`use-lite parity (${label}): ${results.length} texts, min cosine ${worst}, max |Δ| ${maxDiff.toExponential(2)}\n`);
  });
}

export const PARITY_SLICES = [SENTENCES.slice(0, 20), SENTENCES.slice(20, 40), SENTENCES.slice(40)] as const;
