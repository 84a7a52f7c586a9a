// A string with, for each of its UTF-16 units, the range [s, e) of the ORIGINAL text it came from.
// Invariant ("contiguous"): s[0] = base, e[i] = s[i + 1], e[last] = end; an empty string covers
// [base, end) with base = end. Every edit keeps the invariant, so ranges of consecutive units
// always tile the original range of the whole string.

export interface Aligned {
  readonly text: string;
  readonly s: readonly number[];
  readonly e: readonly number[];
  readonly base: number;
  readonly end: number;
}

/** `text` as it stands at `offset` of the original. */
export function identity(text: string, offset: number): Aligned {
  const s = new Array<number>(text.length);
  const e = new Array<number>(text.length);
  for (let i = 0; i < text.length; i++) {
    s[i] = offset + i;
    e[i] = offset + i + 1;
  }
  return { text, s, e, base: offset, end: offset + text.length };
}

/** Original position of the boundary before unit `k` (k may equal the length). */
export function posAt(a: Aligned, k: number): number {
  return k < a.text.length ? a.s[k]! : a.end;
}

export function slice(a: Aligned, from: number, to: number): Aligned {
  const base = posAt(a, from);
  const end = to > from ? posAt(a, to) : base;
  return { text: a.text.slice(from, to), s: a.s.slice(from, to), e: a.e.slice(from, to), base, end };
}

/** Replace units [from, to) by `content`; edits must be sorted and non-overlapping. */
export interface Edit {
  from: number;
  to: number;
  content: string;
}

/**
 * Apply edits. A replacement's first unit gets the whole original range of what it replaces, its
 * other units an empty range at that range's end. An insertion (from = to) gets an empty range at
 * its position. A deletion hands its range to the previous output unit (or, at the very start, to
 * the next one).
 */
export function applyEdits(a: Aligned, edits: readonly Edit[]): Aligned {
  if (edits.length === 0) return a;
  let text = '';
  const s: number[] = [];
  const e: number[] = [];
  let pending: number | null = null;
  const push = (str: string, st: number, en: number): void => {
    for (let k = 0; k < str.length; k++) {
      const first = k === 0;
      let us = first ? st : en;
      if (pending !== null) {
        us = pending;
        pending = null;
      }
      s.push(us);
      e.push(en);
    }
    text += str;
  };
  const copy = (from: number, to: number): void => {
    for (let k = from; k < to; k++) {
      let us = a.s[k]!;
      if (pending !== null) {
        us = pending;
        pending = null;
      }
      s.push(us);
      e.push(a.e[k]!);
    }
    text += a.text.slice(from, to);
  };
  let i = 0;
  for (const ed of edits) {
    copy(i, ed.from);
    const rs = posAt(a, ed.from);
    const re = ed.to > ed.from ? posAt(a, ed.to) : rs;
    if (ed.content.length === 0) {
      if (e.length > 0) e[e.length - 1] = re;
      else pending ??= rs;
    } else {
      push(ed.content, rs, re);
    }
    i = Math.max(i, ed.to);
  }
  copy(i, a.text.length);
  return { text, s, e, base: a.base, end: a.end };
}

/** Edits replacing every match of `re` (a global regex) by the literal `content`. */
export function regexEdits(text: string, re: RegExp, content: string): Edit[] {
  const g = new RegExp(re.source, re.flags.includes('g') ? re.flags : re.flags + 'g');
  const out: Edit[] = [];
  for (const m of text.matchAll(g)) {
    const from = m.index;
    out.push({ from, to: from + m[0].length, content });
  }
  return out;
}

let segmenter: Intl.Segmenter | null = null;

/** Edits applying a character-local function to each grapheme cluster separately. */
export function clusterEdits(text: string, fn: (cluster: string) => string): Edit[] {
  segmenter ??= new Intl.Segmenter(undefined, { granularity: 'grapheme' });
  const out: Edit[] = [];
  for (const seg of segmenter.segment(text)) {
    const r = fn(seg.segment);
    if (r !== seg.segment) out.push({ from: seg.index, to: seg.index + seg.segment.length, content: r });
  }
  return out;
}

/** Edits removing leading and/or trailing whitespace (JS `trim` semantics). */
export function trimEdits(text: string, left: boolean, right: boolean): Edit[] {
  const out: Edit[] = [];
  const l = left ? text.length - text.trimStart().length : 0;
  if (l === text.length) return l > 0 ? [{ from: 0, to: l, content: '' }] : [];
  if (l > 0) out.push({ from: 0, to: l, content: '' });
  const r = right ? text.length - text.trimEnd().length : 0;
  if (r > 0) out.push({ from: text.length - r, to: text.length, content: '' });
  return out;
}

/** Concatenate pieces taken, in order, from one aligned string covering [base, end); gaps between pieces go to the previous unit. */
export function concatPieces(pieces: readonly Aligned[], base: number, end: number): Aligned {
  let text = '';
  const s: number[] = [];
  const e: number[] = [];
  for (const p of pieces) {
    if (p.text.length === 0) continue;
    if (e.length > 0) e[e.length - 1] = p.s[0]!;
    for (let k = 0; k < p.text.length; k++) {
      s.push(p.s[k]!);
      e.push(p.e[k]!);
    }
    text += p.text;
  }
  if (s.length > 0) {
    s[0] = base;
    e[e.length - 1] = end;
  }
  return { text, s, e, base, end };
}
