// Product-of-Experts generation: identities, batching, the seed's logits mode, presets end to end,
// per-expert NLLs, determinism, cancellation.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { CausalLM } from '../../src/core/model';
import { generatePoe, generatePoeAll } from '../../src/core/decoding/poe-generate';
import { expertPromptIds } from '../../src/core/decoding/experts';
import { nllOfIdsAfter, compareContinuations } from '../../src/core/decoding/compare';
import { logSumExp } from '../../src/core/math';
import { makeTinyLlama, makeTinyGpt2 } from '../helpers/fixtures';
import { skipNoShared, storiesModelDir, tempDir } from '../helpers/shared';

const skip = skipNoShared;
let lm: CausalLM;
let lm2: CausalLM; // a second instance of the same model: a separate group, so not batched with lm
const A = 'Lily had a cat.';
const B = 'Tom went to the park.';
before(async () => {
  if (skip) return;
  lm = await CausalLM.load(storiesModelDir());
  lm2 = await CausalLM.load(storiesModelDir());
});
after(async () => {
  await lm?.dispose();
  await lm2?.dispose();
});

function close(a: number[], b: number[], tol: number, what: string) {
  assert.equal(a.length, b.length, what);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) < tol, `${what}[${i}]: ${a[i]} vs ${b[i]}`);
}

test('PoE(A, A) with weights (0.5, 0.5) is expert A alone', { skip }, async () => {
  const one = await generatePoeAll([{ model: lm, context: A }], { maxTokens: 20, sampling: { temperature: 0.9, seed: 5 } });
  const two = await generatePoeAll([{ model: lm, context: A, weight: 0.5 }, { model: lm, context: A, weight: 0.5 }], { maxTokens: 20, sampling: { temperature: 0.9, seed: 5 } });
  assert.deepEqual(two.ids, one.ids);
  close(two.tokens.map((t) => t.logprob), one.tokens.map((t) => t.logprob), 1e-4, 'logprob');
});

test('PoE(A, A) with weights (1, 1) is expert A at half the temperature', { skip }, async () => {
  const half = await generatePoeAll([{ model: lm, context: A }], { maxTokens: 20, sampling: { temperature: 0.6, seed: 9 } });
  const two = await generatePoeAll([{ model: lm, context: A }, { model: lm, context: A }], { maxTokens: 20, sampling: { temperature: 1.2, seed: 9 } });
  assert.deepEqual(two.ids, half.ids);
  close(two.tokens.map((t) => t.logprob), half.tokens.map((t) => t.logprob), 1e-4, 'logprob');
});

test('batched experts (one forward per step) equal unbatched ones', { skip }, async () => {
  const opts = { maxTokens: 16, sampling: { temperature: 0.8, seed: 3 } };
  const batched = await generatePoeAll([{ model: lm, context: A }, { model: lm, context: B }], opts);
  const separate = await generatePoeAll([{ model: lm, context: A }, { model: lm2, context: B }], opts);
  assert.deepEqual(batched.ids, separate.ids);
  close(batched.nll_under, separate.nll_under, 1e-3, 'nll_under');
  // One forward per step (+ the prefill) for the batched pair; two per step for the separate one.
  assert.equal(batched.forwards, batched.ids.length);
  assert.equal(separate.forwards, 2 * separate.ids.length);
});

test("combine 'logits' reproduces the seed's loop (sum of tempered raw logits, full recompute, same token to both)", { skip }, async () => {
  const T = 0.7;
  const ours = await generatePoeAll([{ model: lm, context: A }, { model: lm, context: B }], { combine: 'logits', maxTokens: 8, sampling: { temperature: 0 } });
  // The seed: recompute every expert's whole sequence each step; next = argmax softmax(Σ logits_i / T).
  const seqs = [expertPromptIds(lm, A, '', ' '), expertPromptIds(lm, B, '', ' ')];
  const seed: number[] = [];
  for (let step = 0; step < 8; step++) {
    let sum: Float64Array | null = null;
    for (const s of seqs) {
      const r = await lm.forward([s]);
      const row = r.logits.subarray((s.length - 1) * r.vocab, s.length * r.vocab);
      if (!sum) sum = new Float64Array(r.vocab);
      for (let v = 0; v < r.vocab; v++) sum[v] += row[v] / T;
    }
    let best = 0;
    for (let v = 1; v < sum!.length; v++) if (sum![v] > sum![best]) best = v;
    if (lm.eosIds.includes(best)) break;
    seed.push(best);
    for (const s of seqs) s.push(best);
  }
  assert.deepEqual(ours.ids, seed);
  // Sampling: the logits and logprobs modes give the same distribution, so the same draws.
  const x = await generatePoeAll([{ model: lm, context: A }, { model: lm, context: B }], { combine: 'logits', maxTokens: 12, sampling: { temperature: T, seed: 1 } });
  const y = await generatePoeAll([{ model: lm, context: A }, { model: lm, context: B }], { combine: 'logprobs', maxTokens: 12, sampling: { temperature: T, seed: 1 } });
  assert.deepEqual(x.ids, y.ids);
  close(x.tokens.map((t) => t.logprob), y.tokens.map((t) => t.logprob), 1e-4, 'logprob');
});

test('per-expert log-probs and nll_under equal scoring the sample under each context', { skip }, async () => {
  const r = await generatePoeAll([{ model: lm, context: A }, { model: lm, context: B }], { maxTokens: 12, sampling: { temperature: 1, seed: 21 } });
  assert.equal(r.experts.length, 2);
  const na = await nllOfIdsAfter(lm, expertPromptIds(lm, A, '', ' '), r.ids);
  const nb = await nllOfIdsAfter(lm, expertPromptIds(lm, B, '', ' '), r.ids);
  close(r.nll_under, [na, nb], 1e-4, 'nll_under');
  for (const t of r.tokens) assert.ok(t.expert_logprobs.every((x) => x <= 0));
});

test('the concat baseline is one expert on "A B"', { skip }, async () => {
  const c = await generatePoeAll([{ model: lm, context: A }, { model: lm, context: B }], { preset: 'concat', maxTokens: 10, sampling: { temperature: 0.8, seed: 4 } });
  const single = await generatePoeAll([{ model: lm, context: `${A} ${B}` }], { maxTokens: 10, sampling: { temperature: 0.8, seed: 4 } });
  assert.deepEqual(c.ids, single.ids);
  assert.equal(c.experts.length, 1);
});

test('presets run end to end; their first step equals the formula on the experts\' rows', { skip }, async () => {
  const rowOf = async (ctx: string) => {
    const ids = expertPromptIds(lm, ctx, '', ' ');
    const r = await lm.forward([ids]);
    const row = Array.from(r.logits.subarray((ids.length - 1) * r.vocab, ids.length * r.vocab));
    const lse = logSumExp(Float64Array.from(row));
    return row.map((x) => x - lse);
  };
  const [la, lb, lc] = [await rowOf(A), await rowOf(B), await rowOf('')];
  const argmax = (x: number[]) => x.reduce((bi, v, i, arr) => (v > arr[bi] ? i : bi), 0);
  // cfg with α: (1+α)·lp(x|A) − α·lp(x|∅), greedy
  const cfg = await generatePoeAll([{ model: lm, context: A }, { model: lm, context: '' }], { preset: 'cfg', alpha: 1.5, maxTokens: 3, sampling: { temperature: 0 } });
  assert.equal(cfg.ids[0], argmax(la.map((x, i) => 2.5 * x - 1.5 * lc[i])));
  // dexperts: base + α(expert − anti)
  const dx = await generatePoeAll([{ model: lm, context: '' }, { model: lm, context: A }, { model: lm, context: B }], { preset: 'dexperts', alpha: 2, maxTokens: 3, sampling: { temperature: 0 } });
  assert.equal(dx.ids[0], argmax(lc.map((x, i) => x + 2 * (la[i] - lb[i]))));
  // contrastive: expert − λ·amateur on tokens with p_expert ≥ α·max p_expert
  const ct = await generatePoeAll([{ model: lm, context: A }, { model: lm, context: B }], { preset: 'contrastive', alpha: 0.1, lambda: 1, maxTokens: 3, sampling: { temperature: 0 } });
  const maxA = Math.max(...la);
  assert.equal(ct.ids[0], argmax(la.map((x, i) => (x >= maxA + Math.log(0.1) ? x - lb[i] : -Infinity))));
  for (const r of [cfg, dx, ct]) assert.equal(r.ids.length, 3);
});

test('DoLa runs on an export with early-exit layers, says which layer it chose, and derives the exits of a plain Llama export', async () => {
  const dir = makeTinyLlama(join(tempDir(), 'dola'), { seed: 8, numLayers: 4, earlyExitLayers: [1, 2, 3] }).dir;
  const m = await CausalLM.load(dir);
  try {
    const r = await generatePoeAll([{ model: m, context: 'the cat' }], { preset: 'dola', maxTokens: 5, sampling: { temperature: 0 }, stopAtEos: false });
    assert.equal(r.ids.length, 5);
    for (const t of r.tokens) assert.ok([1, 2, 3].includes(t.dola_layer!));
    // The same weights exported without early exits: they are derived (src/core/onnx/early-exit.ts), same output.
    const plain = makeTinyLlama(join(tempDir(), 'plain-dola'), { seed: 8, numLayers: 4 }).dir;
    const p = await CausalLM.load(plain);
    const rp = await generatePoeAll([{ model: p, context: 'the cat' }], { preset: 'dola', maxTokens: 5, sampling: { temperature: 0 }, stopAtEos: false });
    assert.deepEqual(rp.ids, r.ids);
    assert.deepEqual(rp.tokens.map((t) => t.dola_layer), r.tokens.map((t) => t.dola_layer));
    await p.dispose();
    // A GPT-2 graph has no derivable exits: a clear error.
    const gpt = makeTinyGpt2(join(tempDir(), 'nodola'), { seed: 8 }).dir;
    const q = await CausalLM.load(gpt);
    await assert.rejects(generatePoeAll([{ model: q, context: 'x' }], { preset: 'dola' }), /export the model with --early-exit/);
    await q.dispose();
  } finally {
    await m.dispose();
  }
});

test('experts from models with different tokenizers are refused with a clear error', async () => {
  const a = await CausalLM.load(makeTinyLlama(join(tempDir(), 'l'), { seed: 1 }).dir);
  const g = await CausalLM.load(makeTinyGpt2(join(tempDir(), 'g'), { seed: 1 }).dir);
  const b = await CausalLM.load(makeTinyLlama(join(tempDir(), 'l2'), { seed: 2 }).dir); // same tokenizer, other weights
  try {
    await assert.rejects(generatePoeAll([{ model: a, context: 'x' }, { model: g, context: 'y' }]), (e: Error & { code?: string }) => e.code === 'vocab-mismatch' && /do not share a tokenizer/.test(e.message));
    const r = await generatePoeAll([{ model: a, context: 'the' }, { model: b, context: 'the' }], { maxTokens: 4, stopAtEos: false });
    assert.equal(r.ids.length, 4);
  } finally {
    await a.dispose();
    await g.dispose();
    await b.dispose();
  }
});

test('seeded sampling is reproducible; other seeds differ; an AbortSignal stops within one step', { skip }, async () => {
  const run = (seed: number) => generatePoeAll([{ model: lm, context: A }, { model: lm, context: B }], { maxTokens: 24, sampling: { temperature: 1, seed } });
  const [x, y, z] = [await run(7), await run(7), await run(8)];
  assert.deepEqual(x.ids, y.ids);
  assert.notDeepEqual(x.ids, z.ids);
  const ac = new AbortController();
  const it = generatePoe([{ model: lm, context: A }, { model: lm, context: B }], { maxTokens: 100, sampling: { temperature: 1, seed: 1 }, signal: ac.signal, stopAtEos: false });
  let n = 0;
  await assert.rejects(
    (async () => {
      for await (const _ of it) if (++n === 3) ac.abort();
    })(),
    (e: Error & { code?: string }) => e.code === 'aborted',
  );
  assert.equal(n, 3);
});

test('compare: A, B, PoE and concat, N samples each with NLL under both contexts', { skip }, async () => {
  const r = await compareContinuations(lm, 'I am a cat.', 'I am a dog.', { samples: 3, maxTokens: 6, sampling: { temperature: 0.7, seed: 2 } });
  assert.deepEqual(r.methods.map((m) => m.name), ['A', 'B', 'poe', 'concat']);
  for (const m of r.methods) {
    assert.equal(m.samples.length, 3);
    for (const s of m.samples) {
      assert.ok(s.ids.length > 0 && s.ids.length <= 6);
      assert.ok(s.nll_under[0] > 0 && s.nll_under[1] > 0);
    }
  }
  // A-samples are likelier under A than B-samples are, on average (they were drawn from A).
  const mean = (m: string, i: 0 | 1) => {
    const s = r.methods.find((x) => x.name === m)!.samples;
    return s.reduce((acc, x) => acc + x.nll_under[i] / x.ids.length, 0) / s.length;
  };
  assert.ok(mean('A', 0) < mean('B', 0) + 1e-9 || mean('B', 1) < mean('A', 1) + 1e-9);
});
