// Small steps (decode, speculative verification) of a small model run on a single-threaded second
// session; large ones (prefill, scoring chunks) on the main one. Both give the same numbers, share
// KV caches, and the choice can be turned off.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { CausalLM, DECODE_SESSION_MAX_PARAMS, DECODE_STEP_MAX_TOKENS, estimateParameters } from '../../src/core/model';
import type { ModelConfig } from '../../src/core/types';
import { generateAll } from '../../src/core/generate';
import { makeTinyLlama } from '../helpers/fixtures';
import { tempDir } from '../helpers/shared';
import { maxAbsDiff } from '../helpers/export-runner';

test('a small model decodes on a 1-thread session with the main session’s numbers; decodeThreads = threads keeps one session', async () => {
  const dir = makeTinyLlama(join(tempDir(), 'dec'), { seed: 31, numLayers: 3 }).dir;
  const two = await CausalLM.load(dir, { threads: 2 });
  const one = await CausalLM.load(dir, { threads: 2, decodeThreads: 2 });
  try {
    assert.equal(two.decodeThreads, 1);
    assert.equal(one.decodeThreads, 2);
    assert.equal(two.describe().decodeThreads, 1);
    // Prefill (more than DECODE_STEP_MAX_TOKENS tokens) on the main session, then decode steps on the
    // decode session, over the same cache; the single-session model does everything on one.
    const prompt = Array.from({ length: DECODE_STEP_MAX_TOKENS + 3 }, (_, i) => 3 + ((i * 7) % 50));
    const a = await two.forward([prompt]);
    const b = await one.forward([prompt]);
    assert.ok(maxAbsDiff(a.logits, b.logits) < 1e-5);
    let sa = a.state;
    let sb = b.state;
    for (const id of [5, 9, 13]) {
      const ra = await two.forward([[id]], { state: sa });
      const rb = await one.forward([[id]], { state: sb });
      assert.ok(maxAbsDiff(ra.logits, rb.logits) < 1e-5, `decode step ${id}`);
      sa = ra.state;
      sb = rb.state;
    }
    // Generation is unchanged.
    const ga = await generateAll(two, 'the', { maxTokens: 20, stopAtEos: false });
    const gb = await generateAll(one, 'the', { maxTokens: 20, stopAtEos: false });
    assert.deepEqual(ga.ids, gb.ids);
    ga.tokens.forEach((t, i) => assert.ok(Math.abs(t.logprob - gb.tokens[i]!.logprob) < 1e-5));
    await assert.rejects(CausalLM.load(dir, { decodeThreads: 0 }), /decodeThreads must be a positive integer/);
  } finally {
    await two.dispose();
    await one.dispose();
  }
});

test('only small models get the decode session by default: parameters estimated from config.json', () => {
  const cfg = (o: Partial<ModelConfig>): ModelConfig => ({ modelType: 'llama', numLayers: 5, numHeads: 8, numKvHeads: 4, headDim: 32, hiddenSize: 256, vocabSize: 512, maxPositions: 256, bosTokenId: 1, eosTokenIds: [2], earlyExitLayers: [], ...o });
  const englishBase = estimateParameters(cfg({})); // 3.57M
  assert.ok(Math.abs(englishBase - 3.57e6) / 3.57e6 < 0.1, `english-base estimate ${englishBase}`);
  assert.ok(englishBase <= DECODE_SESSION_MAX_PARAMS);
  const llama11m = estimateParameters(cfg({ numLayers: 4, vocabSize: 32000 })); // the bench's random 11M Llama
  assert.ok(Math.abs(llama11m - 11e6) / 11e6 < 0.1 && llama11m > DECODE_SESSION_MAX_PARAMS, `11M estimate ${llama11m}`);
});
