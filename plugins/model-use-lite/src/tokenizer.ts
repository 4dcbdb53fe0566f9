/**
 * USE-lite's SentencePiece (unigram) tokenizer, re-implemented to give exactly the ids of
 * @energetic-ai/embeddings' own tokenizer (the one the shipped model was run with), quirks
 * included:
 * - NFKC, then "▁" before the text and in place of every U+0020 (tabs and newlines stay);
 * - pieces from id 6 on (0 is "<unk>"-like, 1..5 are reserved and never produced);
 * - Viterbi over the piece scores where a later candidate wins ties, and where a best
 *   score of exactly 0 counts as "nothing yet";
 * - a position no piece starts at becomes id 0 (score 0), and runs of id 0 collapse to one;
 * - the back-trace steps by the UTF-16 length of the chosen piece's text.
 * No library tokenizes this vocab format (a JSON list of [piece, score]), hence the code.
 */

/**
 * One vocab entry as vocab.json stores it: [piece, log-probability score]. Seven pieces with
 * ':' have a null score; the reference adds it as 0 (null + x = x in JS), and so do we.
 */
export type VocabEntry = readonly [string, number | null];

const WORD_START = '\u2581';
const RESERVED_IDS = 6;
export const UNKNOWN_ID = 0;

interface TrieNode {
  children: Map<string, TrieNode>;
  /** Id of the piece ending here, or -1. */
  id: number;
  score: number;
  /** Length in code points of the piece ending here. */
  length: number;
}

function newNode(): TrieNode {
  return { children: new Map(), id: -1, score: 0, length: 0 };
}

export function checkVocab(vocab: unknown, source: string): asserts vocab is VocabEntry[] {
  if (!Array.isArray(vocab) || vocab.length <= RESERVED_IDS) {
    throw new Error(`${source}: expected a JSON array of [piece, score] pairs (more than ${RESERVED_IDS}), got ${typeof vocab}`);
  }
  vocab.forEach((entry, i) => {
    if (!Array.isArray(entry) || typeof entry[0] !== 'string' || (typeof entry[1] !== 'number' && entry[1] !== null)) {
      throw new Error(`${source}: entry ${i} must be [piece: string, score: number | null], got ${JSON.stringify(entry)}`);
    }
  });
}

export class UseLiteTokenizer {
  private readonly root = newNode();

  constructor(readonly vocab: readonly VocabEntry[]) {
    for (let id = RESERVED_IDS; id < vocab.length; id++) this.insert(vocab[id][0], vocab[id][1] ?? 0, id);
  }

  get vocabSize(): number {
    return this.vocab.length;
  }

  /** A repeated piece keeps the last id, as the reference's trie does. */
  private insert(piece: string, score: number, id: number): void {
    let node = this.root;
    let length = 0;
    for (const symbol of piece) {
      let next = node.children.get(symbol);
      if (!next) node.children.set(symbol, (next = newNode()));
      node = next;
      length++;
    }
    if (length === 0) return;
    node.id = id;
    node.score = score;
    node.length = length;
  }

  /** The text of `ids`: pieces joined, "▁" as a space, without the leading one (ids under 6 give nothing). */
  decode(ids: readonly number[]): string {
    const pieces = ids.map((id) => {
      if (!Number.isInteger(id) || id < 0 || id >= this.vocab.length) throw new RangeError(`use-lite: token id ${id} is outside the vocabulary [0, ${this.vocab.length - 1}]`);
      return id < RESERVED_IDS ? '' : this.vocab[id][0];
    });
    return pieces.join('').replace(new RegExp(WORD_START, 'g'), ' ').replace(/^ /, '');
  }

  encode(text: string): number[] {
    const normalized = text.normalize('NFKC');
    if (normalized.length === 0) return [];
    const symbols = Array.from(WORD_START + normalized.replace(/ /g, WORD_START));
    const n = symbols.length;
    // Candidates ending at each position, in increasing start order (the reference's order).
    const ending: Array<Array<{ id: number; score: number; length: number }>> = Array.from({ length: n + 1 }, () => []);
    for (let start = 0; start < n; start++) {
      let node = this.root.children.get(symbols[start]);
      let found = false;
      for (let i = start; i < n && node; ) {
        if (node.id >= 0) {
          ending[start + node.length].push({ id: node.id, score: node.score, length: node.length });
          found = true;
        }
        i++;
        node = i < n ? node.children.get(symbols[i]) : undefined;
      }
      if (!found) ending[start + 1].push({ id: UNKNOWN_ID, score: 0, length: 1 });
    }
    const best = new Float64Array(n + 1);
    const chosen = new Int32Array(n + 1);
    for (let end = 0; end <= n; end++) {
      for (const c of ending[end]) {
        const score = c.score + best[end - c.length];
        if (best[end] === 0 || score >= best[end]) {
          best[end] = score;
          chosen[end] = c.id;
        }
      }
    }
    const reversed: number[] = [];
    for (let at = n; at > 0; at -= this.vocab[chosen[at]][0].length) reversed.push(chosen[at]);
    const ids: number[] = [];
    for (let i = reversed.length - 1; i >= 0; i--) {
      if (reversed[i] === UNKNOWN_ID && i + 1 < reversed.length && reversed[i + 1] === UNKNOWN_ID) continue;
      ids.push(reversed[i]);
    }
    return ids;
  }
}
