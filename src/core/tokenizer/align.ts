// Character ranges for the tokens that @huggingface/tokenizers produced for a text.
//
// The library has no offsets API, so we replay the steps that change text (added-token split,
// normalizer, pre-tokenizer) on an Aligned string, which knows the original UTF-16 range of every
// unit, and walk the UTF-8 bytes of the result against the bytes each token stands for. Any
// disagreement (a step we do not model, an unknown token) switches to an approximate alignment for
// the rest of the text; the result always tiles the text.

import { type Aligned, concatPieces, identity, posAt, slice } from './aligned.js';
import { byteFallbackValue, byteLevelToBytes, codePointAt, putUtf8, utf8 } from './bytes.js';
import { AlignmentMismatch, type CompiledPreTokenizer, type NormStep, removeSpaceStep } from './pipeline.js';

export interface AddedInfo {
  id: number;
  content: string;
  lstrip: boolean;
  rstrip: boolean;
  special: boolean;
  normalized: boolean;
}

/** Same splitting as the library's DictionarySplitter: at each position the longest listed word wins. */
export class Splitter {
  private readonly root: TrieNode = { next: new Map(), word: null };
  constructor(words: Iterable<string>) {
    for (const w of words) {
      let node = this.root;
      for (let i = 0; i < w.length; i++) {
        const ch = w[i]!;
        let n = node.next.get(ch);
        if (!n) node.next.set(ch, (n = { next: new Map(), word: null }));
        node = n;
      }
      node.word = w;
    }
  }
  get empty(): boolean {
    return this.root.next.size === 0;
  }
  /** Ranges [from, to) tiling `text`: matched words and the text between them. */
  split(text: string): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    if (this.empty) return text.length > 0 ? [[0, text.length]] : [];
    let start = 0;
    let i = 0;
    const n = text.length;
    while (i < n) {
      let node: TrieNode | undefined = this.root;
      let match: string | null = null;
      for (let j = i; j < n; j++) {
        node = node.next.get(text[j]!);
        if (!node) break;
        if (node.word !== null) match = node.word;
      }
      if (match !== null) {
        if (i > start) out.push([start, i]);
        out.push([i, i + match.length]);
        i += match.length;
        start = i;
      } else {
        i++;
      }
    }
    if (start < n) out.push([start, n]);
    return out;
  }
}
interface TrieNode {
  next: Map<string, TrieNode>;
  word: string | null;
}

export interface AlignContext {
  /** Added tokens by content (and by normalized content), as the library's added_tokens_map. */
  added: Map<string, AddedInfo>;
  unnormalizedSplitter: Splitter;
  normalizedSplitter: Splitter;
  /** null: a step we cannot replay; alignment is then approximate. */
  normalize: NormStep | null;
  removeSpace: boolean;
  pre: CompiledPreTokenizer | null;
  byteFallback: boolean;
  unkToken: string | null;
  /** Decorations the model adds to pieces (WordPiece `##`, BPE end-of-word suffixes) that are not text. */
  stripPrefixes: string[];
  stripSuffixes: string[];
  /** Display length of a token (for approximate alignment). */
  weight(token: string): number;
}

interface Part {
  text: string;
  from: number;
  to: number;
  /** Original range; for an added token it includes whitespace eaten by lstrip/rstrip. */
  rs: number;
  re: number;
}

/** The library's added-token split of one string, including its lstrip/rstrip trimming. */
function splitAdded(a: Aligned, splitter: Splitter, added: Map<string, AddedInfo>): Part[] {
  const parts: Part[] = splitter.split(a.text).map(([from, to]) => ({
    text: a.text.slice(from, to),
    from,
    to,
    rs: posAt(a, from),
    re: posAt(a, to),
  }));
  for (let i = 0; i < parts.length; i++) {
    const tok = added.get(parts[i]!.text);
    if (!tok) continue;
    if (tok.lstrip && i > 0) {
      const prev = parts[i - 1]!;
      const trimmed = prev.text.trimEnd();
      prev.to -= prev.text.length - trimmed.length;
      prev.text = trimmed;
      prev.re = posAt(a, prev.to);
      parts[i]!.rs = prev.re;
    }
    if (tok.rstrip && i < parts.length - 1) {
      const next = parts[i + 1]!;
      const trimmed = next.text.trimStart();
      next.from += next.text.length - trimmed.length;
      next.text = trimmed;
      next.rs = next.from < next.to ? posAt(a, next.from) : next.re;
      parts[i]!.re = next.rs;
    }
  }
  return parts;
}

/** UTF-8 bytes of an aligned string, with the original range of each code point. */
interface ByteStream {
  bytes: Uint8Array;
  length: number;
  byteCp: Int32Array;
  cpFirstByte: number[];
  cpS: number[];
  cpE: number[];
}

function toByteStream(a: Aligned): ByteStream {
  const n = a.text.length;
  const bytes = new Uint8Array(n * 3);
  const byteCp = new Int32Array(n * 3);
  const cpFirstByte: number[] = [];
  const cpS: number[] = [];
  const cpE: number[] = [];
  let at = 0;
  for (let i = 0; i < n; ) {
    const { cp, units } = codePointAt(a.text, i);
    const k = cpS.length;
    cpFirstByte.push(at);
    cpS.push(a.s[i]!);
    cpE.push(a.e[i + units - 1]!);
    const end = putUtf8(bytes, at, cp);
    byteCp.fill(k, at, end);
    at = end;
    i += units;
  }
  return { bytes, length: at, byteCp, cpFirstByte, cpS, cpE };
}

export interface AlignResult {
  ranges: Array<[number, number]>;
  /** False when (part of) the text was aligned approximately. */
  exact: boolean;
}

/**
 * Ranges of `tokens` (the library's token strings for `text`, no special tokens added) in `text`.
 * A token that starts inside a code point another token started gets an empty range at that code
 * point's end; a token that ends inside a code point covers the whole code point.
 */
export function alignTokens(ctx: AlignContext, text: string, tokens: readonly string[]): AlignResult {
  const ranges: Array<[number, number]> = [];
  let t = 0;
  let exact = true;
  const bytesCache = new Map<string, Uint8Array | null>();

  const pieceBytes = (tok: string, byteLevel: boolean): Uint8Array | null => {
    const key = (byteLevel ? 'b' : 'u') + tok;
    let b = bytesCache.get(key);
    if (b === undefined) {
      if (byteLevel) b = byteLevelToBytes(tok);
      else {
        const v = ctx.byteFallback ? byteFallbackValue(tok) : -1;
        b = v >= 0 ? Uint8Array.of(v) : utf8(tok);
      }
      bytesCache.set(key, b);
    }
    return b;
  };
  const matchAt = (bs: ByteStream, pos: number, b: Uint8Array | null): boolean => {
    if (!b || b.length === 0 || pos + b.length > bs.length) return false;
    for (let k = 0; k < b.length; k++) if (bs.bytes[pos + k] !== b[k]) return false;
    return true;
  };
  /** Bytes consumed by `tok` at `pos`, or -1. */
  const matchLen = (bs: ByteStream, pos: number, tok: string, byteLevel: boolean): number => {
    const b = pieceBytes(tok, byteLevel);
    if (matchAt(bs, pos, b)) return b!.length;
    if (!byteLevel) {
      for (const p of ctx.stripPrefixes) {
        if (p && tok.startsWith(p) && tok.length > p.length) {
          const c = utf8(tok.slice(p.length));
          if (matchAt(bs, pos, c)) return c.length;
        }
      }
      for (const s of ctx.stripSuffixes) {
        if (s && tok.endsWith(s) && tok.length > s.length) {
          const c = utf8(tok.slice(0, tok.length - s.length));
          if (matchAt(bs, pos, c)) return c.length;
        }
      }
    }
    return -1;
  };
  const nextCp = (bs: ByteStream, pos: number): number => {
    const k = bs.byteCp[pos]!;
    return k + 1 < bs.cpFirstByte.length ? bs.cpFirstByte[k + 1]! : bs.length;
  };
  const rangeOf = (bs: ByteStream, a: number, b: number): [number, number] => {
    const c0 = bs.byteCp[a]!;
    const c1 = bs.byteCp[b - 1]!;
    const start = bs.cpFirstByte[c0] === a ? bs.cpS[c0]! : bs.cpE[c0]!;
    return [start, bs.cpE[c1]!];
  };

  const emitAdded = (part: Part): void => {
    if (tokens[t] !== part.text) throw new AlignmentMismatch('added token expected');
    ranges.push([part.rs, part.re]);
    t++;
  };

  const emitText = (joined: Aligned, byteLevel: boolean): void => {
    const bs = toByteStream(joined);
    let pos = 0;
    while (pos < bs.length) {
      const tok = tokens[t];
      if (tok === undefined) throw new AlignmentMismatch('ran out of tokens');
      let m = matchLen(bs, pos, tok, byteLevel);
      if (m < 0 && ctx.unkToken !== null && tok === ctx.unkToken) {
        // An unknown token: at least one code point, then up to where the next token fits.
        let end = nextCp(bs, pos);
        const next = tokens[t + 1];
        if (next === undefined) end = bs.length;
        else if (next !== ctx.unkToken) {
          while (end < bs.length && matchLen(bs, end, next, byteLevel) < 0) end = nextCp(bs, end);
        }
        m = end - pos;
      }
      if (m <= 0) throw new AlignmentMismatch('token bytes differ from the text');
      ranges.push(rangeOf(bs, pos, pos + m));
      pos += m;
      t++;
    }
  };

  try {
    const { normalize, pre } = ctx;
    if (normalize === null || pre === null) throw new AlignmentMismatch('unsupported pipeline');
    const top = identity(text, 0);
    const sections = splitAdded(top, ctx.unnormalizedSplitter, ctx.added);
    sections.forEach((sec, sectionIndex) => {
      if (sec.text.length === 0) return;
      if (ctx.added.has(sec.text)) return emitAdded(sec);
      let a = slice(top, sec.from, sec.to);
      if (ctx.removeSpace) a = removeSpaceStep(a);
      a = normalize(a);
      if (a.text.length === 0) return;
      for (const sub of splitAdded(a, ctx.normalizedSplitter, ctx.added)) {
        if (sub.text.length === 0) continue;
        if (ctx.added.has(sub.text)) {
          emitAdded(sub);
          continue;
        }
        const s = slice(a, sub.from, sub.to);
        const pieces = pre.step([s], sectionIndex);
        emitText(concatPieces(pieces, s.base, s.end), pre.byteLevel);
      }
    });
    if (t !== tokens.length) throw new AlignmentMismatch('tokens left over');
  } catch (err) {
    // Never let alignment break encoding: approximate the rest.
    void err;
    exact = false;
    const from = ranges.length > 0 ? ranges[ranges.length - 1]![1] : 0;
    approximate(ctx, text, tokens, t, from, ranges);
  }
  // In exact mode ranges never overlap; if they did, say so rather than hide it.
  if (tile(text, ranges)) exact = false;
  return { ranges, exact };
}

function isLowSurrogateAt(text: string, k: number): boolean {
  if (k <= 0 || k >= text.length) return false;
  const c = text.charCodeAt(k);
  const p = text.charCodeAt(k - 1);
  return c >= 0xdc00 && c <= 0xdfff && p >= 0xd800 && p <= 0xdbff;
}

/** Spread tokens[t..] over text[from..] in proportion to their display lengths, never splitting a surrogate pair. */
function approximate(
  ctx: AlignContext,
  text: string,
  tokens: readonly string[],
  t: number,
  from: number,
  ranges: Array<[number, number]>,
): void {
  ranges.length = t;
  const rest = tokens.slice(t);
  if (rest.length === 0) return;
  const w = rest.map((tok) => Math.max(1, ctx.weight(tok)));
  const total = w.reduce((x, y) => x + y, 0);
  const span = text.length - from;
  let acc = 0;
  let prev = from;
  for (let i = 0; i < rest.length; i++) {
    acc += w[i]!;
    let end = i === rest.length - 1 ? text.length : from + Math.round((span * acc) / total);
    if (isLowSurrogateAt(text, end)) end++;
    end = Math.min(text.length, Math.max(prev, end));
    ranges.push([prev, end]);
    prev = end;
  }
}

/**
 * Make ranges tile [0, text.length): gaps (text no token holds) go to the previous token (or the
 * first), overlaps are cut. Returns true when an overlap had to be cut.
 */
function tile(text: string, ranges: Array<[number, number]>): boolean {
  if (ranges.length === 0) return false;
  let overlap = false;
  ranges[0]![0] = 0;
  for (let i = 1; i < ranges.length; i++) {
    const prev = ranges[i - 1]!;
    const cur = ranges[i]!;
    if (cur[0] > prev[1]) prev[1] = cur[0];
    else if (cur[0] < prev[1]) {
      overlap = true;
      cur[0] = prev[1];
    }
    if (cur[1] < cur[0]) {
      overlap = true;
      cur[1] = cur[0];
    }
  }
  const last = ranges[ranges.length - 1]!;
  if (last[1] > text.length) overlap = true;
  last[1] = text.length;
  return overlap;
}
