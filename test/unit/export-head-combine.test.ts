// The exporter's `headCombine` option (attention heads combined as a product: one shared softmax of
// the heads' mean score, over all heads or per KV group): ONNX logits against the float64 TypeScript
// forward of src/experiments/head-poe.ts, and the whole decoder conformance suite (KV cache,
// left-padded batches with cached decode steps, early exit, fp16 KV / no position_ids / merged
// decoder) run on product graphs; a llama2.c export with the option records it in config.json, loads
// and scores as that forward does.

import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import type { HeadCombine } from '../../src/core/export/decoder';
import { buildGpt2Onnx } from '../../src/core/export/gpt2';
import { buildLlamaOnnx, type LlamaWeights } from '../../src/core/export/llama';
import { exportLlama2c } from '../../src/core/export/llama2c';
import { CausalLM } from '../../src/core/model';
import { scoreIds } from '../../src/core/scoring';
import { llamaLogits64, llamaTokenLogprobs } from '../../src/experiments/head-poe';
import { main } from '../../src/cli/cli';
import { tinyGpt2Weights, tinyLlamaWeights, writeTinyLlamaTokenizer, type TinyLlamaOptions } from '../helpers/fixtures';
import { referenceLlamaLogits } from '../helpers/export-reference';
import { DecoderRunner, leftPad, maxAbsDiff, rows } from '../helpers/export-runner';
import { TOL, decoderConformance, randomIds, type DecoderFamily } from '../helpers/export-suite';
import { tempDir } from '../helpers/shared';

const tmp = tempDir('lens-head-combine-');
after(() => rmSync(tmp, { recursive: true, force: true }));

/** llamaLogits64 as one row-major [S, V] array. */
function ref64(w: LlamaWeights, ids: readonly number[], mode: HeadCombine, numLayers?: number): Float64Array {
  const r = llamaLogits64(w, ids, mode, numLayers);
  const V = w.config.vocabSize;
  const out = new Float64Array(r.length * V);
  r.forEach((row, i) => out.set(row, i * V));
  return out;
}

test('the float64 forward of head-poe.ts with standard heads is the reference exporter forward (both RoPE styles, GQA, untied)', () => {
  for (const opts of [{ seed: 5 }, { seed: 6, ropeStyle: 'half', tied: false, numHeads: 8, numKvHeads: 2 }] as TinyLlamaOptions[]) {
    const w = tinyLlamaWeights(opts);
    const ids = randomIds(1, 9, w.config.vocabSize);
    assert.ok(maxAbsDiff(ref64(w, ids, 'standard'), referenceLlamaLogits(w, ids)) < 1e-9);
  }
});

const configs: { label: string; opts: TinyLlamaOptions }[] = [
  { label: 'interleaved RoPE, GQA 4/2, tied', opts: { numHeads: 4, numKvHeads: 2, seed: 21 } },
  { label: 'half RoPE, GQA 8/2 (head_dim 4), untied', opts: { ropeStyle: 'half', numHeads: 8, numKvHeads: 2, tied: false, seed: 22 } },
  { label: 'interleaved RoPE, MHA 4/4', opts: { numHeads: 4, numKvHeads: 4, seed: 23 } },
];

for (const mode of ['product-all', 'product-group'] as const) {
  for (const { label, opts } of configs) {
    test(`${mode}: ONNX logits and log-probs match the float64 forward (${label}); the option matters`, async () => {
      const w = tinyLlamaWeights(opts);
      const run = await DecoderRunner.load(buildLlamaOnnx(w, { headCombine: mode }));
      const ids = randomIds(7, 16, w.config.vocabSize);
      const got = (await run.step({ ids: [ids], mask: [ids.map(() => 1)] })).logits; // [16, V]
      const want = ref64(w, ids, mode);
      assert.ok(maxAbsDiff(got, want) <= TOL, `logits: max |diff| ${maxAbsDiff(got, want)}`);
      // Log-probs of the next tokens, as the experiment reports them.
      const V = w.config.vocabSize;
      const lp = ids.slice(1).map((t, i) => {
        const row = Array.from(got.subarray(i * V, (i + 1) * V));
        const m = Math.max(...row);
        return row[t]! - m - Math.log(row.reduce((a, x) => a + Math.exp(x - m), 0));
      });
      const lp64 = llamaTokenLogprobs(w, ids, mode);
      assert.ok(maxAbsDiff(lp, lp64) < 1e-5, `log-probs: max |diff| ${maxAbsDiff(lp, lp64)}`);
      const std = ref64(w, ids, 'standard');
      if (mode === 'product-group' && w.config.numKvHeads === w.config.numHeads) {
        assert.ok(maxAbsDiff(got, std) <= TOL, 'one head per KV group: product-group is standard attention');
      } else {
        assert.ok(maxAbsDiff(got, std) > 1e-2, 'product attention differs from standard attention');
      }
      if (w.config.numKvHeads > 1 && w.config.numKvHeads < w.config.numHeads) {
        assert.ok(maxAbsDiff(want, ref64(w, ids, mode === 'product-all' ? 'product-group' : 'product-all')) > 1e-2, 'all heads vs per group differ');
      }
      await run.release();
    });
  }

  const family: DecoderFamily<LlamaWeights> = {
    name: `llama ${mode}`,
    build: (w, o) => buildLlamaOnnx(w, { ...o, headCombine: mode }),
    reference: (w, ids, n) => ref64(w, ids, mode, n),
    numLayers: (w) => w.config.numLayers,
    vocab: (w) => w.config.vocabSize,
  };
  decoderConformance(family, tinyLlamaWeights({ seed: 99 }));
}

test('product-all: a left-padded batch in which one row is mostly padding stays finite and equals the rows alone', async () => {
  const w = tinyLlamaWeights({ seed: 31, numLayers: 3 });
  const run = await DecoderRunner.load(buildLlamaOnnx(w, { headCombine: 'product-all' }));
  const V = w.config.vocabSize;
  const seqs = [randomIds(1, 12, V), randomIds(2, 1, V)];
  const { ids, mask } = leftPad(seqs);
  const r = await run.step({ ids, mask });
  assert.ok(r.logits.every(Number.isFinite));
  const S = ids[0]!.length;
  seqs.forEach((s, b) => {
    const got = rows(r.logits, V, b * S + (S - s.length), (b + 1) * S);
    assert.ok(maxAbsDiff(got, ref64(w, s, 'product-all')) <= TOL, `row ${b}`);
  });
  await run.release();
});

test('headCombine: unknown modes are refused; GPT-2 exports refuse product modes', () => {
  const w = tinyLlamaWeights({ seed: 1 });
  assert.throws(() => buildLlamaOnnx(w, { headCombine: 'product' as HeadCombine }), /headCombine: "product" is not one of standard, product-all, product-group/);
  assert.throws(() => buildGpt2Onnx(tinyGpt2Weights(), { headCombine: 'product-all' }), /Llama exports only/);
  assert.doesNotThrow(() => buildGpt2Onnx(tinyGpt2Weights(), { headCombine: 'standard' }));
});

/** Runs the CLI in-process, capturing what it prints. */
async function runCli(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const [log, error] = [console.log, console.error];
  let stdout = '';
  let stderr = '';
  console.log = (...a: unknown[]) => void (stdout += a.join(' ') + '\n');
  console.error = (...a: unknown[]) => void (stderr += a.join(' ') + '\n');
  try {
    return { code: await main(argv), stdout, stderr };
  } finally {
    [console.log, console.error] = [log, error];
  }
}

/** Log-probs of ids[1..] as the engine scores them (sliding windows of the model's context, KV cache within each). */
async function engineLogprobs(lm: CausalLM, ids: number[]): Promise<number[]> {
  const lp: number[] = new Array(ids.length - 1).fill(NaN);
  await scoreIds(lm, ids, 1, (j, st) => (lp[j - 1] = st.logprob), { topK: 0, chunk: 8 });
  return lp;
}

/** llama2.c legacy bytes (header, weights, unused RoPE tables) for tied weights. */
function llama2cBytes(w: LlamaWeights): Buffer {
  const c = w.config;
  const hs = c.dim / c.numHeads;
  const freq = new Float32Array(c.maxSeqLen * (hs / 2));
  const parts: ArrayBufferView[] = [
    new Int32Array([c.dim, c.hiddenDim, c.numLayers, c.numHeads, c.numKvHeads, c.vocabSize, c.maxSeqLen]),
    w.tokEmbedding,
    ...(['attnNorm', 'wq', 'wk', 'wv', 'wo', 'ffnNorm', 'w1', 'w2', 'w3'] as const).flatMap((k) => w.layers.map((l) => l[k])),
    w.finalNorm,
    freq,
    freq,
  ];
  return Buffer.concat(parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength)));
}

test('lens export llama2c --head-combine: config.json records it, the loader accepts it, scoring matches the float64 forward (windows, KV cache)', async () => {
  const w = tinyLlamaWeights({ seed: 41, numHeads: 4, numKvHeads: 2, maxSeqLen: 32 });
  const bin = path.join(tmp, 'tiny.bin');
  writeFileSync(bin, llama2cBytes(w));
  const tok = path.join(tmp, 'tok');
  writeTinyLlamaTokenizer(tok, w.config.vocabSize);
  const out = path.join(tmp, 'product');
  const r = await runCli(['export', 'llama2c', '--weights', bin, '--tokenizer', tok, '--out', out, '--head-combine', 'product-all']);
  assert.equal(r.code, 0, r.stderr);
  const config = JSON.parse(readFileSync(path.join(out, 'config.json'), 'utf8'));
  assert.equal(config.lens_head_combine, 'product-all');
  const bad = await runCli(['export', 'llama2c', '--weights', bin, '--tokenizer', tok, '--out', out, '--head-combine', 'mean']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /--head-combine takes standard, product-all, product-group/);

  const std = exportLlama2c({ weights: bin, tokenizerDir: tok, outDir: path.join(tmp, 'standard') });
  assert.equal(std.config.lens_head_combine, undefined, 'standard exports keep config.json as it was');

  const lm = await CausalLM.load(out, { threads: 1 });
  assert.equal(lm.describe().headCombine, 'product-all');
  // 60 ids through a 32-position context: sliding windows, each scored with the KV cache.
  const ids = [1, ...randomIds(3, 59, w.config.vocabSize)];
  const lp = await engineLogprobs(lm, ids);
  assert.ok(lp.every(Number.isFinite));
  // The first window is ids[0..32); its log-probs are the float64 forward's on the same window.
  const first = llamaTokenLogprobs(w, ids.slice(0, 32), 'product-all');
  assert.ok(maxAbsDiff(lp.slice(0, 31), first) < 1e-5, `max |diff| ${maxAbsDiff(lp.slice(0, 31), first)}`);
  const stdLm = await CausalLM.load(std.dir, { threads: 1 });
  const s = await engineLogprobs(stdLm, ids.slice(0, 32));
  assert.ok(maxAbsDiff(s, first) > 1e-2, 'the standard export scores differently');
  assert.ok(maxAbsDiff(s, llamaTokenLogprobs(w, ids.slice(0, 32), 'standard')) < 1e-5);
  await lm.dispose();
  await stdLm.dispose();
});
