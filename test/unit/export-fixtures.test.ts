// The shared fixture generator (test/helpers/fixtures.ts) and the ONNX graph builder: fixtures are
// deterministic complete model folders whose tokenizers load, and the builder writes valid models.

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { Tokenizer } from '@huggingface/tokenizers';
import { GraphBuilder, attr } from '../../src/core/onnx/graph';
import { makeTinyGpt2, makeTinyLlama, mulberry32 } from '../helpers/fixtures';
import { referenceGpt2Logits, referenceLlamaLogits } from '../helpers/export-reference';
import { DecoderRunner, SESSION_OPTIONS, maxAbsDiff } from '../helpers/export-runner';
import { TOL } from '../helpers/export-suite';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const shared = path.resolve(repoRoot, '../shared');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'lens-export-fixtures-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function loadTokenizer(dir: string): Tokenizer {
  return new Tokenizer(
    JSON.parse(readFileSync(path.join(dir, 'tokenizer.json'), 'utf8')),
    JSON.parse(readFileSync(path.join(dir, 'tokenizer_config.json'), 'utf8')),
  );
}

test('mulberry32 is seeded and deterministic', () => {
  const a = mulberry32(42);
  const b = mulberry32(42);
  const xs = Array.from({ length: 5 }, () => a());
  assert.deepEqual(xs, Array.from({ length: 5 }, () => b()));
  assert.notDeepEqual(xs, Array.from({ length: 5 }, mulberry32(43)));
  assert.ok(xs.every((x) => x >= 0 && x < 1));
});

test('makeTinyLlama writes a deterministic, complete model folder with a working tokenizer', async () => {
  const a = makeTinyLlama(path.join(tmp, 'llama-a'), { seed: 1 });
  const b = makeTinyLlama(path.join(tmp, 'llama-b'), { seed: 1 });
  const c = makeTinyLlama(path.join(tmp, 'llama-c'), { seed: 2 });
  assert.ok(Buffer.from(a.onnx).equals(Buffer.from(b.onnx)), 'same seed, same bytes');
  assert.ok(!Buffer.from(a.onnx).equals(Buffer.from(c.onnx)), 'other seed, other bytes');
  assert.ok(a.onnx.length < 1_000_000, `ONNX file is small (${a.onnx.length} bytes)`);
  for (const f of ['onnx/model.onnx', 'config.json', 'tokenizer.json', 'tokenizer_config.json']) assert.ok(existsSync(path.join(a.dir, f)), f);
  const cfg = JSON.parse(readFileSync(path.join(a.dir, 'config.json'), 'utf8'));
  assert.equal(cfg.model_type, 'llama');
  assert.equal(cfg.vocab_size, 512);
  assert.equal(cfg.bos_token_id, 1);
  assert.equal(cfg.eos_token_id, 2);
  const tok = loadTokenizer(a.dir);
  const text = 'Once upon a time, the little girl — café!\nBye';
  const enc = tok.encode(text);
  assert.equal(enc.ids[0], 1, 'BOS prepended');
  assert.ok(enc.ids.every((id) => id >= 0 && id < 512));
  assert.equal(tok.decode(enc.ids, { skip_special_tokens: true }), text);
  // The folder's model runs on the tokenizer's ids and matches the reference.
  const run = await DecoderRunner.load(a.onnxPath);
  const got = (await run.step({ ids: [enc.ids], mask: [enc.ids.map(() => 1)] })).logits;
  assert.ok(maxAbsDiff(got, referenceLlamaLogits(a.weights, enc.ids)) <= TOL);
  await run.release();
});

test('makeTinyGpt2 writes a deterministic, complete model folder with a working byte-level tokenizer', async () => {
  const a = makeTinyGpt2(path.join(tmp, 'gpt2-a'), { seed: 5, earlyExitLayers: [2] });
  const b = makeTinyGpt2(path.join(tmp, 'gpt2-b'), { seed: 5, earlyExitLayers: [2] });
  assert.ok(Buffer.from(a.onnx).equals(Buffer.from(b.onnx)));
  const cfg = JSON.parse(readFileSync(path.join(a.dir, 'config.json'), 'utf8'));
  assert.equal(cfg.model_type, 'gpt2');
  assert.deepEqual([cfg.n_layer, cfg.n_head, cfg.n_embd, cfg.n_positions, cfg.n_ctx, cfg.vocab_size], [3, 4, 32, 64, 64, 320]);
  assert.equal(cfg.layer_norm_epsilon, 1e-5);
  assert.deepEqual(cfg.lens_early_exit_layers, [2]);
  assert.equal(cfg.eos_token_id, 319);
  const tok = loadTokenizer(a.dir);
  const text = 'Once upon a time there was a dog. ünïcødé ✓';
  const enc = tok.encode(text);
  assert.ok(enc.ids.every((id) => id >= 0 && id < 319));
  assert.ok(enc.ids.length < new TextEncoder().encode(text).length, 'merges apply');
  assert.equal(tok.decode(enc.ids), text);
  const run = await DecoderRunner.load(a.onnxPath);
  const r = await run.step({ ids: [enc.ids], mask: [enc.ids.map(() => 1)] });
  assert.ok(maxAbsDiff(r.logits, referenceGpt2Logits(a.weights, enc.ids)) <= TOL);
  assert.ok(maxAbsDiff(r.outputs.logits_layer_2!.data as Float32Array, referenceGpt2Logits(a.weights, enc.ids, 2)) <= TOL);
  await run.release();
});

test('fixture variants expose the signatures loaders must discover', async () => {
  const v = makeTinyLlama(path.join(tmp, 'llama-v'), { kvDtype: 'float16', positionIds: false, mergedDecoder: true, tied: false, numKvHeads: 1 });
  const s = await ort.InferenceSession.create(v.onnxPath, SESSION_OPTIONS);
  const inputs = Object.fromEntries(s.inputMetadata.map((m) => [m.name, m.isTensor ? `${m.type}[${m.shape.join(',')}]` : '?']));
  assert.deepEqual(inputs, {
    input_ids: 'int64[batch_size,sequence_length]',
    attention_mask: 'int64[batch_size,total_sequence_length]',
    ...Object.fromEntries(
      [0, 1, 2].flatMap((i) => ['key', 'value'].map((k) => [`past_key_values.${i}.${k}`, 'float16[batch_size,1,past_sequence_length,8]'])),
    ),
    use_cache_branch: 'bool[1]',
  });
  assert.equal(v.config.tie_word_embeddings, false);
  assert.equal(v.config.num_key_value_heads, 1);
  await s.release();
});

test('makeTinyGpt2 with the shared GPT-2 tokenizer (vocab 50257) stays small', { skip: existsSync(path.join(shared, 'tokenizers/gpt2/tokenizer.json')) ? false : `no ../shared at ${shared}: skipping` }, async () => {
  const f = makeTinyGpt2(path.join(tmp, 'gpt2-real-tok'), { vocabSize: 50257, nEmbd: 8, nHead: 2, nLayer: 2, tokenizerDir: path.join(shared, 'tokenizers/gpt2') });
  assert.ok(f.onnx.length < 4_000_000, `${f.onnx.length} bytes`);
  assert.equal(f.config.eos_token_id, 50256);
  const ids = loadTokenizer(f.dir).encode('Hi nice to meet you.').ids;
  assert.deepEqual(ids, [17250, 3621, 284, 1826, 345, 13]);
  const run = await DecoderRunner.load(f.onnxPath);
  const got = (await run.step({ ids: [ids], mask: [ids.map(() => 1)] })).logits;
  assert.ok(maxAbsDiff(got, referenceGpt2Logits(f.weights, ids)) <= TOL);
  await run.release();
});

test('GraphBuilder: typed I/O with symbolic dims, initializers, attributes; rejects unknown and duplicate names', async () => {
  const g = new GraphBuilder('t');
  const x = g.input('x', 'float32', ['n', 3]);
  const w = g.initFloat('w', new Float32Array([1, 2, 3, 4, 5, 6]), [3, 2]);
  const y = g.op('MatMul', [x, w]); // [n, 2]
  const z = g.op('Add', [y, g.f32(0.5)]);
  const t = g.op('Transpose', [z], { perm: attr.ints([1, 0]) }); // [2, n]
  const sum = g.op('ReduceSum', [t, g.i64([1])], { keepdims: attr.int(0) }); // [2]
  g.output('t', t, 'float32', [2, 'n']);
  g.output('sum', sum, 'float32', [2]);
  assert.equal(g.f32(0.5), g.f32(0.5), 'constants are shared');
  assert.throws(() => g.op('Relu', ['nope']), /unknown value "nope"/);
  assert.throws(() => g.input('w', 'float32', [1]), /duplicate/);
  assert.throws(() => g.initFloat('bad', new Float32Array(3), [2, 2]), /3 values/);
  const s = await ort.InferenceSession.create(g.toBytes(), SESSION_OPTIONS);
  const meta = s.inputMetadata[0]!;
  assert.ok(meta.isTensor && meta.type === 'float32');
  assert.deepEqual(meta.shape, ['n', 3]);
  const out = await s.run({ x: new ort.Tensor('float32', new Float32Array([1, 0, 0, 0, 1, 1]), [2, 3]) });
  assert.deepEqual([...(out.t!.data as Float32Array)], [1.5, 8.5, 2.5, 10.5]);
  assert.deepEqual([...(out.sum!.data as Float32Array)], [10, 13]);
  await s.release();
});
