// The character-level tokenizer shared by the character models (tools/train/tokenizers/char):
// one token per ASCII character, byte fallback for anything else, exact ranges, and
// decode(encode(x)) == x over the corpora (tinyshakespeare whole, the first 200,000 characters of the others).

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { LensTokenizer } from '../../src/core/tokenizer';
import { repoRoot, sharedDir, skipNoShared, tempDir } from '../helpers/shared';

const charDir = path.join(repoRoot, 'tools/train/tokenizers/char');
const tmp = tempDir('lens-chartok-');
after(() => rmSync(tmp, { recursive: true, force: true }));

test('char tokenizer: committed files are what make_char_tokenizer.py writes', (t) => {
  try {
    execFileSync('python3', [path.join(repoRoot, 'tools/train/make_char_tokenizer.py'), tmp], { encoding: 'utf8' });
  } catch {
    t.skip('python3 is not available to regenerate the tokenizer');
    return;
  }
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) {
    assert.equal(readFileSync(path.join(tmp, f), 'utf8'), readFileSync(path.join(charDir, f), 'utf8'), f);
  }
});

test('char tokenizer: one token per character, byte fallback, exact ranges', async () => {
  const tok = await LensTokenizer.load(charDir);
  assert.equal(tok.vocabSize, 356);
  assert.equal(tok.bosId, 1);
  assert.equal(tok.eosId, 2);
  assert.equal(tok.kind, 'metaspace');
  const text = 'To be,\tor not to be:  that is the question!\n£5 — café 😀';
  const { spans, exact } = tok.encodeWithInfo(text);
  assert.equal(exact, true);
  assert.equal(tok.decode(spans.map((s) => s.id)), text);
  // ASCII: one token each, id 259 + position in [\t, \n, ' '..'~'].
  const ascii = 'To be,\tor not to be:  that is the question!\n';
  for (let i = 0; i < ascii.length; i++) {
    const c = ascii.charCodeAt(i);
    assert.equal(spans[i]!.id, c === 9 ? 259 : c === 10 ? 260 : 261 + c - 32, JSON.stringify(ascii[i]));
    assert.deepEqual([spans[i]!.start, spans[i]!.end], [i, i + 1]);
  }
  // Non-ASCII: its UTF-8 bytes as <0xNN> pieces (ids 3 + byte), which together cover that character.
  const pound = spans.slice(ascii.length, ascii.length + 2);
  assert.deepEqual(pound.map((s) => s.id), [3 + 0xc2, 3 + 0xa3]);
  assert.deepEqual([pound[0]!.start, pound[1]!.end], [ascii.length, ascii.length + 1]);
  const emoji = spans.slice(-4);
  assert.deepEqual(emoji.map((s) => s.id), [0xf0, 0x9f, 0x98, 0x80].map((b) => 3 + b));
  assert.deepEqual([emoji[0]!.start, emoji[3]!.end], [text.length - 2, text.length]);
});

test('char tokenizer: round trip and exact ranges over the corpora', { skip: skipNoShared }, async () => {
  const tok = await LensTokenizer.load(charDir);
  const corpora = path.join(sharedDir, 'corpora');
  const files = ['tinyshakespeare.txt', 'kjv.txt', 'brown.txt', 'devils-dictionary.txt', 'jargon.txt', ...readdirSync(path.join(corpora, 'janeausten')).map((f) => `janeausten/${f}`)];
  for (const f of files) {
    const full = readFileSync(path.join(corpora, f), 'utf8');
    const text = f === 'tinyshakespeare.txt' ? full : full.slice(0, 200_000);
    const { spans, exact } = tok.encodeWithInfo(text);
    assert.equal(exact, true, f);
    assert.equal(tok.decode(spans.map((s) => s.id)), text, f);
    const ascii = [...text].filter((c) => c.charCodeAt(0) < 128).length;
    const multi = spans.length - ascii;
    assert.ok(multi >= 0 && multi <= 4 * (text.length - ascii), `${f}: ${spans.length} tokens for ${text.length} chars`);
    if (f === 'tinyshakespeare.txt') assert.equal(spans.length, text.length);
  }
});
