/**
 * A small built-in English synonym table (no WordNet package is installed in this workspace;
 * `node-wordnet` also needs the WordNet database files). Groups of interchangeable words;
 * every word of a group maps to the others. Extend it with the `synonyms` option.
 */
const GROUPS: string[][] = [
  ['good', 'fine', 'great', 'nice'],
  ['bad', 'poor', 'awful', 'terrible'],
  ['big', 'large', 'huge'],
  ['small', 'little', 'tiny'],
  ['fast', 'quick', 'rapid'],
  ['slow', 'sluggish'],
  ['buy', 'purchase', 'order'],
  ['get', 'obtain', 'receive'],
  ['free', 'complimentary'],
  ['money', 'cash', 'funds'],
  ['cheap', 'inexpensive', 'affordable'],
  ['offer', 'deal', 'bargain'],
  ['now', 'today', 'immediately'],
  ['help', 'assist', 'aid'],
  ['start', 'begin', 'commence'],
  ['end', 'finish', 'stop'],
  ['say', 'state', 'tell'],
  ['said', 'stated', 'told'],
  ['make', 'create', 'produce'],
  ['use', 'employ', 'utilize'],
  ['show', 'display', 'present'],
  ['need', 'require'],
  ['want', 'wish', 'desire'],
  ['think', 'believe', 'suppose'],
  ['know', 'understand'],
  ['look', 'see', 'view'],
  ['find', 'discover', 'locate'],
  ['give', 'provide', 'supply'],
  ['job', 'work', 'task'],
  ['problem', 'issue', 'trouble'],
  ['answer', 'reply', 'response'],
  ['question', 'query'],
  ['important', 'significant', 'key'],
  ['easy', 'simple'],
  ['hard', 'difficult', 'tough'],
  ['happy', 'glad', 'pleased'],
  ['sad', 'unhappy'],
  ['old', 'aged', 'ancient'],
  ['new', 'fresh', 'novel'],
  ['house', 'home'],
  ['car', 'automobile', 'vehicle'],
  ['man', 'fellow', 'gentleman'],
  ['woman', 'lady'],
  ['child', 'kid'],
  ['city', 'town'],
  ['road', 'street'],
  ['shut', 'close'],
  ['pretty', 'lovely', 'beautiful'],
  ['strange', 'odd', 'peculiar'],
  ['angry', 'mad', 'furious'],
  ['afraid', 'scared', 'frightened'],
  ['quiet', 'silent', 'calm'],
  ['begin', 'start'],
  ['mistake', 'error'],
  ['idea', 'notion', 'concept'],
  ['email', 'message', 'mail'],
  ['company', 'firm', 'business'],
  ['price', 'cost'],
  ['rich', 'wealthy'],
  ['smart', 'clever', 'bright'],
];

export type SynonymTable = ReadonlyMap<string, readonly string[]>;

/** word → its alternatives; extra groups are merged in. */
export function synonymTable(extra: readonly string[][] = []): SynonymTable {
  const table = new Map<string, Set<string>>();
  for (const group of [...GROUPS, ...extra]) {
    const words = group.map((w) => w.toLowerCase());
    for (const w of words) {
      const set = table.get(w) ?? new Set<string>();
      for (const other of words) if (other !== w) set.add(other);
      table.set(w, set);
    }
  }
  return new Map([...table].map(([w, s]) => [w, [...s].sort()]));
}
