// The generation loop: incremental detokenization, stop strings, EOS, context limit, seeded sampling.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { CausalLM } from '../../src/core/model';
import { generate, generateAll, TextStream } from '../../src/core/generate';
import { buildSamplerChain } from '../../src/core/sampling/factory';
import { LensTokenizer } from '../../src/core/tokenizer';
import { skipNoShared, storiesModelDir, storiesDir, sharedDir } from '../helpers/shared';

test('TextStream pieces concatenate to decode(ids), holding back partial UTF-8 characters', { skip: skipNoShared }, async () => {
  for (const dir of [storiesDir, join(sharedDir, 'tokenizers/gpt2')]) {
    const tok = await LensTokenizer.load(dir);
    const texts = ['Hello wörld — 👍🏽 中文 ok', ' leading space and  two', 'émoji🙂end\nnew line\ttab'];
    for (const text of texts) {
      const ids = tok.encode(text).map((s) => s.id);
      for (const split of [0, 1, 3]) {
        const s = new TextStream((x) => tok.decode(x), ids.slice(0, split));
        const pieces = ids.slice(split).map((id) => s.push(id));
        assert.equal(pieces.join(''), s.text);
        const whole = tok.decode(ids);
        const before = split ? tok.decode(ids.slice(0, split)) : '';
        assert.equal(before + s.text, whole, `${dir} ${JSON.stringify(text)} split ${split}`);
        for (const p of pieces) assert.ok(!p.includes('\uFFFD'), `partial character leaked: ${JSON.stringify(p)}`);
      }
    }
  }
});

test('stop strings cut the text; EOS and max tokens stop; events stream the same text', { skip: skipNoShared }, async () => {
  const lm = await CausalLM.load(storiesModelDir());
  try {
    const full = await generateAll(lm, 'Once upon a time', { maxTokens: 40 });
    const stopAt = full.text.indexOf('.');
    assert.ok(stopAt > 0);
    const r = await generateAll(lm, 'Once upon a time', { maxTokens: 40, stop: ['.'] });
    assert.equal(r.stopReason, 'stop-string');
    assert.equal(r.text, full.text.slice(0, stopAt));
    let streamed = '';
    for await (const ev of generate(lm, 'Once upon a time', { maxTokens: 12 })) streamed += ev.text;
    assert.equal(streamed, (await generateAll(lm, 'Once upon a time', { maxTokens: 12 })).text);
    // Seeded sampling: same seed, same text; the sampler's log-prob is ≤ 0 and the raw one too.
    const a = await generateAll(lm, 'Lily', { maxTokens: 30, sampler: buildSamplerChain({ temperature: 1, seed: 42 }) });
    const b = await generateAll(lm, 'Lily', { maxTokens: 30, sampler: buildSamplerChain({ temperature: 1, seed: 42 }) });
    assert.equal(a.text, b.text);
    for (const t of a.tokens) assert.ok(t.logprob <= 1e-9 && t.rawLogprob <= 1e-9);
    // A prompt that nearly fills the context stops with context-full; one that fills it is refused.
    let long = '';
    while (lm.tokenizer.encode(long).length < lm.maxPositions - 30) long += 'Lily ran to the park. ';
    const c = await generateAll(lm, long, { maxTokens: 100, stopAtEos: false });
    assert.equal(c.stopReason, 'context-full');
    assert.ok(c.ids.length > 0 && c.ids.length < 40, String(c.ids.length));
    await assert.rejects(generateAll(lm, long.repeat(2)), (e: Error & { code?: string }) => e.code === 'bad-argument' && /shorten it/.test(e.message));
  } finally {
    await lm.dispose();
  }
});

test('sampled first tokens follow softmax(logits / T) of a tiny model (χ²); cancellation stops generation', async () => {
  const { makeTinyLlama } = await import('../helpers/fixtures');
  const { tempDir } = await import('../helpers/shared');
  const { chiSquare, chiSquareCritical } = await import('../helpers/stats');
  const lm = await CausalLM.load(makeTinyLlama(join(tempDir(), 'chi'), { seed: 12, vocabSize: 360 }).dir);
  try {
    const T = 1.3;
    const ids = [1, ...lm.tokenizer.encode('the').map((s) => s.id)];
    const r = await lm.forward([ids]);
    const row = Array.from(r.logits.subarray((ids.length - 1) * r.vocab, ids.length * r.vocab), (x) => x / T);
    const m = Math.max(...row);
    const z = row.reduce((s, x) => s + Math.exp(x - m), 0);
    const probs = row.map((x) => Math.exp(x - m) / z);
    const counts = new Float64Array(r.vocab);
    const N = 3000;
    for (let s = 0; s < N; s++) {
      const g = await generateAll(lm, 'the', { maxTokens: 1, stopAtEos: false, sampler: buildSamplerChain({ temperature: T, seed: s }) });
      counts[g.ids[0]]++;
    }
    const { stat, df } = chiSquare(counts, probs);
    assert.ok(df > 10);
    assert.ok(stat < chiSquareCritical(df, 0.001), `χ² ${stat.toFixed(1)} (df ${df})`);
    // The same counts against T = 1 are rejected (the test has power).
    const p1 = Array.from(r.logits.subarray((ids.length - 1) * r.vocab, ids.length * r.vocab));
    const m1 = Math.max(...p1);
    const z1 = p1.reduce((s, x) => s + Math.exp(x - m1), 0);
    const wrong = chiSquare(counts, p1.map((x) => Math.exp(x - m1) / z1));
    assert.ok(wrong.stat > chiSquareCritical(wrong.df, 0.001));
    const ac = new AbortController();
    let n = 0;
    await assert.rejects(
      (async () => {
        for await (const _ of generate(lm, 'the', { maxTokens: 200, stopAtEos: false, signal: ac.signal })) if (++n === 5) ac.abort();
      })(),
      (e: Error & { code?: string }) => e.code === 'aborted',
    );
    assert.equal(n, 5);
  } finally {
    await lm.dispose();
  }
});

test('large vocabularies (lse and greedy argmax by ONNX Runtime) give the plain loop’s tokens and log-probs', async () => {
  const { makeTinyLlama } = await import('../helpers/fixtures');
  const { tempDir } = await import('../helpers/shared');
  const { NATIVE_ROW_MIN_VOCAB } = await import('../../src/core/scoring-head');
  const { logSumExp } = await import('../../src/core/math');
  const lm = await CausalLM.load(makeTinyLlama(join(tempDir(), 'bigv'), { seed: 5, vocabSize: 3000 }).dir);
  try {
    assert.ok(lm.vocab >= NATIVE_ROW_MIN_VOCAB, 'the fixture must take the native path');
    const g = await generateAll(lm, 'the', { maxTokens: 12, stopAtEos: false });
    const seq = [1, ...lm.tokenizer.encode('the').map((s) => s.id)];
    for (const ev of g.tokens) {
      const r = await lm.forward([seq]);
      const row = r.logits.subarray((seq.length - 1) * r.vocab, seq.length * r.vocab);
      let best = 0;
      for (let v = 1; v < row.length; v++) if (row[v] > row[best]) best = v;
      assert.equal(ev.id, best);
      assert.ok(Math.abs(ev.logprob - (row[best] - logSumExp(row))) < 1e-5, `logprob ${ev.logprob}`);
      assert.equal(ev.rawLogprob, ev.logprob);
      seq.push(best);
    }
    // Ties: the lowest id, as the JavaScript argmax.
    const tie = new Float32Array(NATIVE_ROW_MIN_VOCAB + 5).fill(-1);
    tie[7] = 3;
    tie[900] = 3;
    assert.deepEqual(await lm.rowLseArgmax(tie), { lse: (await lm.rowLseArgmax(tie)).lse, argmax: 7 });
    assert.ok(Math.abs((await lm.rowLseArgmax(tie)).lse - logSumExp(tie)) < 1e-5);
  } finally {
    await lm.dispose();
  }
});
