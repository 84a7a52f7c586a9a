// GPT-2 exporter: ONNX logits vs the plain-loop reference, plus the shared decoder conformance
// suite (KV cache, padded batches, early exit, I/O variants).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { buildGpt2Onnx, type Gpt2Weights } from '../../src/core/export/gpt2';
import { tinyGpt2Weights } from '../helpers/fixtures';
import { referenceGpt2Logits } from '../helpers/export-reference';
import { DecoderRunner, maxAbsDiff } from '../helpers/export-runner';
import { TOL, decoderConformance, randomIds, type DecoderFamily } from '../helpers/export-suite';

const gpt2: DecoderFamily<Gpt2Weights> = {
  name: 'gpt2',
  build: (w, opts) => buildGpt2Onnx(w, opts),
  reference: referenceGpt2Logits,
  numLayers: (w) => w.config.nLayer,
  vocab: (w) => w.config.vocabSize,
};

for (const opts of [{ seed: 1 }, { seed: 2, nHead: 2, nEmbd: 24, nLayer: 2 }, { seed: 3, nHead: 8, layerNormEps: 1e-3 }]) {
  test(`gpt2 ONNX logits match the reference forward: ${JSON.stringify(opts)}`, async () => {
    const w = tinyGpt2Weights(opts);
    const run = await DecoderRunner.load(buildGpt2Onnx(w));
    const ids = randomIds(6, 10, w.config.vocabSize);
    const got = (await run.step({ ids: [ids], mask: [ids.map(() => 1)] })).logits;
    const d = maxAbsDiff(got, referenceGpt2Logits(w, ids));
    assert.ok(d <= TOL, `max |diff| ${d}`);
    assert.ok(maxAbsDiff(got, referenceGpt2Logits(w, ids, w.config.nLayer - 1)) > 1e-2, 'last layer matters');
    await run.release();
  });
}

test('gpt2: position embeddings follow position_ids (shifted positions change logits as the reference says)', async () => {
  const w = tinyGpt2Weights({ seed: 4 });
  const run = await DecoderRunner.load(buildGpt2Onnx(w));
  const ids = randomIds(8, 5, w.config.vocabSize);
  // Positions 3..7 for a 5-token sequence = the same tokens after 3 (masked-out) pad positions.
  const shifted = await run.step({ ids: [ids], mask: [[0, 0, 0, 1, 1, 1, 1, 1]], positions: [[3, 4, 5, 6, 7]], past: padPast(run, 3) });
  const plain = await run.step({ ids: [ids], mask: [ids.map(() => 1)] });
  assert.ok(maxAbsDiff(shifted.logits, plain.logits) > 1e-2, 'positions change the logits');
  // Reference: token i at position 3 + i is the same as position i with the wpe rows shifted by 3.
  const w2: Gpt2Weights = { ...w, wpe: w.wpe.slice(3 * w.config.nEmbd), config: { ...w.config, nPositions: w.config.nPositions - 3 } };
  assert.ok(maxAbsDiff(shifted.logits, referenceGpt2Logits(w2, ids)) <= TOL);
  await run.release();
});

/** Past tensors [1, nKV, p, hd] full of large junk values (the mask must hide them). */
function padPast(run: DecoderRunner, p: number): Record<string, ort.Tensor> {
  const past: Record<string, ort.Tensor> = {};
  const dims = [1, run.kvShape[0], p, run.kvShape[1]]; // [1, nKV, p, hd]
  const junk = Float32Array.from({ length: dims.reduce((a, b) => a * b) }, (_, i) => Math.sin(i) * 50);
  for (const k of Object.keys(run.emptyPast(1))) past[k] = new ort.Tensor('float32', junk, dims);
  return past;
}

test('gpt2 export rejects inconsistent weights', () => {
  const w = tinyGpt2Weights();
  assert.throws(() => buildGpt2Onnx({ ...w, wpe: w.wpe.subarray(1) }), /wpe/);
  assert.throws(() => buildGpt2Onnx({ ...w, config: { ...w.config, nHead: 5 } }), /n_head/);
  assert.throws(() => buildGpt2Onnx({ ...w, layers: [{ ...w.layers[0]!, fcBias: new Float32Array(3) }, ...w.layers.slice(1)] }), /fcBias/);
});

decoderConformance(gpt2, tinyGpt2Weights({ seed: 77 }));
