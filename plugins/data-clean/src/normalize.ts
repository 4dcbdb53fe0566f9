export type UnicodeForm = 'NFKC' | 'NFC' | 'none';

/** Zero-width characters and the byte-order mark: invisible, but they split exact matches. */
const INVISIBLE = /[\u200b\u200c\u200d\u2060\ufeff]/g;
/** Horizontal whitespace of any kind (tabs, NBSP, the Zs category) other than newlines. */
const HORIZONTAL = /[^\S\n]+/g;

/**
 * Unicode normal form first (NFKC folds compatibility characters such as full-width letters
 * and ligatures, so visually equal texts compare equal), then whitespace: line endings made
 * \n, invisible characters removed, runs of spaces made one, lines trimmed, at most one
 * blank line in a row, the whole trimmed.
 */
export function normalizeText(text: string, options: { unicode: UnicodeForm; whitespace: boolean }): string {
  let out = options.unicode === 'none' ? text : text.normalize(options.unicode);
  if (options.whitespace) {
    out = out
      .replace(/\r\n?/g, '\n')
      .replace(INVISIBLE, '')
      .replace(HORIZONTAL, ' ')
      .replace(/ ?\n ?/g, '\n')
      .replace(/\n{3,}/g, '\n\n')
      .trim();
  }
  return out;
}
