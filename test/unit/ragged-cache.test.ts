// The ragged in-place KV cache (src/core/onnx/in-place-cache.ts, KvState.ragged): the same logits as the
// padded cache, to float rounding, for single rows, left-padded batches of different lengths, multi-token
// steps on a cache, truncation and capacity growth; stale states are refused; decoding loops give the
// same tokens either way; graphs without it fall back to the padded cache.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { CausalLM, selectRows, truncateState, type KvState } from '../../src/core/model';
import { deriveInPlaceCache, type CacheAttention } from '../../src/core/onnx/in-place-cache';
import { generateAll } from '../../src/core/generate';
import { generatePoeAll } from '../../src/core/decoding/poe-generate';
import { speculativeAll } from '../../src/core/decoding/speculative';
import { isLensError } from '../../src/core/errors';
import { makeTinyLlama, makeTinyGpt2 } from '../helpers/fixtures';
import { tempDir } from '../helpers/shared';
import { maxAbsDiff } from '../helpers/export-runner';

const TOL = 1e-4;

async function pair(opts: Parameters<typeof makeTinyLlama>[1] = {}, cacheAttention: CacheAttention = 'plain') {
  const fx = makeTinyLlama(join(tempDir(), 'm'), { seed: 7, numLayers: 3, numHeads: 4, numKvHeads: 2, dim: 64, maxSeqLen: 128, ...opts });
  return { fx, lm: await CausalLM.load(fx.dir, { cacheAttention }), padded: await CausalLM.load(fx.dir, { raggedCache: false }) };
}

// Both ways of attending over the cache buffer (src/core/onnx/in-place-cache.ts) pass every test.
for (const attention of ['plain', 'fused'] as const) {

  test(`ragged cache: same logits as the padded cache (batches of different lengths, steps, multi-token steps) [${attention} attention]`, async () => {
    const { lm, padded } = await pair({}, attention);
    try {
      assert.equal(await lm.hasRaggedCache(), true);
      assert.equal(await padded.hasRaggedCache(), false);
      assert.equal(lm.describe({ parameters: true }).decodeCache, `ragged (${lm.cacheAttention} attention)`);
      assert.match(String(padded.describe({ parameters: true }).decodeCache), /^padded: turned off/);
      assert.equal(lm.describe().logitsToKeep, true);
      const a = [1, 5, 9, 14, 3, 8, 2];
      const b = [1, 7, 4];
      const L = a.length;
      const rows = [a, [0, 0, 0, 0, ...b]];
      const newMask = [new Uint8Array(L).fill(1), Uint8Array.from([0, 0, 0, 0, 1, 1, 1])];
      let r = await lm.forward(rows, { newMask, keepLast: 1, ragged: true });
      let p = await padded.forward(rows, { newMask, keepLast: 1, ragged: true });
      assert.ok(r.state.ragged, 'a ragged state');
      assert.equal(p.state.ragged, undefined, 'raggedCache: false keeps the padded cache');
      assert.deepEqual(r.state.ragged!.lengths, [7, 3]);
      assert.ok(maxAbsDiff(r.logits, p.logits) < TOL);
      // Decode steps, then a 3-token step on rows of different lengths (one run per row), keeping 2.
      for (let s = 0; s < 5; s++) {
        r = await lm.forward([[10 + s], [20 + s]], { state: r.state, keepLast: 1 });
        p = await padded.forward([[10 + s], [20 + s]], { state: p.state, keepLast: 1 });
        assert.ok(maxAbsDiff(r.logits, p.logits) < TOL, `step ${s}`);
      }
      r = await lm.forward([[3, 4, 5], [6, 7, 8]], { state: r.state, keepLast: 2 });
      p = await padded.forward([[3, 4, 5], [6, 7, 8]], { state: p.state, keepLast: 2 });
      assert.equal(r.seq, 2);
      assert.ok(maxAbsDiff(r.logits, p.logits) < TOL, 'multi-token step');
      assert.deepEqual(r.state.ragged!.lengths, [15, 11]);
      assert.equal(r.state.pastLen, 15);
      const cases = [
        // A left-padded multi-token step on a filled cache, in one batched run (padding ≤ 1/8 of the
        // tokens): padded tokens never enter the cache.
        { rows: [[2, 3, 4, 5, 6, 7, 8, 9], [0, 11, 12, 13, 14, 15, 16, 17]], mask: [1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1], runs: 1, lengths: [23, 18], what: 'left-padded step on a cache (one batched run)' },
        // Mostly padding: one run per row, unpadded.
        { rows: [[21, 22, 23, 24], [0, 0, 0, 25]], mask: [1, 1, 1, 1, 0, 0, 0, 1], runs: 2, lengths: [27, 19], what: 'per-row step (a run per row)' },
      ];
      for (const c of cases) {
        const width = c.rows[0].length;
        const newMask = [Uint8Array.from(c.mask.slice(0, width)), Uint8Array.from(c.mask.slice(width))];
        const runs = lm.runStats.runs;
        r = await lm.forward(c.rows, { state: r.state, newMask, keepLast: 1 });
        p = await padded.forward(c.rows, { state: p.state, newMask, keepLast: 1 });
        assert.equal(lm.runStats.runs - runs, c.runs, c.what);
        assert.deepEqual(r.state.ragged!.lengths, c.lengths);
        assert.ok(maxAbsDiff(r.logits, p.logits) < TOL, c.what);
      }
      for (let s = 0; s < 3; s++) {
        r = await lm.forward([[30 + s], [40 + s]], { state: r.state, keepLast: 1 });
        p = await padded.forward([[30 + s], [40 + s]], { state: p.state, keepLast: 1 });
        assert.ok(maxAbsDiff(r.logits, p.logits) < TOL, `step ${s} after the padded steps`);
      }
    } finally {
      await lm.dispose();
      await padded.dispose();
    }
  });

  test(`ragged cache: truncation, branching with selectRows, capacity growth, stale states refused [${attention} attention]`, async () => {
    const { lm, padded } = await pair({}, attention);
    try {
      const prompt = Array.from({ length: 70 }, (_, i) => 3 + ((i * 5) % 40)); // past the first capacity of 64
      let r = await lm.forward([prompt], { ragged: true, keepLast: 1 });
      let p = await padded.forward([prompt], { keepLast: 1 });
      assert.ok(r.state.ragged!.store.capacity >= 70);
      // Speculative-style: feed 4, keep 2 of them, go on.
      const r4 = await lm.forward([[9, 9, 9, 9]], { state: r.state, keepLast: 4 });
      const p4 = await padded.forward([[9, 9, 9, 9]], { state: p.state, keepLast: 4 });
      assert.ok(maxAbsDiff(r4.logits, p4.logits) < TOL);
      await assert.rejects(lm.forward([[1]], { state: r.state }), (e: unknown) => isLensError(e) && /superseded/.test((e as Error).message));
      const rt = truncateState(r4.state, 72);
      const pt = truncateState(p4.state, 72);
      assert.throws(() => truncateState(r4.state, 71), /superseded/);
      const branch: KvState = selectRows(rt, [0, 0]); // a copy: two rows of the same cache
      r = await lm.forward([[12]], { state: rt, keepLast: 1 });
      p = await padded.forward([[12]], { state: pt, keepLast: 1 });
      assert.ok(maxAbsDiff(r.logits, p.logits) < TOL, 'after truncation');
      const rb = await lm.forward([[12], [13]], { state: branch, keepLast: 1 });
      assert.ok(maxAbsDiff(rb.logits.subarray(0, rb.vocab), r.logits) < TOL, 'the branch is unaffected by the original going on');
      await assert.rejects(lm.forward([[1, 2]], { state: r.state, earlyExit: [1] }), /early exits need the padded cache/);
      await assert.rejects(lm.forward([[1, 2], [0, 3]], { newMask: [Uint8Array.from([1, 1]), Uint8Array.from([0, 1])], ragged: true, keepLast: 2 }), /padded rows on a ragged cache take keepLast 1/);
    } finally {
      await lm.dispose();
      await padded.dispose();
    }
  });

  test(`decoding loops on the ragged cache give the padded cache's tokens [${attention} attention]`, async () => {
    const { lm, padded } = await pair({ seed: 11 }, attention);
    try {
      for (const prompt of ['', 'ab']) {
        const a = await generateAll(lm, prompt, { maxTokens: 40, stopAtEos: false });
        const b = await generateAll(padded, prompt, { maxTokens: 40, stopAtEos: false });
        assert.deepEqual(a.ids, b.ids);
      }
      const experts = (m: CausalLM) => ['a much longer context than the other one', 'b'].map((context) => ({ model: m, context }));
      const pa = await generatePoeAll(experts(lm), { maxTokens: 30, stopAtEos: false, sampling: { temperature: 0 } });
      const pb = await generatePoeAll(experts(padded), { maxTokens: 30, stopAtEos: false, sampling: { temperature: 0 } });
      assert.deepEqual(pa.ids, pb.ids);
      pa.nll_under.forEach((x, i) => assert.ok(Math.abs(x - pb.nll_under[i]) < 1e-3));
      const sa = await speculativeAll(lm, lm, 'ab', { k: 3, maxTokens: 30, stopAtEos: false });
      assert.deepEqual(sa.ids, (await generateAll(padded, 'ab', { maxTokens: 30, stopAtEos: false })).ids);
    } finally {
      await lm.dispose();
      await padded.dispose();
    }
  });

  test(`ragged cache: head sizes of any multiple, and one KV head per query head [${attention} attention]`, async () => {
    for (const opts of [{ dim: 36, numHeads: 3, numKvHeads: 3 }, { dim: 60, numHeads: 6, numKvHeads: 2 }]) {
      const { lm, padded } = await pair(opts, attention);
      try {
        assert.equal(await lm.hasRaggedCache(), true, `head size ${opts.dim / opts.numHeads}`);
        let r = await lm.forward([[1, 4, 6, 2], [0, 0, 1, 9]], { newMask: [new Uint8Array(4).fill(1), Uint8Array.from([0, 0, 1, 1])], keepLast: 1, ragged: true });
        let p = await padded.forward([[1, 4, 6, 2], [0, 0, 1, 9]], { newMask: [new Uint8Array(4).fill(1), Uint8Array.from([0, 0, 1, 1])], keepLast: 1 });
        for (let s = 0; s < 4; s++) {
          r = await lm.forward([[5 + s], [7 + s]], { state: r.state, keepLast: 1 });
          p = await padded.forward([[5 + s], [7 + s]], { state: p.state, keepLast: 1 });
          assert.ok(maxAbsDiff(r.logits, p.logits) < TOL, `step ${s}`);
        }
      } finally {
        await lm.dispose();
        await padded.dispose();
      }
    }
  });
}

test('cache attention: fused by default, plain by option, anything else refused', async () => {
  const fx = makeTinyLlama(join(tempDir(), 'opt'), { seed: 7, numLayers: 2, numHeads: 4, numKvHeads: 2, dim: 64, maxSeqLen: 128 });
  for (const [opt, want] of [[undefined, 'fused'], ['plain', 'plain'], ['fused', 'fused']] as const) {
    const lm = await CausalLM.load(fx.dir, opt ? { cacheAttention: opt } : {});
    try {
      assert.equal(lm.cacheAttention, want);
      assert.equal(lm.describe({ parameters: true }).decodeCache, `ragged (${want} attention)`);
    } finally {
      await lm.dispose();
    }
  }
  await assert.rejects(CausalLM.load(fx.dir, { cacheAttention: 'other' as CacheAttention }), /cacheAttention must be plain or fused/);
});

test('graphs without the fused Attention layout keep the padded cache', async () => {
  const prim = makeTinyLlama(join(tempDir(), 'p'), { seed: 3, fused: false });
  assert.throws(() => deriveInPlaceCache(prim.onnx, 3, 8), (e: unknown) => isLensError(e) && /fused Attention/.test((e as Error).message));
  const gpt = makeTinyGpt2(join(tempDir(), 'g'), { seed: 3 });
  for (const dir of [prim.dir, gpt.dir]) {
    const lm = await CausalLM.load(dir);
    try {
      assert.equal(await lm.hasRaggedCache(), false);
      assert.match(String(lm.describe({ parameters: true }).decodeCache), /^padded: No ragged in-place KV cache for this graph/);
      const r = await lm.forward([[1, 2, 3]], { ragged: true });
      assert.equal(r.state.ragged, undefined);
      assert.equal((await generateAll(lm, '', { maxTokens: 5, stopAtEos: false })).ids.length, 5);
    } finally {
      await lm.dispose();
    }
  }
});
