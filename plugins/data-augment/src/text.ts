import type { SynonymTable } from './synonyms';

export interface TextPolicy {
  /** Chance per word of a synonym swap, when the word is in the table. */
  synonym: number;
  /** Chance per word of deleting it (at least one word always stays). */
  deletion: number;
  /** Swaps of two random words, as a fraction of the word count (rounded). */
  swap: number;
  /** Apply one matching template rewrite with this chance. */
  paraphrase: number;
}

const pick = <T>(items: readonly T[], rng: () => number): T => items[Math.floor(rng() * items.length)];

/** Keeps a leading capital and the punctuation around the word. */
function replaceWord(token: string, table: SynonymTable, rng: () => number): string {
  const m = /^(\W*)([A-Za-z']+)(\W*)$/.exec(token);
  if (!m) return token;
  const options = table.get(m[2].toLowerCase());
  if (!options || options.length === 0) return token;
  let word = pick(options, rng);
  if (m[2][0] !== m[2][0].toLowerCase()) word = word[0].toUpperCase() + word.slice(1);
  return `${m[1]}${word}${m[3]}`;
}

export function synonymReplace(words: readonly string[], p: number, table: SynonymTable, rng: () => number): string[] {
  return words.map((w) => (rng() < p ? replaceWord(w, table, rng) : w));
}

export function randomDeletion(words: readonly string[], p: number, rng: () => number): string[] {
  if (words.length <= 1) return [...words];
  const kept = words.filter(() => rng() >= p);
  return kept.length > 0 ? kept : [pick(words, rng)];
}

export function randomSwap(words: readonly string[], fraction: number, rng: () => number): string[] {
  const out = [...words];
  const n = Math.round(fraction * out.length);
  for (let s = 0; s < n && out.length > 1; s++) {
    const i = Math.floor(rng() * out.length);
    const j = Math.floor(rng() * out.length);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** Meaning-preserving rewrites; one that matches is chosen at random. */
const TEMPLATES: Array<[RegExp, string]> = [
  [/\bdo not\b/i, "don't"],
  [/\bdon't\b/i, 'do not'],
  [/\bit is\b/i, "it's"],
  [/\bit's\b/i, 'it is'],
  [/\bcannot\b/i, "can't"],
  [/\bcan't\b/i, 'cannot'],
  [/\bI am\b/, "I'm"],
  [/\bwe are\b/i, "we're"],
  [/\bthey are\b/i, "they're"],
  [/\bwill not\b/i, "won't"],
  [/\bis not\b/i, "isn't"],
  [/\bplease\b/i, 'kindly'],
  [/\bin order to\b/i, 'to'],
  [/\bbecause\b/i, 'since'],
  [/\bhowever\b/i, 'but'],
];
const PREFIXES = ['In short, ', 'Basically, ', 'To put it simply, ', 'Note: '];

export function templateParaphrase(text: string, rng: () => number): string {
  const matching = TEMPLATES.filter(([re]) => re.test(text));
  if (matching.length > 0 && rng() < 0.7) {
    const [re, to] = pick(matching, rng);
    return text.replace(re, to);
  }
  return `${pick(PREFIXES, rng)}${text}`;
}

/** Word-level operations in a fixed order (synonym, deletion, swap), then an optional paraphrase. */
export function augmentText(text: string, policy: TextPolicy, table: SynonymTable, rng: () => number): string {
  let words = text.split(/\s+/).filter((w) => w !== '');
  if (words.length === 0) return text;
  if (policy.synonym > 0) words = synonymReplace(words, policy.synonym, table, rng);
  if (policy.deletion > 0) words = randomDeletion(words, policy.deletion, rng);
  if (policy.swap > 0) words = randomSwap(words, policy.swap, rng);
  let out = words.join(' ');
  if (policy.paraphrase > 0 && rng() < policy.paraphrase) out = templateParaphrase(out, rng);
  return out;
}
