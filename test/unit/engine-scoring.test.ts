// Scoring: KV-cached chunks = one forward, conditional = joint − marginal, sliding windows,
// batched left-padded rows = each alone, shared-prefix continuations = independent scoring.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CausalLM } from '../../src/core/model';
import { scoreText, scoreContinuations, scoreIds, rowStats } from '../../src/core/scoring';
import { skipNoShared, sharedDir, storiesModelDir } from '../helpers/shared';

let lm: CausalLM;
const skip = skipNoShared;
before(async () => {
  if (!skip) lm = await CausalLM.load(storiesModelDir());
});
after(async () => {
  await lm?.dispose();
});

const story = 'Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her dog Max.';

function assertTiles(text: string, tokens: { start: number; end: number; text: string }[]) {
  assert.equal(tokens[0].start, 0);
  for (let i = 1; i < tokens.length; i++) assert.equal(tokens[i].start, tokens[i - 1].end, `gap before token ${i}`);
  assert.equal(tokens.at(-1)!.end, text.length);
  for (const t of tokens) assert.equal(t.text, text.slice(t.start, t.end));
}

test('every token gets a log-prob, rank, entropy and top-k; ranges tile the text', { skip }, async () => {
  const r = await scoreText(lm, story, { topK: 4 });
  assertTiles(story, r.tokens);
  for (const t of r.tokens) {
    assert.ok(t.logprob !== null && t.logprob <= 0);
    assert.ok(t.rank !== null && t.rank >= 1);
    assert.ok(t.entropy !== null && t.entropy >= 0 && t.entropy <= Math.log(512) + 1e-9);
    assert.equal(t.top.length, 4);
    for (let i = 1; i < t.top.length; i++) assert.ok(t.top[i - 1].logprob >= t.top[i].logprob);
    if (t.rank === 1) assert.equal(t.top[0].id, t.id);
    assert.ok(t.top[0].logprob >= t.logprob! - 1e-12);
  }
  const nll = -r.tokens.reduce((s, t) => s + t.logprob!, 0);
  assert.ok(Math.abs(nll - r.nll) < 1e-9);
  assert.ok(Math.abs(r.perplexity - Math.exp(r.nll / r.n_tokens)) < 1e-9);
  assert.ok(Math.abs(r.bits_per_char - r.nll / Math.LN2 / story.length) < 1e-12);
});

test('rowStats agrees with a direct log-softmax', () => {
  const x = Float32Array.from([1.5, -2, 0.25, 3, 3, -1e4]);
  const lse = Math.log(Array.from(x).reduce((s, v) => s + Math.exp(v), 0));
  const st = rowStats(x, 0, x.length, 2, 3);
  assert.ok(Math.abs(st.logprob - (0.25 - lse)) < 1e-12);
  assert.equal(st.rank, 4); // 1.5, 3, 3 are larger
  const p = Array.from(x).map((v) => Math.exp(v - lse));
  const h = -p.reduce((s, pi) => s + (pi > 0 ? pi * Math.log(pi) : 0), 0);
  assert.ok(Math.abs(st.entropy - h) < 1e-9);
  assert.deepEqual(st.top.map((t) => t.id), [3, 4, 0]);
});

test('KV-cached chunked scoring equals one full forward', { skip }, async () => {
  const full = await scoreText(lm, story, { chunk: 4096 });
  for (const chunk of [1, 7, 32]) {
    const r = await scoreText(lm, story, { chunk });
    assert.equal(r.tokens.length, full.tokens.length);
    for (let i = 0; i < r.tokens.length; i++) assert.ok(Math.abs(r.tokens[i].logprob! - full.tokens[i].logprob!) < 1e-4, `chunk ${chunk} token ${i}`);
  }
});

test('conditional NLL equals joint − marginal when the boundary is aligned (the seed check)', { skip }, async () => {
  const joint = await scoreText(lm, 'Hi nice to meet you.');
  const marginal = await scoreText(lm, 'Hi');
  const cond = await scoreText(lm, 'nice to meet you.', { context: 'Hi' });
  assert.equal(cond.context!.boundary.aligned, true);
  assert.ok(Math.abs(cond.nll - (joint.nll - marginal.nll)) < 1e-4, `${cond.nll} vs ${joint.nll - marginal.nll}`);
  assertTiles('nice to meet you.', cond.tokens);
  // Conditioning changes the score of the text.
  const uncond = await scoreText(lm, 'nice to meet you.');
  assert.ok(Math.abs(uncond.nll - cond.nll) > 1e-3);
});

test('a context the tokenizer does not split at is reported, not silently mis-aligned', { skip }, async () => {
  // "Once upon a ti" + "" + "me": the joint text tokenizes " time" as one token across the boundary.
  const r = await scoreText(lm, 'me, there was', { context: 'Once upon a ti', separator: '' });
  assert.equal(r.context!.boundary.aligned, false);
  assert.match(r.context!.boundary.note!, /spans the boundary/);
  assert.equal(r.tokens[0].start, 0);
  assert.equal(r.tokens.at(-1)!.end, 'me, there was'.length);
});

test('sliding window: equals direct scoring where the text fits, and each window token equals scoring its window directly', { skip }, async () => {
  const text = readFileSync(join(sharedDir, 'corpora/tinyshakespeare.txt'), 'utf8').slice(0, 600);
  const ids = [lm.bosId!, ...lm.tokenizer.encode(text).map((s) => s.id)];
  assert.ok(ids.length > 150, `need a longer text (${ids.length})`);
  const direct = new Map<number, number>();
  await scoreIds(lm, ids, 1, (j, st) => direct.set(j, st.logprob), { topK: 0 });
  // A window as large as the text: identical.
  const same = new Map<number, number>();
  const w1 = await scoreIds(lm, ids, 1, (j, st) => same.set(j, st.logprob), { topK: 0, windowSize: ids.length, chunk: 50 });
  assert.equal(w1, 1);
  for (const [j, v] of direct) assert.ok(Math.abs(v - same.get(j)!) < 1e-4);
  // Small windows: every token scored once.
  const W = 64;
  const keep = 40;
  const win = new Map<number, number>();
  const n = await scoreIds(lm, ids, 1, (j, st) => {
    assert.ok(!win.has(j), `token ${j} scored twice`);
    win.set(j, st.logprob);
  }, { topK: 0, windowSize: W, windowContext: keep });
  assert.equal(win.size, ids.length - 1);
  assert.ok(n > 3);
  // Tokens of the first window equal direct scoring.
  for (let j = 1; j < W; j++) assert.ok(Math.abs(win.get(j)! - direct.get(j)!) < 1e-4);
  // A token in a later window equals scoring [BOS] + its window's context directly.
  const step = W - 1 - keep;
  const j = W + step + 3; // in the third window
  const end = W + step; // the third window scores [end, end+step)
  const begin = end - keep;
  const sub = [ids[0], ...ids.slice(begin, j + 1)];
  let ref = NaN;
  await scoreIds(lm, sub, sub.length - 1, (_k, st) => (ref = st.logprob), { topK: 0 });
  assert.ok(Math.abs(win.get(j)! - ref) < 1e-4, `${win.get(j)} vs ${ref}`);
  // Windowed scores differ from full-context ones somewhere (the window really cut the context).
  let differs = 0;
  for (let k = W; k < ids.length; k++) if (Math.abs(win.get(k)! - direct.get(k)!) > 1e-3) differs++;
  assert.ok(differs > 0);
});

test('a batch of left-padded rows equals each row alone, also over cached decode steps', { skip }, async () => {
  const a = [1, ...lm.tokenizer.encode('Once upon a time there was a dog').map((s) => s.id)];
  const b = [1, ...lm.tokenizer.encode('Lily ran').map((s) => s.id)];
  const L = Math.max(a.length, b.length);
  const pad = (r: number[]) => [...Array(L - r.length).fill(0), ...r];
  const mask = (r: number[]) => Uint8Array.from([...Array(L - r.length).fill(0), ...Array(r.length).fill(1)]);
  const batched = await lm.forward([pad(a), pad(b)], { newMask: [mask(a), mask(b)] });
  const V = batched.vocab;
  for (const [row, seq] of [a, b].entries()) {
    const alone = await lm.forward([seq]);
    const off = L - seq.length;
    for (let t = 0; t < seq.length; t++) {
      for (let v = 0; v < V; v += 7) {
        const x = batched.logits[(row * L + off + t) * V + v];
        const y = alone.logits[t * V + v];
        assert.ok(Math.abs(x - y) < 1e-4, `row ${row} pos ${t} vocab ${v}: ${x} vs ${y}`);
      }
    }
    // Two cached decode steps on top of each.
    let sb = batched.state;
    let sa = alone.state;
    for (const next of [42, 77]) {
      const rb = await lm.forward([[next], [next]], { state: sb });
      const ra = await lm.forward([[next]], { state: sa });
      for (let v = 0; v < V; v++) assert.ok(Math.abs(rb.logits[row * V + v] - ra.logits[v]) < 1e-4);
      sb = rb.state;
      sa = ra.state;
    }
  }
});

test('continuations of one context share one prefill and equal independent scoring', { skip }, async () => {
  const q = 'What did Lily see in the park? She saw';
  const cands = ['a big red ball.', 'a dog.', 'her mom and her friend Tom playing with a kite.'];
  const r = await scoreContinuations(lm, q, cands);
  assert.equal(r.prefixForwards, 1);
  assert.ok(r.sharedPrefixTokens > 5);
  for (const [i, c] of cands.entries()) {
    const alone = await scoreText(lm, c, { context: q });
    assert.equal(r.results[i].tokens.length, alone.tokens.length);
    assert.ok(Math.abs(r.results[i].nll - alone.nll) < 1e-4, `${c}: ${r.results[i].nll} vs ${alone.nll}`);
    for (let t = 0; t < alone.tokens.length; t++) {
      assert.equal(r.results[i].tokens[t].rank, alone.tokens[t].rank);
      assert.equal(r.results[i].tokens[t].start, alone.tokens[t].start);
    }
  }
});

test('scoring honours an AbortSignal between chunks', { skip }, async () => {
  const ac = new AbortController();
  let calls = 0;
  await assert.rejects(
    scoreText(lm, story.repeat(4), {
      chunk: 8,
      signal: ac.signal,
      onProgress: () => {
        if (++calls === 2) ac.abort();
      },
    }),
    (e: Error & { code?: string }) => e.code === 'aborted',
  );
  assert.equal(calls, 2);
});

test('the scoring head (ONNX Runtime) agrees with the float64 JavaScript reference on random rows', { skip }, async () => {
  const V = lm.vocab;
  const rows = 9;
  const x = new Float32Array(rows * V);
  let seed = 7;
  for (let i = 0; i < x.length; i++) {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    x[i] = (seed / 2 ** 32 - 0.5) * 16;
  }
  const targets = Array.from({ length: rows }, (_, i) => (i * 37) % V);
  const h = await lm.scoreRows(x, V, 0, rows, targets, 4);
  for (let i = 0; i < rows; i++) {
    const ref = rowStats(x, i * V, V, targets[i], 4);
    assert.ok(Math.abs(h.logprob[i] - ref.logprob) < 1e-4);
    assert.equal(h.rank[i], ref.rank);
    assert.ok(Math.abs(h.entropy[i] - ref.entropy) < 1e-4);
    assert.deepEqual(Array.from(h.topIndices.subarray(i * 4, i * 4 + 4), Number), ref.top.map((t) => t.id));
  }
});
