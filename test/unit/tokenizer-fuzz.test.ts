// Fuzz: 10,000 seeded random strings, each encoded with ALL THREE shared tokenizers (gpt2,
// stories260K, llama2). Every encode must give the library's ids, an exact alignment that tiles the
// text, token bytes equal to the text's bytes, spans equal to an independent oracle, and (where the
// text is representable) decode must give the text back.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LensTokenizer } from '../../src/core/tokenizer.js';
import { checkEncode, libraryTokenizer, prng, SHARED_TOKENIZERS, skipUnlessShared } from './tokenizer-helpers.js';

const N = 10_000;

const ATOMS: string[][] = [
  ['the', 'Hello', 'world', 'x', 'don\'t', "it's", 'ABC', 'q', 'zz', 'Lorem', 'ipsum', 'a', 'I'],
  [' ', '  ', '   ', '    ', '\u00a0', '\u3000', '\u2003'],
  ['\t', '\t\t', '\r\n', '\n', '\n\n', '\r', '\v', '\f'],
  ['.', ',', '!', '?', '...', '-', '(', ')', '"', "'", '$', '%', '<', '>', '/', '#', '{', '}', '\\'],
  ['0', '7', '42', '2024', '3.14', '1e9'],
  ['👍', '👍🏽', '👨‍👩‍👧‍👦', '🏳️‍🌈', '🧑🏿‍💻', '❤️', '😀', '🇫🇷', '\u200d', '\ufe0f'],
  ['中文', '日本語', '한국어', '漢', 'ひらがな', 'カタカナ', '。', '，'],
  ['مرحبا', 'שלום', 'سلام', 'עברית', '\u200f', '\u200e', '\u202e'],
  ['e\u0301', 'a\u0308\u0323', '\u0301', 'n\u0303', 'ﬁ', 'Å', 'é', 'ß', 'İ', 'Σ'],
  ['\ud800', '\udfff', '\udc00\ud800', '\ud83d', 'a\ude00'],
  ['\u0000', '\u0001', '\u001b', '\u007f', '\u0085', '\ufeff', '\ufffd', '\u2028'],
  ['\u2581', '\u2581\u2581', 'Ġ', 'Ċ'],
];

function randomChar(r: () => number): string {
  const x = r();
  if (x < 0.4) return String.fromCharCode(0x20 + Math.floor(r() * 0x5f));
  if (x < 0.8) return String.fromCharCode(Math.floor(r() * 0x10000));
  return String.fromCodePoint(0x10000 + Math.floor(r() * 0x10000));
}

function randomString(r: () => number, specials: string[]): string {
  const long = r() < 0.01;
  const n = long ? 100 + Math.floor(r() * 200) : Math.floor(r() * 20);
  let s = '';
  for (let i = 0; i < n; i++) {
    const x = r();
    if (x < 0.1) s += randomChar(r);
    else if (x < 0.12) s += specials[Math.floor(r() * specials.length)]!;
    else {
      const group = ATOMS[Math.floor(r() * ATOMS.length)]!;
      s += group[Math.floor(r() * group.length)]!;
    }
  }
  return s;
}

const hasLoneSurrogate = (s: string): boolean => /\p{Cs}/u.test(s.replace(/[\ud800-\udbff][\udc00-\udfff]/g, ''));
const SPECIALS = ['<|endoftext|>', '<s>', '</s>', '<unk>'];

const skip = SHARED_TOKENIZERS.map((t) => skipUnlessShared(t.dir)).find((s) => s !== false) ?? false;

test(`fuzz: ${N} random strings × 3 shared tokenizers`, { skip }, async () => {
  const toks = await Promise.all(
    SHARED_TOKENIZERS.map(async (st) => ({ st, tok: await LensTokenizer.load(st.dir), lib: libraryTokenizer(st.dir) })),
  );
  const r = prng(0x1e75);
  const problems: string[] = [];
  let roundTrips = 0;
  let partialChars = 0;
  const time = new Map<string, number>();
  for (let i = 0; i < N; i++) {
    const text = randomString(r, SPECIALS);
    for (const { st, tok, lib } of toks) {
      const t0 = performance.now();
      const p = checkEncode(tok, lib, st, text);
      time.set(st.name, (time.get(st.name) ?? 0) + performance.now() - t0);
      if (p && problems.length < 10) problems.push(`${st.name} ${JSON.stringify(text)}: ${p}`);
      // decode is the inverse of encode for text the tokenizer can represent exactly.
      const plain = !SPECIALS.some((s) => text.includes(s)) && !hasLoneSurrogate(text) && !(st.metaspace && text.includes('\u2581'));
      const spans = tok.encode(text);
      if (plain) {
        const back = tok.decode(spans.map((s) => s.id));
        if (back !== text && problems.length < 10) problems.push(`${st.name} decode(encode(${JSON.stringify(text)})) = ${JSON.stringify(back)}`);
        roundTrips++;
      }
      for (let k = 1; k < spans.length; k++) if (spans[k]!.start === spans[k]!.end) partialChars++;
    }
  }
  const ms = [...time].map(([n, t]) => `${n} ${(t / 1000).toFixed(1)}s`).join(', ');
  console.log(`# fuzz: ${N} strings × ${toks.length} tokenizers; ${roundTrips} decode round trips; ${partialChars} empty-range (inside-a-character) tokens; encode+check time: ${ms}`);
  assert.deepEqual(problems, []);
  assert.ok(partialChars > 1000, 'the fuzz should exercise tokens inside multi-byte characters');
});
