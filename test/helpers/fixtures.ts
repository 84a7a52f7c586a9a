// Shared test fixtures: seeded random-weight tiny Llama / GPT-2 models written as complete model
// folders (onnx/model.onnx, config.json, tokenizer.json, tokenizer_config.json), and the tiny
// tokenizers they ship with. Everything is generated from a seed, so fixtures are deterministic;
// tests write them into temp dirs and nothing binary is committed.

import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { DecoderExportOptions } from '../../src/core/export/decoder';
import { gpt2ConfigJson, llamaConfigJson, readSpecialTokenIds, writeModelFolder } from '../../src/core/export/folder';
import { buildGpt2Onnx, type Gpt2Weights } from '../../src/core/export/gpt2';
import { buildLlamaOnnx, type LlamaWeights, type RopeStyle } from '../../src/core/export/llama';

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n values uniform in [center - scale, center + scale). */
function uniform(rand: () => number, n: number, scale: number, center = 0): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = center + scale * (2 * rand() - 1);
  return out;
}

/** A matrix with fan-in `fanIn`, scaled so activations keep roughly unit variance. */
function matrix(rand: () => number, rows: number, cols: number, fanIn: number): Float32Array {
  return uniform(rand, rows * cols, Math.sqrt(3 / fanIn));
}

// ---------------------------------------------------------------------------------------------
// Tiny tokenizers

const WORDS = (
  'the and to was a he she it they her his in on of with one day said big little girl boy mom dad ' +
  'play want wanted happy sad friend saw see look went go tree ball park dog cat sun time once upon there ' +
  'named lily tom ben very so but had have is are not can what you we will'
).split(' ');

/** BPE merges building each word left to right (▁/Ġ-prefixed), while the vocab has room. */
function wordMerges(prefix: string, vocab: Map<string, number>, limit: number): [string, string][] {
  const merges: [string, string][] = [];
  for (const word of WORDS) {
    const chars = [...(prefix + word)];
    let cur = chars[0]!;
    for (const ch of chars.slice(1)) {
      const next = cur + ch;
      if (!vocab.has(next)) {
        if (vocab.size >= limit) return merges;
        if (!vocab.has(ch) || !vocab.has(cur)) break;
        vocab.set(next, vocab.size);
        merges.push([cur, next.slice(cur.length)]);
      }
      cur = next;
    }
  }
  return merges;
}

/**
 * Writes a Llama-style (SentencePiece-like, byte-fallback BPE, `<s>` prepended) tokenizer.json and
 * tokenizer_config.json with exactly `vocabSize` tokens: <unk>, <s>, </s>, <0x00>..<0xFF>, ▁ and
 * printable ASCII, then whole-word merges.
 */
export function writeTinyLlamaTokenizer(dir: string, vocabSize = 512): void {
  const vocab = new Map<string, number>([['<unk>', 0], ['<s>', 1], ['</s>', 2]]);
  for (let b = 0; b < 256; b++) vocab.set(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`, vocab.size);
  for (const ch of ['▁', ...Array.from({ length: 94 }, (_, i) => String.fromCharCode(33 + i))]) vocab.set(ch, vocab.size);
  if (vocab.size > vocabSize) throw new Error(`tiny llama tokenizer needs vocabSize >= ${vocab.size}`);
  const merges = wordMerges('▁', vocab, vocabSize);
  // Pad to the exact size with unused pieces, so that the tokenizer and the model agree on vocab_size.
  for (let i = 0; vocab.size < vocabSize; i++) vocab.set(`<unused${i}>`, vocab.size);
  const special = (id: number, content: string) => ({
    id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true,
  });
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [special(0, '<unk>'), special(1, '<s>'), special(2, '</s>')],
    normalizer: {
      type: 'Sequence',
      normalizers: [{ type: 'Prepend', prepend: '▁' }, { type: 'Replace', pattern: { String: ' ' }, content: '▁' }],
    },
    pre_tokenizer: null,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [
        { SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '<s>', type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } },
      ],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: '▁' }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    },
    model: {
      type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: true, byte_fallback: true, ignore_merges: false,
      vocab: Object.fromEntries(vocab), merges,
    },
  };
  const config = {
    add_bos_token: true, add_eos_token: false, bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>',
    clean_up_tokenization_spaces: false, legacy: true, model_max_length: 2048, tokenizer_class: 'LlamaTokenizer',
  };
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(tokenizer));
  writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify(config, null, 2));
}

const GPT2_TOKENIZER_CONFIG = {
  add_bos_token: false, add_prefix_space: false, bos_token: '<|endoftext|>', eos_token: '<|endoftext|>',
  unk_token: '<|endoftext|>', clean_up_tokenization_spaces: false, model_max_length: 1024, tokenizer_class: 'GPT2Tokenizer',
};

/** GPT-2's byte -> printable character table (bytes_to_unicode), in GPT-2's id order. */
export function gpt2ByteChars(): string[] {
  const bs: number[] = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  }
  const table = new Array<string>(256);
  bs.forEach((b, i) => (table[b] = String.fromCharCode(cs[i]!)));
  return bs.map((b) => table[b]!);
}

/**
 * Writes a GPT-2-style byte-level BPE tokenizer.json + tokenizer_config.json with exactly
 * `vocabSize` tokens: the 256 byte characters, whole-word merges (Ġ-prefixed), `<|endoftext|>` last.
 */
export function writeTinyGpt2Tokenizer(dir: string, vocabSize = 320): void {
  const vocab = new Map<string, number>();
  for (const ch of gpt2ByteChars()) vocab.set(ch, vocab.size);
  const merges = wordMerges('Ġ', vocab, vocabSize - 1);
  if (vocab.size !== vocabSize - 1) throw new Error(`tiny gpt2 tokenizer: cannot fill ${vocabSize} tokens (got ${vocab.size + 1})`);
  const eot = vocab.size;
  vocab.set('<|endoftext|>', eot);
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [
      { id: eot, content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: true, special: true },
    ],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '',
      fuse_unk: false, byte_fallback: false,
      vocab: Object.fromEntries(vocab), merges: merges.map(([a, b]) => `${a} ${b}`),
    },
  };
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(tokenizer));
  writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify(GPT2_TOKENIZER_CONFIG, null, 2));
}

// ---------------------------------------------------------------------------------------------
// Tiny models

export interface TinyLlamaOptions extends DecoderExportOptions {
  seed?: number;
  /** Default 512 (fits the generated tokenizer and stories260K's). */
  vocabSize?: number;
  dim?: number; // default 32
  hiddenDim?: number; // default 48
  numLayers?: number; // default 3
  numHeads?: number; // default 4
  /** Default 2 (grouped-query attention). */
  numKvHeads?: number;
  maxSeqLen?: number; // default 128
  ropeStyle?: RopeStyle; // default 'interleaved'
  ropeTheta?: number; // default 10000
  normEps?: number; // default 1e-5
  /** LM head tied to the embedding (default true). */
  tied?: boolean;
  /** Use this tokenizer dir instead of writing the generated tiny one. */
  tokenizerDir?: string;
}

export interface TinyGpt2Options extends DecoderExportOptions {
  seed?: number;
  /** Default 320 (fits the generated tokenizer). */
  vocabSize?: number;
  nEmbd?: number; // default 32
  nLayer?: number; // default 3
  nHead?: number; // default 4
  nPositions?: number; // default 64
  layerNormEps?: number; // default 1e-5
  tokenizerDir?: string;
}

export interface TinyModelFixture<W> {
  /** The model folder. */
  dir: string;
  onnxPath: string;
  /** The ONNX bytes written to onnxPath. */
  onnx: Uint8Array;
  weights: W;
  config: Record<string, unknown>;
}

/** Seeded random Llama weights (no files). */
export function tinyLlamaWeights(opts: TinyLlamaOptions = {}): LlamaWeights {
  const rand = mulberry32(opts.seed ?? 1234);
  const vocabSize = opts.vocabSize ?? 512;
  const dim = opts.dim ?? 32;
  const hiddenDim = opts.hiddenDim ?? 48;
  const numLayers = opts.numLayers ?? 3;
  const numHeads = opts.numHeads ?? 4;
  const numKvHeads = opts.numKvHeads ?? 2;
  const hd = dim / numHeads;
  const layers = Array.from({ length: numLayers }, () => ({
    attnNorm: uniform(rand, dim, 0.2, 1), // [dim]
    wq: matrix(rand, numHeads * hd, dim, dim), // [H*hd, dim]
    wk: matrix(rand, numKvHeads * hd, dim, dim), // [nKV*hd, dim]
    wv: matrix(rand, numKvHeads * hd, dim, dim), // [nKV*hd, dim]
    wo: matrix(rand, dim, numHeads * hd, numHeads * hd), // [dim, H*hd]
    ffnNorm: uniform(rand, dim, 0.2, 1), // [dim]
    w1: matrix(rand, hiddenDim, dim, dim), // [hidden, dim]
    w2: matrix(rand, dim, hiddenDim, hiddenDim), // [dim, hidden]
    w3: matrix(rand, hiddenDim, dim, dim), // [hidden, dim]
  }));
  return {
    config: {
      dim, hiddenDim, numLayers, numHeads, numKvHeads, vocabSize,
      maxSeqLen: opts.maxSeqLen ?? 128,
      normEps: opts.normEps ?? 1e-5,
      ropeTheta: opts.ropeTheta ?? 10000,
      ropeStyle: opts.ropeStyle ?? 'interleaved',
    },
    tokEmbedding: uniform(rand, vocabSize * dim, 1), // [vocab, dim]
    layers,
    finalNorm: uniform(rand, dim, 0.2, 1), // [dim]
    lmHead: opts.tied === false ? matrix(rand, vocabSize, dim, dim) : null, // [vocab, dim]
  };
}

/** Seeded random GPT-2 weights (no files). */
export function tinyGpt2Weights(opts: TinyGpt2Options = {}): Gpt2Weights {
  const rand = mulberry32(opts.seed ?? 4321);
  const vocabSize = opts.vocabSize ?? 320;
  const D = opts.nEmbd ?? 32;
  const nLayer = opts.nLayer ?? 3;
  const F = 4 * D;
  const nPositions = opts.nPositions ?? 64;
  const layers = Array.from({ length: nLayer }, () => ({
    ln1Weight: uniform(rand, D, 0.2, 1), // [D]
    ln1Bias: uniform(rand, D, 0.1), // [D]
    attnWeight: matrix(rand, D, 3 * D, D), // [D, 3D]
    attnBias: uniform(rand, 3 * D, 0.1), // [3D]
    attnProjWeight: matrix(rand, D, D, D), // [D, D]
    attnProjBias: uniform(rand, D, 0.1), // [D]
    ln2Weight: uniform(rand, D, 0.2, 1), // [D]
    ln2Bias: uniform(rand, D, 0.1), // [D]
    fcWeight: matrix(rand, D, F, D), // [D, F]
    fcBias: uniform(rand, F, 0.1), // [F]
    mlpProjWeight: matrix(rand, F, D, F), // [F, D]
    mlpProjBias: uniform(rand, D, 0.1), // [D]
  }));
  return {
    config: { nEmbd: D, nLayer, nHead: opts.nHead ?? 4, nPositions, vocabSize, layerNormEps: opts.layerNormEps ?? 1e-5 },
    wte: uniform(rand, vocabSize * D, 1), // [vocab, D]
    wpe: uniform(rand, nPositions * D, 0.5), // [nPositions, D]
    layers,
    lnFWeight: uniform(rand, D, 0.2, 1), // [D]
    lnFBias: uniform(rand, D, 0.1), // [D]
  };
}

function graphOptions(opts: DecoderExportOptions): DecoderExportOptions {
  const { earlyExitLayers, kvDtype, positionIds, mergedDecoder, fused, headCombine } = opts;
  return { earlyExitLayers, kvDtype, positionIds, mergedDecoder, fused, headCombine };
}

/** Writes a seeded tiny Llama model folder into `dir` (created). */
export function makeTinyLlama(dir: string, opts: TinyLlamaOptions = {}): TinyModelFixture<LlamaWeights> {
  const weights = tinyLlamaWeights(opts);
  // The generated tokenizer is written straight into the model folder.
  const tokenizerDir = opts.tokenizerDir ?? dir;
  if (!opts.tokenizerDir) writeTinyLlamaTokenizer(dir, weights.config.vocabSize);
  const special = readSpecialTokenIds(tokenizerDir, { bos: '<s>', eos: '</s>' });
  const config = llamaConfigJson(weights, { bosTokenId: special.bos, eosTokenId: special.eos, earlyExitLayers: opts.earlyExitLayers });
  const onnx = buildLlamaOnnx(weights, graphOptions(opts));
  const files = writeModelFolder(dir, { onnx, config, tokenizerDir });
  return { dir: files.dir, onnxPath: files.onnxPath, onnx, weights, config };
}

/** Writes a seeded tiny GPT-2 model folder into `dir` (created). */
export function makeTinyGpt2(dir: string, opts: TinyGpt2Options = {}): TinyModelFixture<Gpt2Weights> {
  const weights = tinyGpt2Weights(opts);
  // The generated tokenizer is written straight into the model folder.
  const tokenizerDir = opts.tokenizerDir ?? dir;
  if (!opts.tokenizerDir) writeTinyGpt2Tokenizer(dir, weights.config.vocabSize);
  const special = readSpecialTokenIds(tokenizerDir, { bos: '<|endoftext|>', eos: '<|endoftext|>' });
  const config = gpt2ConfigJson(weights, { bosTokenId: special.bos, eosTokenId: special.eos, earlyExitLayers: opts.earlyExitLayers });
  const onnx = buildGpt2Onnx(weights, graphOptions(opts));
  const files = writeModelFolder(dir, { onnx, config, tokenizerDir });
  // Some tokenizer dirs (e.g. ../shared/tokenizers/gpt2) have no tokenizer_config.json: give the folder GPT-2's.
  if (!existsSync(path.join(dir, 'tokenizer_config.json'))) writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify(GPT2_TOKENIZER_CONFIG, null, 2));
  return { dir: files.dir, onnxPath: files.onnxPath, onnx, weights, config };
}
