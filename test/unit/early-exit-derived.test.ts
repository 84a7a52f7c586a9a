// Early exits derived from a plain Llama graph (src/core/onnx/early-exit.ts): the derived heads give the
// same logits as an export with --early-exit, through the KV cache and left-padded batches; the plain
// session stays as it was; graphs without the layout are refused with a clear error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { CausalLM } from '../../src/core/model';
import { deriveEarlyExits } from '../../src/core/onnx/early-exit';
import { isLensError } from '../../src/core/errors';
import { makeTinyLlama, makeTinyGpt2 } from '../helpers/fixtures';
import { tempDir } from '../helpers/shared';
import { maxAbsDiff } from '../helpers/export-runner';

for (const weightsDtype of ['float32', 'float16'] as const) {
  test(`derived early exits equal the exported ones (${weightsDtype} weights, cache, left padding)`, async () => {
    const root = tempDir();
    const opts = { seed: 21, numLayers: 4, weightsDtype };
    const native = await CausalLM.load(makeTinyLlama(join(root, 'ee'), { ...opts, earlyExitLayers: [1, 2, 3] }).dir);
    const plain = await CausalLM.load(makeTinyLlama(join(root, 'plain'), opts).dir);
    try {
      assert.deepEqual(plain.io.earlyExit, []);
      assert.deepEqual(await plain.earlyExitLayers(), [1, 2, 3]);
      assert.equal(plain.describe({ parameters: true }).earlyExitDerivable?.toString(), '1,2,3');
      // Prefill two left-padded rows, then one step on the cache.
      const rows = [[0, 0, 5, 9, 14], [3, 7, 11, 2, 8]];
      const newMask = [Uint8Array.from([0, 0, 1, 1, 1]), Uint8Array.from([1, 1, 1, 1, 1])];
      const early = [1, 2, 3];
      const a1 = await native.forward(rows, { newMask, earlyExit: early });
      const b1 = await plain.forward(rows, { newMask, earlyExit: early });
      const a2 = await native.forward([[4], [6]], { state: a1.state, earlyExit: early });
      const b2 = await plain.forward([[4], [6]], { state: b1.state, earlyExit: early });
      for (const [a, b] of [[a1, b1], [a2, b2]]) {
        assert.ok(maxAbsDiff(a.logits, b.logits) < 1e-5);
        for (const k of early) assert.ok(maxAbsDiff(a.early.get(k)!, b.early.get(k)!) < 1e-5, `layer ${k}`);
      }
      // The plain session still runs without exits, on a cache made by the derived one, with the same logits.
      const c2 = await plain.forward([[4], [6]], { state: b1.state });
      assert.equal(c2.early.size, 0);
      assert.ok(maxAbsDiff(c2.logits, b2.logits) < 1e-5, `plain vs derived logits differ by ${maxAbsDiff(c2.logits, b2.logits)}`);
      await assert.rejects(plain.forward([[4], [6]], { earlyExit: [4] }), /no early-exit logits for layer 4 \(it has: 1, 2, 3\)/);
    } finally {
      await native.dispose();
      await plain.dispose();
    }
  });
}

test('derivation refuses graphs not in the Llama layout `lens export` writes', async () => {
  const gpt = makeTinyGpt2(join(tempDir(), 'gpt'), { seed: 2 });
  assert.throws(() => deriveEarlyExits(gpt.onnx, 3), (e: unknown) => isLensError(e) && /re-export it with --early-exit/.test((e as Error).message));
  const lm = await CausalLM.load(gpt.dir);
  try {
    assert.deepEqual(await lm.earlyExitLayers(), []);
    await assert.rejects(lm.forward([[1, 2]], { earlyExit: [1] }), (e: unknown) => isLensError(e) && /re-export it with --early-exit/.test((e as Error).message));
  } finally {
    await lm.dispose();
  }
  // A Llama graph whose config disagrees with its layer count.
  const llama = makeTinyLlama(join(tempDir(), 'llama'), { seed: 2, numLayers: 3 });
  assert.throws(() => deriveEarlyExits(readFileSync(llama.onnxPath), 4), /found 3 layers on the residual stream, config.json says 4/);
});
