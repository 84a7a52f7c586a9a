// Logits for the last positions only (src/core/onnx/logits-to-keep.ts, ForwardOptions.keepLast): the
// graph derived at load takes num_logits_to_keep and gives exactly the full graph's logits at the kept
// positions (left padding, cache, early exits, fused and primitive-op exports); graphs it does not know
// (GPT-2) keep their I/O and keepLast copies the same rows out of the full logits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { CausalLM } from '../../src/core/model';
import { deriveLogitsToKeep, LOGITS_TO_KEEP } from '../../src/core/onnx/logits-to-keep';
import { makeTinyLlama, makeTinyGpt2 } from '../helpers/fixtures';
import { tempDir } from '../helpers/shared';

/** Rows [b, seq−keep .. seq) of a [batch, seq, vocab] block. */
function tail(x: Float32Array, batch: number, seq: number, keep: number, V: number): Float32Array {
  const out = new Float32Array(batch * keep * V);
  for (let b = 0; b < batch; b++) out.set(x.subarray((b * seq + seq - keep) * V, (b * seq + seq) * V), b * keep * V);
  return out;
}

for (const fused of [true, false]) {
  test(`keepLast equals the full logits' last rows (${fused ? 'fused' : 'primitive-op'} Llama export)`, async () => {
    const fx = makeTinyLlama(join(tempDir(), 'm'), { seed: 5, numLayers: 3, fused, earlyExitLayers: [1] });
    const lm = await CausalLM.load(fx.dir);
    try {
      assert.equal(lm.io.logitsToKeep, true, 'the graph was derived with num_logits_to_keep');
      assert.ok(lm.io.inputs.some((i) => i.name === LOGITS_TO_KEEP));
      const rows = [[0, 0, 5, 9, 14, 3], [3, 7, 11, 2, 8, 1]];
      const newMask = [Uint8Array.from([0, 0, 1, 1, 1, 1]), Uint8Array.from([1, 1, 1, 1, 1, 1])];
      const full = await lm.forward(rows, { newMask });
      const V = full.vocab;
      for (const keep of [1, 2, 6]) {
        const r = await lm.forward(rows, { newMask, keepLast: keep });
        assert.equal(r.seq, keep);
        assert.deepEqual(r.logits, tail(full.logits, 2, 6, keep, V), `keepLast ${keep}: same numbers as the full graph`);
        assert.equal(r.state.pastLen, 6, 'the cache holds every position whatever is kept');
      }
      // On the cache: a 3-token step keeping 2, against the full step.
      const s1 = await lm.forward(rows, { newMask, keepLast: 1 });
      const a = await lm.forward([[4, 6, 2], [9, 9, 9]], { state: s1.state, keepLast: 2 });
      const b = await lm.forward([[4, 6, 2], [9, 9, 9]], { state: full.state });
      assert.deepEqual(a.logits, tail(b.logits, 2, 3, 2, V));
      // Early exits (a second session without the input): sliced alike.
      const e = await lm.forward(rows, { newMask, earlyExit: [1], keepLast: 1 });
      const ef = await lm.forward(rows, { newMask, earlyExit: [1] });
      assert.equal(e.seq, 1);
      assert.deepEqual(e.early.get(1), tail(ef.early.get(1)!, 2, 6, 1, V));
      assert.deepEqual(e.logits, tail(ef.logits, 2, 6, 1, V));
      await assert.rejects(lm.forward(rows, { newMask, keepLast: 7 }), /keepLast must be an integer in 1\.\.6/);
      await assert.rejects(lm.forward(rows, { newMask, keepLast: 0 }), /keepLast must be an integer in 1\.\.6/);
    } finally {
      await lm.dispose();
    }
  });
}

test('the derived graph computes the LM head on the kept positions only', async () => {
  const fx = makeTinyLlama(join(tempDir(), 'm'), { seed: 6, numLayers: 2 });
  const bytes = deriveLogitsToKeep(fx.onnx, 2);
  assert.ok(bytes);
  assert.equal(deriveLogitsToKeep(bytes, 2), null, 'derived once only');
  const s = await ort.InferenceSession.create(bytes);
  try {
    const S = 5;
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', BigInt64Array.from([1n, 2n, 3n, 4n, 5n]), [1, S]),
      attention_mask: new ort.Tensor('int64', new BigInt64Array(S).fill(1n), [1, S]),
      position_ids: new ort.Tensor('int64', BigInt64Array.from([0n, 1n, 2n, 3n, 4n]), [1, S]),
      [LOGITS_TO_KEEP]: new ort.Tensor('int64', BigInt64Array.from([2n]), [1]),
    };
    const c = fx.config as { num_key_value_heads: number; head_dim?: number; hidden_size: number; num_attention_heads: number };
    const hd = c.head_dim ?? c.hidden_size / c.num_attention_heads;
    for (let i = 0; i < 2; i++) for (const kind of ['key', 'value']) feeds[`past_key_values.${i}.${kind}`] = new ort.Tensor('float32', new Float32Array(0), [1, c.num_key_value_heads, 0, hd]);
    const out = await s.run(feeds, ['logits', 'present.0.key']);
    assert.deepEqual(out.logits.dims.slice(0, 2), [1, 2], 'logits for the last 2 positions');
    assert.equal(out['present.0.key'].dims[2], S, 'the cache covers all 5');
  } finally {
    await s.release();
  }
});

test('graphs in another layout (GPT-2) keep their inputs; keepLast copies the rows out', async () => {
  const fx = makeTinyGpt2(join(tempDir(), 'g'), { seed: 3 });
  assert.equal(deriveLogitsToKeep(fx.onnx, 3), null);
  const lm = await CausalLM.load(fx.dir);
  try {
    assert.equal(lm.io.logitsToKeep, false);
    const rows = [[5, 9, 14, 3]];
    const full = await lm.forward(rows);
    const r = await lm.forward(rows, { keepLast: 2 });
    assert.equal(r.seq, 2);
    assert.deepEqual(r.logits, tail(full.logits, 1, 4, 2, full.vocab));
  } finally {
    await lm.dispose();
  }
});
