/**
 * Just enough RFC 5322 / MIME to turn a raw email into "subject + readable body" for text
 * classification: headers are unfolded, encoded-words decoded, multipart bodies walked for
 * text/plain and text/html parts (tags stripped), quoted-printable and base64 undone.
 * Attachments and other non-text parts are left out on purpose: they are not text.
 */

interface Part {
  headers: Map<string, string>;
  body: string;
}

function splitPart(raw: string): Part {
  const m = /\r?\n\r?\n/.exec(raw);
  const head = m ? raw.slice(0, m.index) : raw;
  const body = m ? raw.slice(m.index + m[0].length) : '';
  const headers = new Map<string, string>();
  // Folded header lines start with whitespace and continue the previous header.
  const unfolded = head.replace(/\r?\n[ \t]+/g, ' ');
  for (const line of unfolded.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (!headers.has(name)) headers.set(name, line.slice(colon + 1).trim());
  }
  return { headers, body };
}

function decodeBytes(bytes: Buffer, charset: string | undefined): string {
  try {
    return new TextDecoder(charset || 'latin1').decode(bytes);
  } catch {
    // Unknown or misspelled charset names are common in spam; latin1 never fails.
    return bytes.toString('latin1');
  }
}

function quotedPrintableBytes(text: string, underscoreIsSpace: boolean): Buffer {
  const soft = text.replace(/=\r?\n/g, '');
  const src = underscoreIsSpace ? soft.replace(/_/g, ' ') : soft;
  const out: number[] = [];
  for (let i = 0; i < src.length; i++) {
    const hex = src[i] === '=' ? src.slice(i + 1, i + 3) : '';
    if (/^[0-9A-Fa-f]{2}$/.test(hex)) {
      out.push(parseInt(hex, 16));
      i += 2;
    } else out.push(src.charCodeAt(i) & 0xff);
  }
  return Buffer.from(out);
}

/** RFC 2047: =?charset?B|Q?text?= inside headers such as Subject. */
export function decodeEncodedWords(value: string): string {
  return value
    .replace(/(=\?[^?]+\?[BbQq]\?[^?]*\?=)\s+(?==\?)/g, '$1')
    .replace(/=\?([^?]+)\?([BbQq])\?([^?]*)\?=/g, (_, charset: string, enc: string, text: string) => {
      const bytes = enc.toUpperCase() === 'B' ? Buffer.from(text, 'base64') : quotedPrintableBytes(text, true);
      return decodeBytes(bytes, charset.split('*')[0]);
    });
}

function param(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  const m = new RegExp(`${name}\\s*=\\s*(?:"([^"]*)"|([^;\\s]+))`, 'i').exec(header);
  return m ? (m[1] ?? m[2]) : undefined;
}

const ENTITIES: Record<string, string> = { nbsp: ' ', amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function htmlToText(html: string): string {
  return html
    .replace(/<(script|style)[^>]*>[\s\S]*?<\/\1>/gi, ' ')
    .replace(/<br\s*\/?>|<\/p>|<\/div>|<\/tr>/gi, '\n')
    .replace(/<[^>]*>/g, ' ')
    .replace(/&(#\d+|#x[0-9a-f]+|[a-z]+);/gi, (all, e: string) => {
      if (e[0] === '#') {
        const code = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
        return Number.isFinite(code) && code > 0 && code < 0x110000 ? String.fromCodePoint(code) : ' ';
      }
      return ENTITIES[e.toLowerCase()] ?? all;
    });
}

function decodeBody(part: Part): string {
  const encoding = (part.headers.get('content-transfer-encoding') ?? '').toLowerCase();
  const charset = param(part.headers.get('content-type'), 'charset');
  if (encoding === 'base64') return decodeBytes(Buffer.from(part.body.replace(/\s+/g, ''), 'base64'), charset);
  if (encoding === 'quoted-printable') return decodeBytes(quotedPrintableBytes(part.body, false), charset);
  return part.body;
}

const MAX_DEPTH = 8;

function textOf(part: Part, depth: number): string[] {
  const type = (part.headers.get('content-type') ?? 'text/plain').toLowerCase();
  if (type.startsWith('multipart/') && depth < MAX_DEPTH) {
    const boundary = param(part.headers.get('content-type'), 'boundary');
    if (!boundary) return [part.body];
    const chunks = part.body.split(`--${boundary}`).slice(1);
    // The closing "--boundary--" leaves an epilogue, not a part; the line break before each
    // boundary belongs to the boundary (RFC 2046), not to the part's text.
    return chunks
      .filter((c) => !c.startsWith('--'))
      .flatMap((c) => textOf(splitPart(c.replace(/^\r?\n/, '').replace(/\r?\n$/, '')), depth + 1));
  }
  if (type.startsWith('message/rfc822') && depth < MAX_DEPTH) return textOf(splitPart(part.body), depth + 1);
  if (!type.startsWith('text/')) return [];
  const text = decodeBody(part);
  return [type.startsWith('text/html') ? htmlToText(text) : text];
}

/** Subject and readable body text of a raw email, whitespace tidied. */
export function emailText(raw: string): { subject: string; body: string } {
  const top = splitPart(raw);
  const subject = decodeEncodedWords(top.headers.get('subject') ?? '').trim();
  const body = textOf(top, 0)
    .join('\n')
    .replace(/[ \t\u00a0]+/g, ' ')
    .replace(/ ?\r?\n ?/g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
  return { subject, body };
}
