// llama2.c checkpoint reader, model folder writer, and the acceptance test on the real
// stories260K checkpoint (logits vs reference-kv.onnx, greedy decoding vs llama2.c's golden output).

import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { Tokenizer } from '@huggingface/tokenizers';
import { buildLlamaOnnx, type LlamaWeights } from '../../src/core/export/llama';
import { exportLlama2c, parseLlama2c, readLlama2c } from '../../src/core/export/llama2c';
import { tinyLlamaWeights, writeTinyLlamaTokenizer } from '../helpers/fixtures';
import { referenceLlamaLogits } from '../helpers/export-reference';
import { DecoderRunner, SESSION_OPTIONS, maxAbsDiff } from '../helpers/export-runner';
import { TOL, randomIds } from '../helpers/export-suite';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const shared = path.resolve(repoRoot, '../shared');
const stories = path.join(shared, 'models/stories260K');
const SKIP_SHARED = existsSync(path.join(stories, 'stories260K.bin'))
  ? false
  : `shared data not found at ${stories} (a checkout without ../shared): skipping the stories260K acceptance tests`;

const tmp = mkdtempSync(path.join(os.tmpdir(), 'lens-export-llama2c-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Serialises weights in llama2.c's legacy layout (test-only writer, the inverse of parseLlama2c). */
function writeLlama2c(w: LlamaWeights): Uint8Array {
  const c = w.config;
  const head = new Int32Array([c.dim, c.hiddenDim, c.numLayers, c.numHeads, c.numKvHeads, w.lmHead ? -c.vocabSize : c.vocabSize, c.maxSeqLen]);
  const hs = c.dim / c.numHeads;
  const freq = new Float32Array(c.maxSeqLen * (hs / 2)).fill(12345); // freq_cis_real / imag: ignored by the reader
  const parts: ArrayBufferView[] = [
    head,
    w.tokEmbedding,
    ...w.layers.map((l) => l.attnNorm),
    ...w.layers.map((l) => l.wq),
    ...w.layers.map((l) => l.wk),
    ...w.layers.map((l) => l.wv),
    ...w.layers.map((l) => l.wo),
    ...w.layers.map((l) => l.ffnNorm),
    ...w.layers.map((l) => l.w1),
    ...w.layers.map((l) => l.w2),
    ...w.layers.map((l) => l.w3),
    w.finalNorm,
    freq,
    freq,
    ...(w.lmHead ? [w.lmHead] : []),
  ];
  return Buffer.concat(parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength)));
}

for (const tied of [true, false]) {
  test(`llama2.c reader round-trips a ${tied ? 'tied' : 'untied (negative vocab_size)'} GQA checkpoint`, async () => {
    const w = tinyLlamaWeights({ seed: 3, tied, numHeads: 4, numKvHeads: 2, maxSeqLen: 16 });
    const bytes = writeLlama2c(w);
    // An odd byte offset: the reader must not assume an aligned buffer.
    const shifted = new Uint8Array(bytes.length + 1).subarray(1);
    shifted.set(bytes);
    const back = parseLlama2c(shifted);
    assert.deepEqual(back.config, { ...w.config, headDim: w.config.dim / w.config.numHeads });
    assert.deepEqual(back.tokEmbedding, w.tokEmbedding);
    assert.deepEqual(back.finalNorm, w.finalNorm);
    assert.deepEqual(back.lmHead, w.lmHead);
    assert.deepEqual(back.layers, w.layers);
    // And the exported model of the parsed weights is the reference model.
    const run = await DecoderRunner.load(buildLlamaOnnx(back));
    const ids = randomIds(2, 8, w.config.vocabSize);
    const got = (await run.step({ ids: [ids], mask: [ids.map(() => 1)] })).logits;
    assert.ok(maxAbsDiff(got, referenceLlamaLogits(w, ids)) <= TOL);
    await run.release();
  });
}

test('llama2.c reader rejects truncated files and bad headers', () => {
  const bytes = writeLlama2c(tinyLlamaWeights({ seed: 4, maxSeqLen: 16 }));
  assert.throws(() => parseLlama2c(bytes.subarray(0, bytes.length - 4)), /bytes, header implies/);
  assert.throws(() => parseLlama2c(bytes.subarray(0, 10)), /shorter than its header/);
  const bad = bytes.slice();
  new DataView(bad.buffer).setInt32(16, 3, true); // n_kv_heads = 3 does not divide n_heads = 4
  assert.throws(() => parseLlama2c(bad), /inconsistent/);
});

test('exportLlama2c writes a complete model folder (config.json keys, tokenizer files, early-exit outputs)', async () => {
  const w = tinyLlamaWeights({ seed: 5, tied: false, numLayers: 3, maxSeqLen: 32 });
  const ckpt = path.join(tmp, 'tiny.bin');
  writeFileSync(ckpt, writeLlama2c(w));
  const tokDir = path.join(tmp, 'tok');
  writeTinyLlamaTokenizer(tokDir, w.config.vocabSize);
  writeFileSync(path.join(tokDir, 'generation_config.json'), JSON.stringify({ bos_token_id: 1, eos_token_id: 2 }));
  for (const f of readdirSync(tokDir)) chmodSync(path.join(tokDir, f), 0o444); // like ../shared: read-only sources
  const outDir = path.join(tmp, 'out');
  exportLlama2c({ weights: ckpt, tokenizerDir: tokDir, outDir }); // a first export into the same folder
  const res = exportLlama2c({ weights: ckpt, tokenizerDir: tokDir, outDir, earlyExitLayers: [2, 1] });
  for (const f of res.files) assert.ok(statSync(f).mode & 0o200, `${f} is writable`);
  for (const f of ['onnx/model.onnx', 'config.json', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json']) {
    assert.ok(existsSync(path.join(outDir, f)), f);
  }
  const cfg = JSON.parse(readFileSync(path.join(outDir, 'config.json'), 'utf8'));
  assert.deepEqual(cfg, res.config);
  assert.deepEqual(
    {
      model_type: cfg.model_type, architectures: cfg.architectures, hidden_size: cfg.hidden_size,
      intermediate_size: cfg.intermediate_size, num_hidden_layers: cfg.num_hidden_layers,
      num_attention_heads: cfg.num_attention_heads, num_key_value_heads: cfg.num_key_value_heads,
      head_dim: cfg.head_dim, vocab_size: cfg.vocab_size, max_position_embeddings: cfg.max_position_embeddings,
      rms_norm_eps: cfg.rms_norm_eps, rope_theta: cfg.rope_theta, tie_word_embeddings: cfg.tie_word_embeddings,
      bos_token_id: cfg.bos_token_id, eos_token_id: cfg.eos_token_id,
      lens_early_exit_layers: cfg.lens_early_exit_layers, lens_rope_style: cfg.lens_rope_style,
    },
    {
      model_type: 'llama', architectures: ['LlamaForCausalLM'], hidden_size: 32, intermediate_size: 48,
      num_hidden_layers: 3, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 8, vocab_size: 512,
      max_position_embeddings: 32, rms_norm_eps: 1e-5, rope_theta: 10000, tie_word_embeddings: false,
      bos_token_id: 1, eos_token_id: 2, lens_early_exit_layers: [1, 2], lens_rope_style: 'interleaved',
    },
  );
  assert.equal(readFileSync(path.join(outDir, 'tokenizer.json'), 'utf8'), readFileSync(path.join(tokDir, 'tokenizer.json'), 'utf8'));
  const run = await DecoderRunner.load(res.onnxPath);
  assert.deepEqual(run.session.outputNames.filter((n) => n.startsWith('logits')).sort(), ['logits', 'logits_layer_1', 'logits_layer_2']);
  const ids = randomIds(9, 5, 512);
  const r = await run.step({ ids: [ids], mask: [ids.map(() => 1)] });
  assert.ok(maxAbsDiff(r.logits, referenceLlamaLogits(w, ids)) <= TOL);
  assert.ok(maxAbsDiff(r.outputs.logits_layer_2!.data as Float32Array, referenceLlamaLogits(w, ids, 2)) <= TOL);
  await run.release();
  assert.throws(() => exportLlama2c({ weights: ckpt, tokenizerDir: path.join(tmp, 'nope'), outDir }), /has no tokenizer\.json/);
});

// ---------------------------------------------------------------------------------------------
// Acceptance: the real stories260K checkpoint.

const BOS = 1;

/** Feeds for reference-kv.onnx: input_ids, position_ids, past_key_values (no attention_mask). */
function refFeeds(ids: number[], start: number, past: Record<string, ort.Tensor>): Record<string, ort.Tensor> {
  const S = ids.length;
  return {
    ...past,
    input_ids: new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, S]), // [1, S]
    position_ids: new ort.Tensor('int64', BigInt64Array.from(ids.map((_, i) => BigInt(start + i))), [1, S]), // [1, S]
  };
}

/** Empty past for reference-kv.onnx: [1, 4, 0, 8] per layer (5 layers). */
function emptyRefPast(): Record<string, ort.Tensor> {
  const past: Record<string, ort.Tensor> = {};
  for (let i = 0; i < 5; i++) for (const k of ['key', 'value']) past[`past_key_values.${i}.${k}`] = new ort.Tensor('float32', new Float32Array(0), [1, 4, 0, 8]);
  return past;
}

function presentToPast(out: ort.InferenceSession.OnnxValueMapType, layers: number): Record<string, ort.Tensor> {
  const past: Record<string, ort.Tensor> = {};
  for (let i = 0; i < layers; i++) for (const k of ['key', 'value']) past[`past_key_values.${i}.${k}`] = out[`present.${i}.${k}`]!;
  return past;
}

function argmax(a: Float32Array, from: number, n: number): number {
  let best = 0;
  for (let i = 1; i < n; i++) if (a[from + i]! > a[from + best]!) best = i;
  return best;
}

/** llama2.c's decode + safe_printf over the stories260K vocabulary (▁ = space, <0xNN> = raw byte). */
function llama2cPiece(vocab: string[], prev: number, token: number): Uint8Array {
  let piece = vocab[token]!.replaceAll('▁', ' ');
  if (prev === BOS && piece.startsWith(' ')) piece = piece.slice(1);
  const byte = /^<0x([0-9A-Fa-f]{2})>$/.exec(piece);
  const bytes = byte ? new Uint8Array([parseInt(byte[1]!, 16)]) : new TextEncoder().encode(piece);
  if (bytes.length === 1) {
    const b = bytes[0]!;
    const printable = (b >= 0x20 && b <= 0x7e) || (b >= 0x09 && b <= 0x0d);
    if (!printable) return new Uint8Array(0);
  }
  return bytes;
}

test('ACCEPTANCE stories260K: exported logits match reference-kv.onnx on a real prompt (full and cached)', { skip: SKIP_SHARED }, async () => {
  const outDir = path.join(tmp, 'stories260K');
  const res = exportLlama2c({ weights: path.join(stories, 'stories260K.bin'), tokenizerDir: stories, outDir });
  assert.equal(res.config.tie_word_embeddings, true);
  assert.equal(res.config.num_key_value_heads, 4);
  const tok = new Tokenizer(
    JSON.parse(readFileSync(path.join(outDir, 'tokenizer.json'), 'utf8')),
    JSON.parse(readFileSync(path.join(outDir, 'tokenizer_config.json'), 'utf8')),
  );
  const prompt = 'Once upon a time, there was a little dog named Max. He liked to run in the park with his friend, a big red ball.';
  const ids = tok.encode(prompt).ids;
  assert.equal(ids[0], BOS);
  assert.ok(ids.length > 20);

  const mine = await DecoderRunner.load(res.onnxPath);
  const ref = await ort.InferenceSession.create(path.join(stories, 'reference-kv.onnx'), SESSION_OPTIONS);
  const refOut = await ref.run(refFeeds(ids, 0, emptyRefPast()));
  const refLogits = refOut.logits!.data as Float32Array; // [1, S, 512]
  const full = (await mine.step({ ids: [ids], mask: [ids.map(() => 1)] })).logits;
  const dFull = maxAbsDiff(full, refLogits);
  const cached = await mine.runCached(ids, 9);
  const dCached = maxAbsDiff(cached, refLogits);
  console.log(`# stories260K prompt (${ids.length} tokens): max |logit diff| vs reference-kv: full ${dFull.toExponential(2)}, cached ${dCached.toExponential(2)}`);
  assert.ok(dFull <= TOL, `full forward: ${dFull}`);
  assert.ok(dCached <= TOL, `cached: ${dCached}`);
  // The plain-loop reference agrees too (independent of both graphs).
  assert.ok(maxAbsDiff(full, referenceLlamaLogits(readLlama2c(path.join(stories, 'stories260K.bin')), ids)) <= TOL);
  await Promise.all([mine.release(), ref.release()]);
});

test('ACCEPTANCE stories260K: greedy decoding from BOS reproduces llama2.c expected_greedy_t0_n200.txt byte for byte', { skip: SKIP_SHARED }, async () => {
  const outDir = path.join(tmp, 'stories260K-greedy');
  const res = exportLlama2c({ weights: path.join(stories, 'stories260K.bin'), tokenizerDir: stories, outDir });
  const vocabMap = (JSON.parse(readFileSync(path.join(outDir, 'tokenizer.json'), 'utf8')) as { model: { vocab: Record<string, number> } }).model.vocab;
  const vocab: string[] = [];
  for (const [piece, id] of Object.entries(vocabMap)) vocab[id] = piece;

  const mine = await DecoderRunner.load(res.onnxPath);
  const ref = await ort.InferenceSession.create(path.join(stories, 'reference-kv.onnx'), SESSION_OPTIONS);
  const V = 512;
  // llama2.c `-n 200`: `while (pos < steps)` runs forward() at positions 0..199 (BOS at 0), each
  // forward emitting the next token: 200 forwards, up to 200 generated tokens.
  const steps = 200;
  let token = BOS;
  let past = mine.emptyPast(1);
  let refPast = emptyRefPast();
  const out: Uint8Array[] = [];
  let maxDiff = 0;
  for (let pos = 0; pos < steps; pos++) {
    const r = await mine.step({ ids: [[token]], mask: [new Array<number>(pos + 1).fill(1)], past });
    past = r.past;
    const rr = await ref.run(refFeeds([token], pos, refPast));
    refPast = presentToPast(rr, 5);
    maxDiff = Math.max(maxDiff, maxAbsDiff(r.logits, rr.logits!.data as Float32Array));
    const next = argmax(r.logits, 0, V);
    if (next === BOS) break; // llama2.c stops when the model emits BOS
    out.push(llama2cPiece(vocab, token, next));
    token = next;
  }
  const got = Buffer.concat(out);
  const expected = readFileSync(path.join(stories, 'expected_greedy_t0_n200.txt'));
  console.log(`# stories260K greedy: ${got.length} bytes vs golden ${expected.length}; max |logit diff| vs reference-kv over the cached steps ${maxDiff.toExponential(2)}`);
  assert.ok(maxDiff <= TOL, `cached decode logits vs reference-kv: ${maxDiff}`);
  assert.equal(got.toString('utf8'), expected.toString('utf8'));
  assert.ok(got.equals(expected), 'byte-identical');
  await Promise.all([mine.release(), ref.release()]);
});
