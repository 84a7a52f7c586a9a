// Shared helpers for the tokenizer tests: where ../shared is, and an independent oracle of token
// ranges for the three shared tokenizers (whose normalization is simple enough to state directly).

import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tokenizer } from '@huggingface/tokenizers';
import type { LensTokenizer } from '../../src/core/tokenizer.js';
import type { TokenSpan } from '../../src/core/types.js';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const sharedDir = path.resolve(repoRoot, '../shared');

export interface SharedTok {
  name: string;
  dir: string;
  /** Metaspace-style: Prepend "▁" + Replace " "→"▁" per section; otherwise GPT-2 byte-level (no normalization). */
  metaspace: boolean;
  specials: string[];
}

export const SHARED_TOKENIZERS: SharedTok[] = [
  { name: 'gpt2', dir: path.join(sharedDir, 'tokenizers/gpt2'), metaspace: false, specials: ['<|endoftext|>'] },
  { name: 'stories260K', dir: path.join(sharedDir, 'models/stories260K'), metaspace: true, specials: ['<unk>', '<s>', '</s>'] },
  { name: 'llama2', dir: path.join(sharedDir, 'tokenizers/llama2'), metaspace: true, specials: ['<unk>', '<s>', '</s>'] },
];

/** Skip reason when a shared tokenizer is missing, else false. */
export function skipUnlessShared(dir: string): string | false {
  return existsSync(path.join(dir, 'tokenizer.json'))
    ? false
    : `needs ${path.join(dir, 'tokenizer.json')} (read-only shared data at ../shared is missing in this checkout)`;
}

export function readJson(file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
}

/** A plain @huggingface/tokenizers instance for the folder (reference ids). */
export function libraryTokenizer(dir: string): Tokenizer {
  const cfgFile = path.join(dir, 'tokenizer_config.json');
  return new Tokenizer(readJson(path.join(dir, 'tokenizer.json')), existsSync(cfgFile) ? readJson(cfgFile) : {});
}

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { ignoreBOM: true });
export const utf8 = (s: string): Uint8Array => enc.encode(s);
export const fromUtf8 = (b: Uint8Array): string => dec.decode(b);
/** What a string looks like after a UTF-8 round trip (lone surrogates → U+FFFD). */
export const wellFormed = (s: string): string => dec.decode(enc.encode(s));

export function concatBytes(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Split `text` on the special-token strings (longest match first), as the library's added-token split does. */
export function splitSpecials(text: string, specials: string[]): Array<{ text: string; start: number; special: boolean }> {
  if (specials.length === 0) return [{ text, start: 0, special: false }];
  const sorted = [...specials].sort((a, b) => b.length - a.length);
  const re = new RegExp(sorted.map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'g');
  const out: Array<{ text: string; start: number; special: boolean }> = [];
  let last = 0;
  for (const m of text.matchAll(re)) {
    if (m.index > last) out.push({ text: text.slice(last, m.index), start: last, special: false });
    out.push({ text: m[0], start: m.index, special: true });
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push({ text: text.slice(last), start: last, special: false });
  return out;
}

/**
 * Independent oracle: for a text section, the "bytes as the model sees them" (tokenBytes space:
 * metaspace "▁" written as a space) and, for each byte, the original code point range it belongs
 * to. Metaspace sections get a dummy-prefix space that covers no character.
 */
export function sectionOracle(sec: { text: string; start: number }, metaspace: boolean) {
  const bytes: number[] = [];
  const cpOfByte: Array<{ s: number; e: number; first: number }> = [];
  const push = (bs: Uint8Array, s: number, e: number): void => {
    const first = bytes.length;
    for (const b of bs) {
      bytes.push(b);
      cpOfByte.push({ s, e, first });
    }
  };
  if (metaspace) push(Uint8Array.of(0x20), sec.start, sec.start);
  for (let i = 0; i < sec.text.length; ) {
    const cp = sec.text.codePointAt(i)!;
    const units = cp > 0xffff ? 2 : 1;
    let ch = sec.text.slice(i, i + units);
    if (metaspace && ch === '\u2581') ch = ' ';
    push(utf8(ch), sec.start + i, sec.start + i + units);
    i += units;
  }
  return { bytes: Uint8Array.from(bytes), cpOfByte };
}

/** Mulberry32: small seeded PRNG (the fixtures' generator). */
export { mulberry32 as prng } from '../helpers/fixtures';

/** Assert-free tiling check; returns a problem description or null. */
export function tilingProblem(text: string, spans: TokenSpan[]): string | null {
  if (text.length === 0) return spans.length === 0 ? null : 'tokens for empty text';
  if (spans.length === 0) return 'no tokens';
  if (spans[0]!.start !== 0) return `first start ${spans[0]!.start}`;
  for (let i = 0; i < spans.length; i++) {
    const s = spans[i]!;
    if (s.start > s.end) return `span ${i} start > end`;
    if (i > 0 && s.start !== spans[i - 1]!.end) return `span ${i} does not start where ${i - 1} ends`;
    if (s.text !== text.slice(s.start, s.end)) return `span ${i} text differs from its slice`;
  }
  if (spans[spans.length - 1]!.end !== text.length) return 'last end is not text.length';
  return null;
}

/**
 * Full check of one encode against the oracle: ids, tiling, token bytes = oracle bytes, every span
 * equal to the documented rule, every run of tokens ending on a character boundary decoding to
 * exactly its characters. Returns a problem description or null.
 */
export function checkEncode(tok: LensTokenizer, lib: Tokenizer, st: SharedTok, text: string): string | null {
  const info = tok.encodeWithInfo(text);
  const spans = info.spans;
  const ids = spans.map((s) => s.id);
  const ref = text.length === 0 ? [] : lib.encode(text, { add_special_tokens: false }).ids;
  if (ids.join(',') !== ref.join(',')) return `ids ${ids.join(',')} != library ${ref.join(',')}`;
  if (!info.exact) return 'alignment was not exact';
  const tp = tilingProblem(text, spans);
  if (tp) return tp;
  let k = 0;
  for (const sec of splitSpecials(text, st.specials)) {
    if (sec.special) {
      const s = spans[k++];
      if (!s || s.text !== sec.text || s.start !== sec.start || tok.tokenBytes(s.id) !== null) return `special ${sec.text} at ${sec.start} misplaced`;
      continue;
    }
    const o = sectionOracle(sec, st.metaspace);
    let pos = 0;
    let groupStart = -1;
    let groupStartByte = 0;
    let groupBytes: Uint8Array[] = [];
    while (pos < o.bytes.length) {
      const s = spans[k];
      if (!s) return `ran out of tokens in section at ${sec.start}`;
      const b = tok.tokenBytes(s.id);
      if (!b || b.length === 0) return `token ${s.id} has no bytes`;
      for (let j = 0; j < b.length; j++) if (o.bytes[pos + j] !== b[j]) return `token ${k} (${s.id}) bytes differ from the text at byte ${pos}`;
      const c0 = o.cpOfByte[pos]!;
      const c1 = o.cpOfByte[pos + b.length - 1]!;
      const expStart = c0.first === pos ? c0.s : c0.e;
      if (s.start !== expStart || s.end !== c1.e) return `token ${k} (${s.id}) range [${s.start},${s.end}) expected [${expStart},${c1.e})`;
      if (groupStart < 0) {
        groupStart = s.start;
        groupStartByte = pos;
      }
      groupBytes.push(b);
      pos += b.length;
      const atBoundary = pos === o.bytes.length || o.cpOfByte[pos]!.first === pos;
      if (atBoundary) {
        const decoded = fromUtf8(concatBytes(groupBytes));
        let want = text.slice(groupStart, s.end);
        if (st.metaspace) want = want.replaceAll('\u2581', ' ');
        if (st.metaspace && groupStartByte === 0) want = ' ' + want; // the dummy prefix
        if (decoded !== wellFormed(want)) return `tokens ending at ${s.end} decode to ${JSON.stringify(decoded)}, text is ${JSON.stringify(want)}`;
        groupStart = -1;
        groupBytes = [];
      }
      k++;
    }
  }
  if (k !== spans.length) return `${spans.length - k} tokens beyond the text`;
  return null;
}
