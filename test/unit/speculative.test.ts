// Speculative decoding: greedy output identical to the target's; sampled tokens distributed as the
// target's own samples (χ² test on the first two tokens); statistics; refusals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { CausalLM } from '../../src/core/model';
import { speculativeAll } from '../../src/core/decoding/speculative';
import { generateAll, promptIds } from '../../src/core/generate';
import { logSumExp } from '../../src/core/math';
import { makeTinyLlama, makeTinyGpt2 } from '../helpers/fixtures';
import { skipNoShared, storiesModelDir, storiesDir, tempDir } from '../helpers/shared';
import { chiSquare, chiSquareCritical } from '../helpers/stats';

test('greedy speculative output equals the target\'s greedy output, for a good and a bad draft', { skip: skipNoShared }, async () => {
  const target = await CausalLM.load(storiesModelDir());
  const self = await CausalLM.load(storiesModelDir());
  const bad = await CausalLM.load(makeTinyLlama(join(tempDir(), 'd'), { seed: 4, maxSeqLen: 512, tokenizerDir: storiesDir }).dir);
  try {
    const ref = await generateAll(target, 'Once upon a time', { maxTokens: 60 });
    for (const [draft, k] of [[self, 4], [bad, 3], [bad, 1]] as const) {
      const r = await speculativeAll(draft, target, 'Once upon a time', { k, maxTokens: 60 });
      assert.deepEqual(r.ids, ref.ids, `k=${k}`);
      assert.equal(r.text, ref.text);
    }
    const same = await speculativeAll(self, target, 'Once upon a time', { k: 4, maxTokens: 60 });
    assert.equal(same.stats.acceptanceRate, 1);
    assert.ok(same.stats.tokensPerTargetForward > 4, String(same.stats.tokensPerTargetForward));
    const worse = await speculativeAll(bad, target, 'Once upon a time', { k: 4, maxTokens: 60 });
    assert.ok(worse.stats.acceptanceRate < 0.5);
    assert.ok(worse.stats.targetForwards > same.stats.targetForwards);
  } finally {
    await Promise.all([target.dispose(), self.dispose(), bad.dispose()]);
  }
});

test('sampled speculative tokens follow the target distribution (χ², first and second token)', async () => {
  const target = await CausalLM.load(makeTinyLlama(join(tempDir(), 't'), { seed: 1, vocabSize: 360 }).dir);
  const draftFix = makeTinyLlama(join(tempDir(), 'dr'), { seed: 2, vocabSize: 360 });
  const draft = await CausalLM.load(draftFix.dir);
  try {
    const prompt = 'the';
    const T = 1.5; // flatter rows: more categories carry mass
    // Exact target distributions: p(x1) and p(x2) = Σ_x1 p(x1) p(x2 | x1).
    const ids = promptIds(target, prompt);
    const r1 = await target.forward([ids]);
    const V = r1.vocab;
    const row1 = r1.logits.subarray((ids.length - 1) * V, ids.length * V);
    const temper = (row: ArrayLike<number>) => {
      const x = Float64Array.from(row, (v) => v / T);
      const l = logSumExp(x);
      return Float64Array.from(x, (v) => Math.exp(v - l));
    };
    const p1 = temper(row1);
    const rows = Array.from({ length: V }, (_, x) => [...ids, x]);
    const r2 = await target.forward(rows);
    const p2 = new Float64Array(V);
    for (let x = 0; x < V; x++) {
      const q = temper(r2.logits.subarray((x * (ids.length + 1) + ids.length) * V, (x * (ids.length + 1) + ids.length + 1) * V));
      for (let y = 0; y < V; y++) p2[y] += p1[x] * q[y];
    }
    const N = 2500;
    const c1 = new Float64Array(V);
    const c2 = new Float64Array(V);
    let accepted = 0;
    let proposed = 0;
    for (let s = 0; s < N; s++) {
      const r = await speculativeAll(draft, target, prompt, { k: 2, maxTokens: 2, stopAtEos: false, sampling: { temperature: T, seed: s } });
      c1[r.ids[0]]++;
      c2[r.ids[1]]++;
      accepted += r.stats.accepted;
      proposed += r.stats.proposed;
    }
    const crit = (df: number) => chiSquareCritical(df, 0.001);
    const t1 = chiSquare(c1, p1);
    const t2 = chiSquare(c2, p2);
    assert.ok(t1.df > 5 && t2.df > 5, `too few bins: ${t1.df}, ${t2.df}`);
    assert.ok(t1.stat < crit(t1.df), `first token: χ² ${t1.stat.toFixed(1)} ≥ ${crit(t1.df).toFixed(1)} (df ${t1.df})`);
    assert.ok(t2.stat < crit(t2.df), `second token: χ² ${t2.stat.toFixed(1)} ≥ ${crit(t2.df).toFixed(1)} (df ${t2.df})`);
    // The draft really differs from the target: some proposals are rejected.
    assert.ok(accepted < proposed && accepted > 0, `${accepted}/${proposed}`);
    // The draft's own distribution would fail the same test (the test has power).
    const dr = await draft.forward([ids]);
    const q1 = temper(dr.logits.subarray((ids.length - 1) * V, ids.length * V));
    assert.ok(chiSquare(c1, q1).stat > crit(chiSquare(c1, q1).df), 'the test cannot tell the draft from the target');
  } finally {
    await target.dispose();
    await draft.dispose();
  }
});

test('a draft with another tokenizer is refused', async () => {
  const a = await CausalLM.load(makeTinyLlama(join(tempDir(), 'l'), { seed: 1 }).dir);
  const g = await CausalLM.load(makeTinyGpt2(join(tempDir(), 'g'), { seed: 1 }).dir);
  try {
    await assert.rejects(speculativeAll(g, a, 'x'), (e: Error & { code?: string }) => e.code === 'vocab-mismatch');
  } finally {
    await a.dispose();
    await g.dispose();
  }
});
