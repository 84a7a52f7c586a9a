// The loader discovers each graph's inputs and outputs: fixtures that copy real Hub signatures
// (fp16 KV cache, no position_ids, merged decoder with use_cache_branch, GPT-2 naming, GQA, early
// exit) load and score the same as the plain export.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { CausalLM } from '../../src/core/model';
import { scoreText, scoreContinuations } from '../../src/core/scoring';
import { generateAll } from '../../src/core/generate';
import { makeTinyLlama, makeTinyGpt2, type TinyLlamaOptions, type TinyGpt2Options } from '../helpers/fixtures';
import { tempDir } from '../helpers/shared';

const text = 'the cat sat on the mat, and the dog ran after it.';
const ctx = 'once there was';

async function scoreWith(dir: string) {
  const lm = await CausalLM.load(dir);
  try {
    const s = await scoreText(lm, text);
    const c = await scoreContinuations(lm, ctx, ['a cat', 'the big dog ran']);
    const g = await generateAll(lm, 'the', { maxTokens: 6, stopAtEos: false });
    return { io: lm.io, s, c, g };
  } finally {
    await lm.dispose();
  }
}

const llamaVariants: [string, TinyLlamaOptions, number][] = [
  ['float16 KV cache', { kvDtype: 'float16' }, 3e-2],
  ['no position_ids input', { positionIds: false }, 1e-4],
  ['merged decoder (use_cache_branch)', { mergedDecoder: true }, 1e-4],
];

test('Llama variants score like the base export', async () => {
  const base = await scoreWith(makeTinyLlama(join(tempDir(), 'base'), { seed: 11 }).dir);
  assert.equal(base.io.hasAttentionMask, true);
  assert.equal(base.io.hasPositionIds, true);
  assert.equal(base.io.kvType, 'float32');
  for (const [name, opts, tol] of llamaVariants) {
    const v = await scoreWith(makeTinyLlama(join(tempDir(), 'v'), { seed: 11, ...opts }).dir);
    if (opts.kvDtype) assert.equal(v.io.kvType, 'float16', name);
    if (opts.positionIds === false) assert.equal(v.io.hasPositionIds, false, name);
    if (opts.mergedDecoder) assert.equal(v.io.hasUseCacheBranch, true, name);
    for (let i = 0; i < base.s.tokens.length; i++) {
      assert.ok(Math.abs(v.s.tokens[i].logprob! - base.s.tokens[i].logprob!) < tol, `${name}: token ${i}`);
    }
    for (let i = 0; i < 2; i++) assert.ok(Math.abs(v.c.results[i].nll - base.c.results[i].nll) < tol * 10, `${name}: continuation ${i}`);
    if (tol <= 1e-4) assert.deepEqual(v.g.ids, base.g.ids, name);
  }
});

test('GPT-2 naming and shapes (n_layer / n_head / n_embd) load; GQA Llama with untied head loads', async () => {
  const g: TinyGpt2Options = { seed: 5 };
  const r = await scoreWith(makeTinyGpt2(join(tempDir(), 'g'), g).dir);
  assert.ok(r.s.n_tokens > 5);
  const r16 = await scoreWith(makeTinyGpt2(join(tempDir(), 'g16'), { ...g, kvDtype: 'float16', positionIds: false }).dir);
  for (let i = 0; i < r.s.tokens.length; i++) assert.ok(Math.abs(r16.s.tokens[i].logprob! - r.s.tokens[i].logprob!) < 3e-2);
  const q = await scoreWith(makeTinyLlama(join(tempDir(), 'q'), { seed: 2, numHeads: 8, numKvHeads: 1, dim: 32, tied: false, ropeStyle: 'half' }).dir);
  assert.ok(Number.isFinite(q.s.nll));
});

test('early-exit outputs are discovered and fetched on request', async () => {
  const dir = makeTinyLlama(join(tempDir(), 'ee'), { seed: 3, earlyExitLayers: [1, 3] }).dir;
  const lm = await CausalLM.load(dir);
  try {
    assert.deepEqual(lm.io.earlyExit, [1, 3]);
    assert.deepEqual(lm.config.earlyExitLayers, [1, 3]);
    const r = await lm.forward([[1, 5, 9]], { earlyExit: [1, 3] });
    const last = r.early.get(3)!;
    for (let i = 0; i < last.length; i++) assert.equal(last[i], r.logits[i]); // k = numLayers is the final logits
    const first = r.early.get(1)!;
    let diff = 0;
    for (let i = 0; i < first.length; i++) diff = Math.max(diff, Math.abs(first[i] - r.logits[i]));
    assert.ok(diff > 1e-3);
    await assert.rejects(lm.forward([[1]], { earlyExit: [2] }), /no early-exit logits for layer 2/);
  } finally {
    await lm.dispose();
  }
});
