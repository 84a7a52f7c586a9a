// Byte helpers for the tokenizer wrapper: GPT-2 byte-level alphabet, UTF-8 encoding of JS strings
// (lone surrogates encode as U+FFFD, exactly like TextEncoder), and readable labels for byte strings.

/** GPT-2's `bytes_to_unicode`: byte value -> the printable character standing for it. */
export const BYTE_TO_CHAR: readonly string[] = (() => {
  const bs: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const cs = bs.slice();
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n);
      n++;
    }
  }
  const out = new Array<string>(256);
  bs.forEach((b, i) => (out[b] = String.fromCharCode(cs[i]!)));
  return out;
})();

/** Inverse of {@link BYTE_TO_CHAR}: UTF-16 code unit -> byte value, or -1. */
export const CHAR_CODE_TO_BYTE: Int16Array = (() => {
  const t = new Int16Array(0x200).fill(-1);
  BYTE_TO_CHAR.forEach((c, b) => (t[c.charCodeAt(0)] = b));
  return t;
})();

/** Bytes of a byte-level (GPT-2 alphabet) token string, or null if a character is outside the alphabet. */
export function byteLevelToBytes(piece: string): Uint8Array | null {
  const out = new Uint8Array(piece.length);
  for (let i = 0; i < piece.length; i++) {
    const c = piece.charCodeAt(i);
    const b = c < CHAR_CODE_TO_BYTE.length ? CHAR_CODE_TO_BYTE[c]! : -1;
    if (b < 0) return null;
    out[i] = b;
  }
  return out;
}

const BYTE_FALLBACK_RE = /^<0x([0-9A-Fa-f]{2})>$/;

/** The byte of a SentencePiece byte-fallback piece such as `<0xE2>`, or -1. */
export function byteFallbackValue(piece: string): number {
  if (piece.length !== 6) return -1;
  const m = BYTE_FALLBACK_RE.exec(piece);
  return m ? parseInt(m[1]!, 16) : -1;
}

const encoder = new TextEncoder();

/** UTF-8 bytes of a JS string (lone surrogates become EF BF BD, as with TextEncoder). */
export function utf8(s: string): Uint8Array {
  return encoder.encode(s);
}

/** Number of UTF-8 bytes of the code point starting at `s[i]`, and how many UTF-16 units it spans. */
export function codePointAt(s: string, i: number): { cp: number; units: 1 | 2 } {
  const c = s.charCodeAt(i);
  if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
    const d = s.charCodeAt(i + 1);
    if (d >= 0xdc00 && d <= 0xdfff) return { cp: ((c - 0xd800) << 10) + (d - 0xdc00) + 0x10000, units: 2 };
  }
  // Lone surrogates are encoded as U+FFFD.
  if (c >= 0xd800 && c <= 0xdfff) return { cp: 0xfffd, units: 1 };
  return { cp: c, units: 1 };
}

/** Append the UTF-8 encoding of code point `cp` to `out` at `at`; returns the new end. */
export function putUtf8(out: Uint8Array, at: number, cp: number): number {
  if (cp < 0x80) {
    out[at++] = cp;
  } else if (cp < 0x800) {
    out[at++] = 0xc0 | (cp >> 6);
    out[at++] = 0x80 | (cp & 0x3f);
  } else if (cp < 0x10000) {
    out[at++] = 0xe0 | (cp >> 12);
    out[at++] = 0x80 | ((cp >> 6) & 0x3f);
    out[at++] = 0x80 | (cp & 0x3f);
  } else {
    out[at++] = 0xf0 | (cp >> 18);
    out[at++] = 0x80 | ((cp >> 12) & 0x3f);
    out[at++] = 0x80 | ((cp >> 6) & 0x3f);
    out[at++] = 0x80 | (cp & 0x3f);
  }
  return at;
}

export function utf8Length(cp: number): number {
  return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

const strictDecoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const lenientDecoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

/** Expected length of a UTF-8 sequence from its lead byte (0 for a byte that cannot start one). */
function seqLength(b: number): number {
  if (b < 0x80) return 1;
  if (b >= 0xc2 && b <= 0xdf) return 2;
  if (b >= 0xe0 && b <= 0xef) return 3;
  if (b >= 0xf0 && b <= 0xf4) return 4;
  return 0;
}

/**
 * Render bytes as text: every complete, valid UTF-8 sequence as its character (whitespace kept as
 * is, a U+FEFF kept), every byte that is not part of one as `\xNN` (lower-case hex). Never yields
 * U+FFFD unless the bytes really encode U+FFFD.
 */
export function bytesToLabel(bytes: Uint8Array): string {
  let out = '';
  let i = 0;
  while (i < bytes.length) {
    const n = seqLength(bytes[i]!);
    if (n > 0 && i + n <= bytes.length) {
      try {
        out += strictDecoder.decode(bytes.subarray(i, i + n));
        i += n;
        continue;
      } catch {
        // not a valid sequence: fall through to \xNN
      }
    }
    out += '\\x' + bytes[i]!.toString(16).padStart(2, '0');
    i++;
  }
  return out;
}

/** Lenient UTF-8 decoding (invalid sequences become U+FFFD); keeps a leading U+FEFF. */
export function decodeUtf8Lenient(bytes: Uint8Array): string {
  return lenientDecoder.decode(bytes);
}
