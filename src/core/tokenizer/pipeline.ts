// Re-runs the text-changing steps of a tokenizer.json pipeline (normalizer, pre-tokenizer) on an
// Aligned string so every output character still knows where it came from. Regexes and
// character-local transforms come from @huggingface/tokenizers' own classes, so the output text is
// the library's; only the bookkeeping of origins is ours. A step type we cannot track makes the
// compile function return null (the caller then aligns approximately).

import {
  BertNormalizer,
  BertPreTokenizer,
  DigitsPreTokenizer,
  FixedLengthPreTokenizer,
  LowercaseNormalizer,
  MetaspacePreTokenizer,
  NFCNormalizer,
  NFDNormalizer,
  NFKCNormalizer,
  NFKDNormalizer,
  PrecompiledNormalizer,
  PunctuationPreTokenizer,
  ReplaceNormalizer,
  ReplacePreTokenizer,
  SplitPreTokenizer,
  StripAccentsNormalizer,
  WhitespacePreTokenizer,
  WhitespaceSplitPreTokenizer,
} from '@huggingface/tokenizers';
import { type Aligned, applyEdits, clusterEdits, regexEdits, slice, trimEdits } from './aligned.js';

type Json = Record<string, unknown>;
export type NormStep = (a: Aligned) => Aligned;
export type PreStep = (pieces: Aligned[], sectionIndex: number) => Aligned[];

// The library's config types are not exported; its constructors accept the raw JSON objects.
type AnyCtor<T> = new (config: never) => T;
function make<T>(ctor: AnyCtor<T>, cfg: Json): T {
  return new ctor(cfg as never);
}

const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Character-local normalizers: applying them per grapheme cluster gives the same text (checked later by byte comparison). */
const LOCAL_NORMALIZERS: Record<string, AnyCtor<{ normalize(t: string): string }>> = {
  NFC: NFCNormalizer,
  NFD: NFDNormalizer,
  NFKC: NFKCNormalizer,
  NFKD: NFKDNormalizer,
  Lowercase: LowercaseNormalizer,
  StripAccents: StripAccentsNormalizer,
  Precompiled: PrecompiledNormalizer,
  BertNormalizer: BertNormalizer,
};

/** Aligned version of a tokenizer.json `normalizer`; null config = identity; null result = unsupported. */
export function compileNormalizer(cfg: unknown): NormStep | null {
  if (cfg === null || cfg === undefined) return (a) => a;
  if (!isObj(cfg)) return null;
  switch (cfg.type) {
    case 'Sequence': {
      const steps = (Array.isArray(cfg.normalizers) ? cfg.normalizers : []).map(compileNormalizer);
      if (steps.some((s) => s === null)) return null;
      return (a) => (steps as NormStep[]).reduce((acc, st) => st(acc), a);
    }
    case 'Prepend': {
      const p = typeof cfg.prepend === 'string' ? cfg.prepend : '';
      return (a) => applyEdits(a, [{ from: 0, to: 0, content: p }]);
    }
    case 'Replace': {
      const r = make(ReplaceNormalizer, cfg);
      const content = typeof cfg.content === 'string' ? cfg.content : '';
      if (r.pattern === null) return (a) => a;
      const re = r.pattern;
      return (a) => applyEdits(a, regexEdits(a.text, re, content));
    }
    case 'Strip': {
      const left = !!cfg.strip_left;
      const right = !!cfg.strip_right;
      return (a) => applyEdits(a, trimEdits(a.text, left, right));
    }
    default: {
      const ctor = typeof cfg.type === 'string' ? LOCAL_NORMALIZERS[cfg.type] : undefined;
      if (!ctor) return null;
      const n = make(ctor, cfg);
      return (a) => applyEdits(a, clusterEdits(a.text, (c) => n.normalize(c)));
    }
  }
}

/** tokenizer_config `remove_space`: trim, then every whitespace run becomes one space. */
export const removeSpaceStep: NormStep = (a) => {
  const t = applyEdits(a, trimEdits(a.text, true, true));
  return applyEdits(t, regexEdits(t.text, /\s+/g, ' '));
};

/** Splitting pre-tokenizers: output pieces are substrings of the input, in order (dropped text in between). */
const SPLITTERS: Record<string, AnyCtor<{ pre_tokenize_text(t: string, o?: unknown): string[] }>> = {
  Split: SplitPreTokenizer,
  Punctuation: PunctuationPreTokenizer,
  Digits: DigitsPreTokenizer,
  Whitespace: WhitespacePreTokenizer,
  WhitespaceSplit: WhitespaceSplitPreTokenizer,
  BertPreTokenizer: BertPreTokenizer,
  FixedLength: FixedLengthPreTokenizer,
};

export class AlignmentMismatch extends Error {}

function splitByLibrary(a: Aligned, parts: string[]): Aligned[] {
  const out: Aligned[] = [];
  let cur = 0;
  for (const p of parts) {
    if (p.length === 0) continue;
    const at = a.text.indexOf(p, cur);
    if (at < 0) throw new AlignmentMismatch('pre-tokenizer piece not found in its input');
    out.push(slice(a, at, at + p.length));
    cur = at + p.length;
  }
  return out;
}

export interface CompiledPreTokenizer {
  step: PreStep;
  /** Output is in GPT-2's byte alphabet (a ByteLevel step, which must then be the last step). */
  byteLevel: boolean;
}

/** Aligned version of a tokenizer.json `pre_tokenizer` (content only: pieces are joined afterwards). */
export function compilePreTokenizer(cfg: unknown): CompiledPreTokenizer | null {
  if (cfg === null || cfg === undefined) return { step: (p) => p, byteLevel: false };
  if (!isObj(cfg)) return null;
  const list = cfg.type === 'Sequence' ? (Array.isArray(cfg.pretokenizers) ? cfg.pretokenizers : []) : [cfg];
  const steps: PreStep[] = [];
  let byteLevel = false;
  for (const c of list) {
    if (!isObj(c) || byteLevel) return null; // nothing may follow ByteLevel
    switch (c.type) {
      case 'ByteLevel': {
        const addPrefix = c.add_prefix_space === true;
        byteLevel = true;
        steps.push((pieces) =>
          addPrefix ? pieces.map((p) => (p.text.startsWith(' ') ? p : applyEdits(p, [{ from: 0, to: 0, content: ' ' }]))) : pieces,
        );
        break;
      }
      case 'Metaspace': {
        const m = make(MetaspacePreTokenizer, c);
        const { replacement, str_rep: rep, prepend_scheme: scheme } = m;
        steps.push((pieces, sectionIndex) =>
          pieces.map((p) => {
            let q = applyEdits(p, regexEdits(p.text, / /g, rep));
            if (!q.text.startsWith(replacement) && (scheme === 'always' || (scheme === 'first' && sectionIndex === 0))) {
              q = applyEdits(q, [{ from: 0, to: 0, content: rep }]);
            }
            return q;
          }),
        );
        break;
      }
      case 'Replace': {
        const r = make(ReplacePreTokenizer, c);
        const re = r.pattern;
        const content = r.content;
        steps.push((pieces) => (re === null ? pieces : pieces.map((p) => applyEdits(p, regexEdits(p.text, re, content)))));
        break;
      }
      default: {
        const ctor = typeof c.type === 'string' ? SPLITTERS[c.type] : undefined;
        if (!ctor) return null;
        const pt = make(ctor, c);
        steps.push((pieces, sectionIndex) =>
          pieces.flatMap((p) => splitByLibrary(p, pt.pre_tokenize_text(p.text, { section_index: sectionIndex }))),
        );
      }
    }
  }
  return { step: (pieces, si) => steps.reduce((acc, st) => st(acc, si), pieces), byteLevel };
}

