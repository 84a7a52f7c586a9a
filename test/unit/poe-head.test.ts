// The ONNX Runtime PoE head computes what combinePoe() computes (float32 precision), in both modes.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { PoeHead, poeHeadJs } from '../../src/core/decoding/poe-head';
import { combinePoe } from '../../src/core/decoding/poe';
import { logSumExp } from '../../src/core/math';
import { mulberry32 } from '../helpers/fixtures';

const head = new PoeHead(1);
after(() => head.dispose());

test('PoE head = combinePoe for random rows, weights and temperatures; lse = logsumexp of each row', async () => {
  const rand = mulberry32(99);
  for (const [E, V] of [[1, 7], [2, 512], [3, 5000], [4, 300]]) {
    const rows = Array.from({ length: E }, () => Float32Array.from({ length: V }, () => (rand() - 0.5) * 20 + (rand() < 0.01 ? 30 : 0)));
    const packed = new Float32Array(E * V);
    rows.forEach((r, i) => packed.set(r, i * V));
    const temps = rows.map(() => 0.3 + rand() * 1.5);
    const weights = rows.map(() => rand() * 2 - 0.5);
    for (const mode of ['logprobs', 'logits'] as const) {
      // The ONNX Runtime graph, the JavaScript path (small vocabularies) and what run() picks.
      for (const h of [await head.runOrt(packed, E, V, temps, weights, mode), poeHeadJs(packed, E, V, temps, weights, mode), await head.run(packed, E, V, temps, weights, mode)]) {
        const ref = combinePoe(rows, { weights, temperatures: temps, combine: mode }).logProbs;
        let maxErr = 0;
        for (let v = 0; v < V; v++) if (ref[v] > -30) maxErr = Math.max(maxErr, Math.abs(h.combined[v] - ref[v]));
        assert.ok(maxErr < 2e-3, `E=${E} V=${V} ${mode}: max error ${maxErr}`);
        rows.forEach((r, i) => assert.ok(Math.abs(h.lse[i] - logSumExp(r)) < 1e-3));
      }
    }
  }
});
