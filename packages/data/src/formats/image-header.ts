/**
 * Width and height from the first bytes of a PNG (the IHDR chunk) or JPEG (the first
 * start-of-frame marker), read before any decoder runs so that a header declaring a huge
 * image is refused instead of decoded; undefined for other formats or an unreadable header.
 */
export function imageHeaderSize(bytes: Uint8Array): { width: number; height: number; format: string } | undefined {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length >= 24 && buf.readUInt32BE(0) === 0x89504e47 && buf.readUInt32BE(4) === 0x0d0a1a0a && buf.toString('latin1', 12, 16) === 'IHDR') {
    return { width: buf.readUInt32BE(16), height: buf.readUInt32BE(20), format: 'PNG' };
  }
  if (buf.length < 4 || buf[0] !== 0xff || buf[1] !== 0xd8) return undefined;
  // JPEG: walk the marker segments (0xFF, code, 2-byte length) to the first SOFn.
  let at = 2;
  while (at + 4 <= buf.length) {
    if (buf[at] !== 0xff) return undefined;
    const code = buf[at + 1];
    if (code === 0xff) {
      at++; // fill byte
      continue;
    }
    if (code === 0x01 || (code >= 0xd0 && code <= 0xd9)) {
      at += 2; // markers without a length
      continue;
    }
    const length = buf.readUInt16BE(at + 2);
    const isFrame = code >= 0xc0 && code <= 0xcf && code !== 0xc4 && code !== 0xc8 && code !== 0xcc;
    if (isFrame) return at + 9 <= buf.length ? { height: buf.readUInt16BE(at + 5), width: buf.readUInt16BE(at + 7), format: 'JPEG' } : undefined;
    at += 2 + length;
  }
  return undefined;
}
