// Llama exporter: ONNX logits vs the plain-loop reference (both RoPE styles, GQA / MQA / MHA,
// tied / untied head), plus the shared decoder conformance suite (KV cache, padded batches,
// early exit, I/O variants).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildLlamaOnnx, type LlamaWeights } from '../../src/core/export/llama';
import { tinyLlamaWeights, type TinyLlamaOptions } from '../helpers/fixtures';
import { referenceLlamaLogits } from '../helpers/export-reference';
import { DecoderRunner, maxAbsDiff } from '../helpers/export-runner';
import { TOL, decoderConformance, randomIds, type DecoderFamily } from '../helpers/export-suite';

const llama: DecoderFamily<LlamaWeights> = {
  name: 'llama',
  build: (w, opts) => buildLlamaOnnx(w, opts),
  reference: referenceLlamaLogits,
  numLayers: (w) => w.config.numLayers,
  vocab: (w) => w.config.vocabSize,
};

const configs: { label: string; opts: TinyLlamaOptions }[] = [
  { label: 'interleaved RoPE, GQA 4/2, tied', opts: { ropeStyle: 'interleaved', numHeads: 4, numKvHeads: 2, tied: true } },
  { label: 'half RoPE, GQA 4/2, untied', opts: { ropeStyle: 'half', numHeads: 4, numKvHeads: 2, tied: false, seed: 7 } },
  { label: 'interleaved RoPE, MHA 4/4, untied, theta 500', opts: { ropeStyle: 'interleaved', numKvHeads: 4, tied: false, ropeTheta: 500, seed: 8 } },
  { label: 'half RoPE, MQA 8/1 (head_dim 4), tied', opts: { ropeStyle: 'half', numHeads: 8, numKvHeads: 1, seed: 9 } },
];

for (const { label, opts } of configs) {
  test(`llama ONNX logits match the reference forward: ${label}`, async () => {
    const w = tinyLlamaWeights(opts);
    const run = await DecoderRunner.load(buildLlamaOnnx(w));
    const ids = randomIds(5, 10, w.config.vocabSize);
    const got = (await run.step({ ids: [ids], mask: [ids.map(() => 1)] })).logits;
    const ref = referenceLlamaLogits(w, ids);
    const d = maxAbsDiff(got, ref);
    assert.ok(d <= TOL, `max |diff| ${d}`);
    // The check has teeth: the other RoPE style (or a missing layer) gives clearly different logits.
    const other: LlamaWeights = { ...w, config: { ...w.config, ropeStyle: w.config.ropeStyle === 'half' ? 'interleaved' : 'half' } };
    assert.ok(maxAbsDiff(got, referenceLlamaLogits(other, ids)) > 1e-2, 'RoPE style matters');
    assert.ok(maxAbsDiff(got, referenceLlamaLogits(w, ids, w.config.numLayers - 1)) > 1e-2, 'last layer matters');
    await run.release();
  });
}

test('llama export rejects inconsistent weights', () => {
  const w = tinyLlamaWeights();
  assert.throws(() => buildLlamaOnnx({ ...w, tokEmbedding: w.tokEmbedding.subarray(1) }), /tokEmbedding/);
  assert.throws(() => buildLlamaOnnx({ ...w, config: { ...w.config, numKvHeads: 3 } }), /KV heads/);
  assert.throws(() => buildLlamaOnnx({ ...w, layers: w.layers.slice(1) }), /layers/);
});

decoderConformance(llama, tinyLlamaWeights({ seed: 99 }));
