import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Tokenizer } from '@huggingface/tokenizers';
import { LensTokenizer } from '../../src/core/tokenizer.js';
import {
  checkEncode,
  libraryTokenizer,
  readJson,
  SHARED_TOKENIZERS,
  sharedDir,
  skipUnlessShared,
  tilingProblem,
  utf8,
} from './tokenizer-helpers.js';

const [GPT2, STORIES, LLAMA] = SHARED_TOKENIZERS as [(typeof SHARED_TOKENIZERS)[0], (typeof SHARED_TOKENIZERS)[0], (typeof SHARED_TOKENIZERS)[0]];
const triple = (spans: { id: number; start: number; end: number }[]) => spans.map((s) => [s.id, s.start, s.end]);
const insidePair = (t: string, k: number) => /[\ud800-\udbff]/.test(t[k - 1] ?? '') && /[\udc00-\udfff]/.test(t[k] ?? '');
const SENTENCE = 'Once upon a time, a little girl named Lily found a shiny red ball in the park.';

describe('gpt2 (byte-level)', { skip: skipUnlessShared(GPT2.dir) }, () => {
  let tok: LensTokenizer;
  before(async () => (tok = await LensTokenizer.load(GPT2.dir)));

  test('known ids and ranges', () => {
    const spans = tok.encode('Hi nice to meet you.');
    assert.deepEqual(
      spans.map((s) => s.id),
      [17250, 3621, 284, 1826, 345, 13],
    );
    assert.deepEqual(
      spans.map((s) => s.text),
      ['Hi', ' nice', ' to', ' meet', ' you', '.'],
    );
    assert.equal(tilingProblem('Hi nice to meet you.', spans), null);
  });

  test('properties', () => {
    assert.equal(tok.kind, 'byte-level');
    assert.equal(tok.vocabSize, 50257);
    assert.equal(tok.bosId, 50256);
    assert.equal(tok.eosId, 50256);
    assert.equal(tok.padId, null);
    assert.equal(tok.addBos, false);
  });

  test('partial UTF-8 tokens: the first token gets the character, the rest an empty range at its end', () => {
    // 👍🏽 = U+1F44D U+1F3FD: GPT-2 splits their bytes as F0 9F 91 | 8D | F0 9F | 8F | BD.
    const text = 'é👍🏽中';
    const spans = tok.encode(text);
    assert.deepEqual(triple(spans), [
      [2634, 0, 1],
      [41840, 1, 3],
      [235, 3, 3],
      [8582, 3, 5],
      [237, 5, 5],
      [121, 5, 5],
      [40792, 5, 6],
    ]);
    assert.equal(checkEncode(tok, libraryTokenizer(GPT2.dir), GPT2, text), null);
  });

  test('tokenBytes and tokenLabel', () => {
    assert.deepEqual(tok.tokenBytes(3621), utf8(' nice'));
    assert.deepEqual(tok.tokenBytes(41840), Uint8Array.of(0xf0, 0x9f, 0x91));
    assert.equal(tok.tokenLabel(41840), '\\xf0\\x9f\\x91');
    assert.equal(tok.tokenLabel(198), '\n');
    assert.equal(tok.tokenLabel(220), ' ');
    assert.equal(tok.tokenBytes(50256), null);
    assert.equal(tok.tokenLabel(50256), '<|endoftext|>');
    assert.equal(tok.tokenLabel(99999), '<id 99999?>');
  });

  test('special token inside text is one token with its own range', () => {
    const text = 'a<|endoftext|>b';
    const spans = tok.encode(text);
    assert.deepEqual(
      spans.map((s) => s.text),
      ['a', '<|endoftext|>', 'b'],
    );
    assert.equal(spans[1]!.id, 50256);
  });

  test('decode: round trip, empty, bad ids', () => {
    const text = 'Tabs\tand\r\nCRLF, emoji 👨‍👩‍👧‍👦 and עברית.';
    assert.equal(tok.decode(tok.encode(text).map((s) => s.id)), text);
    assert.equal(tok.decode([]), '');
    assert.throws(() => tok.decode([50257]), /outside the vocabulary/);
    assert.throws(() => tok.decode([1.5]), RangeError);
  });

  test('empty text', () => {
    assert.deepEqual(tok.encode(''), []);
  });
});

for (const st of [STORIES, LLAMA]) {
  describe(`${st.name} (metaspace)`, { skip: skipUnlessShared(st.dir) }, () => {
    let tok: LensTokenizer;
    let lib: Tokenizer;
    before(async () => {
      tok = await LensTokenizer.load(st.dir);
      lib = libraryTokenizer(st.dir);
    });

    test('ids equal the library (minus BOS) and decode round-trips', () => {
      const withBos = lib.encode(SENTENCE).ids;
      assert.equal(withBos[0], 1);
      const spans = tok.encode(SENTENCE);
      assert.deepEqual(
        spans.map((s) => s.id),
        withBos.slice(1),
      );
      assert.equal(tok.decode(spans.map((s) => s.id)), SENTENCE);
      assert.equal(checkEncode(tok, lib, st, SENTENCE), null);
    });

    test('properties', () => {
      assert.equal(tok.kind, 'metaspace');
      assert.equal(tok.vocabSize, st === LLAMA ? 32000 : 512);
      assert.equal(tok.bosId, 1);
      assert.equal(tok.eosId, 2);
      assert.equal(tok.padId, null);
      assert.equal(tok.addBos, true);
    });

    test('the dummy prefix "▁" covers no character; the first token still starts at 0', () => {
      const spans = tok.encode('\r\n\t');
      assert.equal(spans[0]!.start, 0);
      assert.equal(tilingProblem('\r\n\t', spans), null);
      const text = 'Hi';
      const first = tok.encode(text)[0]!;
      assert.equal(first.start, 0);
      assert.ok(tok.tokenLabel(first.id).startsWith(' '), 'the first token carries the dummy-prefix space');
    });

    test('byte-fallback tokens, BOM, lone surrogates, CRLF, combining marks, RTL', () => {
      for (const text of ['\ufeffabc', 'a\ud800b', 'x\r\ny', 'e\u0301 a\u0308\u0323', 'שלום مرحبا', '🧑🏿‍💻 中文', '▁lit  two  spaces']) {
        assert.equal(checkEncode(tok, lib, st, text), null, JSON.stringify(text));
      }
      assert.equal(tok.decode(tok.encode('\ufeffabc').map((s) => s.id)), '\ufeffabc', 'BOM survives decode');
    });

    test('tokenBytes/tokenLabel: "▁" is a space, <0xNN> is that byte shown as \\xNN', () => {
      const id0A = lib.encode('\n', { add_special_tokens: false }).ids.at(-1)!;
      assert.deepEqual(tok.tokenBytes(id0A), Uint8Array.of(0x0a));
      assert.equal(tok.tokenLabel(id0A), '\n');
      const idE4 = lib.model!.tokens_to_ids.get('<0xE4>')!;
      assert.deepEqual(tok.tokenBytes(idE4), Uint8Array.of(0xe4));
      assert.equal(tok.tokenLabel(idE4), '\\xe4');
      const idSpace = lib.model!.tokens_to_ids.get('\u2581')!;
      assert.equal(tok.tokenLabel(idSpace), ' ');
      assert.equal(tok.tokenBytes(1), null);
      assert.equal(tok.tokenLabel(1), '<s>');
    });

    test('special tokens typed in the text: own range, following text gets its own dummy prefix', () => {
      const text = 'x</s>y <s> z';
      const spans = tok.encode(text);
      assert.deepEqual(
        spans.filter((s) => s.id <= 2).map((s) => [s.text, s.start, s.end]),
        [
          ['</s>', 1, 5],
          ['<s>', 7, 10],
        ],
      );
      assert.equal(checkEncode(tok, lib, st, text), null);
    });
  });
}

describe('llama2 exact spans', { skip: skipUnlessShared(LLAMA.dir) }, () => {
  test('space runs and the dummy prefix', async () => {
    const tok = await LensTokenizer.load(LLAMA.dir);
    // "  two  spaces" → "▁▁▁two▁▁spaces": ▁▁ = dummy + first space, ▁two, ▁, ▁spaces
    assert.deepEqual(triple(tok.encode('  two  spaces')), [
      [259, 0, 1],
      [1023, 1, 5],
      [29871, 5, 6],
      [8162, 6, 13],
    ]);
  });
});

describe('stories260K exact spans', { skip: skipUnlessShared(STORIES.dir) }, () => {
  test('a token made only of the dummy prefix gets the empty range [0,0)', async () => {
    const tok = await LensTokenizer.load(STORIES.dir);
    const spans = tok.encode('  two');
    assert.deepEqual(
      spans.map((s) => [tok.tokenLabel(s.id), s.start, s.end]),
      [
        [' ', 0, 0],
        [' ', 0, 1],
        [' t', 1, 3],
        ['w', 3, 4],
        ['o', 4, 5],
      ],
    );
  });
});

// Variants built from the shared tokenizer.json files: other normalizer / pre-tokenizer forms.
describe('pipeline variants', { skip: skipUnlessShared(STORIES.dir) || skipUnlessShared(GPT2.dir) }, () => {
  const variant = (base: string, patch: Record<string, unknown>, cfg?: Record<string, unknown>) => {
    const json = { ...readJson(path.join(base, 'tokenizer.json')), ...patch };
    const config = cfg ?? {};
    return { tok: LensTokenizer.fromObjects(json, config), lib: new Tokenizer(json, config) };
  };
  const texts = ['Hello world', ' lead', 'a  b\tc', 'é👍🏽中 x', '\ud800 z ', ''];

  test('Metaspace pre-tokenizer (prepend_scheme first/always/never) instead of Prepend+Replace normalizers', () => {
    for (const scheme of ['first', 'always', 'never']) {
      const { tok, lib } = variant(STORIES.dir, {
        normalizer: null,
        pre_tokenizer: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: scheme, split: false },
      });
      assert.equal(tok.kind, 'metaspace');
      for (const text of [...texts, 'a</s>b c']) {
        const info = tok.encodeWithInfo(text);
        assert.deepEqual(
          info.spans.map((s) => s.id),
          text ? lib.encode(text, { add_special_tokens: false }).ids : [],
          `${scheme} ${JSON.stringify(text)}`,
        );
        assert.equal(info.exact, true, `${scheme} ${JSON.stringify(text)}`);
        assert.equal(tilingProblem(text, info.spans), null);
      }
      // With the Metaspace form, " lead" is "▁lead" (no extra prefix for 'first'/'always'): one space token, no empty range.
      const lead = tok.encode(' lead');
      assert.equal(lead[0]!.start, 0);
      if (scheme !== 'never') assert.equal(lead[0]!.end > 0, true);
    }
  });

  test('ByteLevel add_prefix_space: the added space covers no character', () => {
    const { tok, lib } = variant(GPT2.dir, { pre_tokenizer: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true } });
    const spans = tok.encode('Hi you');
    assert.deepEqual(
      spans.map((s) => s.id),
      lib.encode('Hi you', { add_special_tokens: false }).ids,
    );
    assert.equal(tok.tokenLabel(spans[0]!.id), ' Hi');
    assert.deepEqual(
      spans.map((s) => s.text),
      ['Hi', ' you'],
    );
  });

  test('Split + ByteLevel sequence (Llama-3 style) and NFKC normalizer stay exact', () => {
    const { tok, lib } = variant(GPT2.dir, {
      normalizer: { type: 'NFKC' },
      pre_tokenizer: {
        type: 'Sequence',
        pretokenizers: [
          { type: 'Split', pattern: { Regex: "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+" }, behavior: 'Isolated', invert: false },
          { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
        ],
      },
    });
    assert.equal(tok.kind, 'byte-level');
    const text = 'ﬁne ① 12345 e\u0301 x';
    const info = tok.encodeWithInfo(text);
    assert.deepEqual(
      info.spans.map((s) => s.id),
      lib.encode(text, { add_special_tokens: false }).ids,
    );
    assert.equal(info.exact, true);
    assert.equal(tilingProblem(text, info.spans), null);
    // NFKC turns "ﬁ" (1 unit) into "fi": the token holding it covers the ligature.
    assert.equal(info.spans[0]!.text.startsWith('ﬁ'), true);
  });

  test('added token with lstrip/rstrip owns the whitespace it strips', () => {
    const json = readJson(path.join(GPT2.dir, 'tokenizer.json'));
    const added = [...(json.added_tokens as object[]), { id: 50257, content: '<mask>', single_word: false, lstrip: true, rstrip: true, normalized: false, special: true }];
    const { tok, lib } = variant(GPT2.dir, { added_tokens: added });
    const text = 'hello  <mask> world';
    const spans = tok.encode(text);
    assert.deepEqual(
      spans.map((s) => s.id),
      lib.encode(text, { add_special_tokens: false }).ids,
    );
    assert.deepEqual(
      spans.map((s) => s.text),
      ['hello', '  <mask> ', 'world'],
    );
    assert.equal(tok.vocabSize, 50258);
  });

  test('unknown tokens (no byte fallback) cover the characters they replace', () => {
    const json = readJson(path.join(STORIES.dir, 'tokenizer.json'));
    const { tok, lib } = variant(STORIES.dir, { model: { ...(json.model as object), byte_fallback: false } });
    const text = 'a中文b 😀';
    const info = tok.encodeWithInfo(text);
    assert.deepEqual(
      info.spans.map((s) => s.id),
      lib.encode(text, { add_special_tokens: false }).ids,
    );
    assert.ok(info.spans.some((s) => s.id === 0 && s.text === '中文'), JSON.stringify(info.spans));
    assert.equal(info.exact, true);
    assert.equal(tilingProblem(text, info.spans), null);
  });

  test('a normalizer we cannot replay exactly falls back, still tiling, never throwing', () => {
    // Lowercase of "Σ" depends on context (final sigma), so the per-character replay disagrees.
    const { tok, lib } = variant(GPT2.dir, { normalizer: { type: 'Lowercase' } });
    const ok = tok.encodeWithInfo('HELLO World');
    assert.equal(ok.exact, true);
    assert.deepEqual(
      ok.spans.map((s) => s.text),
      ['HELLO', ' World'],
    );
    const text = 'ΟΔΟΣ abc 中';
    const info = tok.encodeWithInfo(text);
    assert.equal(info.exact, false);
    assert.deepEqual(
      info.spans.map((s) => s.id),
      lib.encode(text, { add_special_tokens: false }).ids,
    );
    assert.equal(tilingProblem(text, info.spans), null);
  });

  test("config options the replay does not model give kind 'other' and approximate (tiling) ranges", () => {
    const { tok, lib } = variant(STORIES.dir, {}, { do_lowercase_and_remove_accent: true });
    assert.equal(tok.kind, 'other');
    for (const text of ['Héllo World', '👍🏽 x', 'a\ud800']) {
      const info = tok.encodeWithInfo(text);
      assert.equal(info.exact, false);
      assert.deepEqual(
        info.spans.map((s) => s.id),
        lib.encode(text, { add_special_tokens: false }).ids,
      );
      assert.equal(tilingProblem(text, info.spans), null, JSON.stringify(text));
      for (const s of info.spans) assert.ok(!insidePair(text, s.start) && !insidePair(text, s.end), `range [${s.start},${s.end}) cuts a surrogate pair`);
    }
  });

  test('addBos from the post-processor template when tokenizer_config is absent', () => {
    const { tok } = variant(STORIES.dir, {});
    assert.equal(tok.addBos, true);
    assert.equal(tok.bosId, 1);
    const g = variant(GPT2.dir, {});
    assert.equal(g.tok.addBos, false);
    assert.equal(g.tok.bosId, 50256);
  });
});

describe('load errors', () => {
  let dir: string;
  before(async () => (dir = await mkdtemp(path.join(tmpdir(), 'lens-tok-'))));
  after(async () => rm(dir, { recursive: true, force: true }));

  test('missing folder', async () => {
    await assert.rejects(LensTokenizer.load(path.join(dir, 'nope')), /tokenizer folder not found: .*nope/);
  });
  test('missing tokenizer.json', async () => {
    await mkdir(path.join(dir, 'empty'));
    await assert.rejects(LensTokenizer.load(path.join(dir, 'empty')), (e: Error) => /tokenizer\.json: file not found/.test(e.message) && e.message.includes(path.join(dir, 'empty')));
  });
  test('invalid JSON in tokenizer.json', async () => {
    await mkdir(path.join(dir, 'bad'));
    await writeFile(path.join(dir, 'bad', 'tokenizer.json'), '{"model": ');
    await assert.rejects(LensTokenizer.load(path.join(dir, 'bad')), /tokenizer\.json: invalid JSON/);
  });
  test('not a tokenizer.json', async () => {
    await mkdir(path.join(dir, 'arr'));
    await writeFile(path.join(dir, 'arr', 'tokenizer.json'), '[1,2]');
    await assert.rejects(LensTokenizer.load(path.join(dir, 'arr')), /tokenizer\.json: expected a JSON object, got an array/);
    await writeFile(path.join(dir, 'arr', 'tokenizer.json'), '{"version": "1.0"}');
    await assert.rejects(LensTokenizer.load(path.join(dir, 'arr')), /tokenizer\.json: not a Hugging Face tokenizer\.json: missing "model"/);
    await writeFile(path.join(dir, 'arr', 'tokenizer.json'), '{"model": {"type": "Nope"}}');
    await assert.rejects(LensTokenizer.load(path.join(dir, 'arr')), /tokenizer\.json: unsupported tokenizer: Unknown TokenizerModel type: Nope/);
  });
  test('invalid tokenizer_config.json names that file', { skip: skipUnlessShared(STORIES.dir) }, async () => {
    await mkdir(path.join(dir, 'cfg'));
    await writeFile(path.join(dir, 'cfg', 'tokenizer.json'), JSON.stringify(readJson(path.join(STORIES.dir, 'tokenizer.json'))));
    await writeFile(path.join(dir, 'cfg', 'tokenizer_config.json'), '{oops}');
    await assert.rejects(LensTokenizer.load(path.join(dir, 'cfg')), /tokenizer_config\.json: invalid JSON/);
    await writeFile(path.join(dir, 'cfg', 'tokenizer_config.json'), '{}');
    const tok = await LensTokenizer.load(path.join(dir, 'cfg', 'tokenizer.json'));
    assert.equal(tok.vocabSize, 512);
  });
  test('fromObjects rejects non-objects', () => {
    assert.throws(() => LensTokenizer.fromObjects([] as unknown as object), /tokenizer\.json: expected a JSON object/);
  });
});

test('shared data location', { skip: skipUnlessShared(STORIES.dir) }, () => {
  assert.equal(path.basename(sharedDir), 'shared');
});
