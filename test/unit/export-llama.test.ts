// Llama exporter: ONNX logits vs the plain-loop reference (both RoPE styles, GQA / MQA / MHA,
// tied / untied head), plus the shared decoder conformance suite (KV cache, padded batches,
// early exit, I/O variants).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import onnxProto from 'onnx-proto';
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

// The same decoder written with primitive ops only (opset 17), as before the fused graph.
const llamaPrimitive: DecoderFamily<LlamaWeights> = { ...llama, name: 'llama (primitive ops)', build: (w, opts) => buildLlamaOnnx(w, { ...opts, fused: false }) };

for (const [{ label, opts }, fused] of configs.flatMap((c) => [[c, true], [c, false]] as const)) {
  test(`llama ONNX logits match the reference forward: ${label}${fused ? '' : ' (primitive ops)'}`, async () => {
    const w = tinyLlamaWeights(opts);
    const run = await DecoderRunner.load(buildLlamaOnnx(w, { fused }));
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

test('the default llama graph uses ONNX Attention and RotaryEmbedding (opset 23) and packed projections; fused: false does not', () => {
  const w = tinyLlamaWeights({ numLayers: 3 });
  const ops = (bytes: Uint8Array) => {
    const m = onnxProto.onnx.ModelProto.decode(bytes);
    const count = new Map<string, number>();
    for (const n of m.graph!.node!) count.set(n.opType!, (count.get(n.opType!) ?? 0) + 1);
    return { opset: Number(m.opsetImport![0]!.version), count, nodes: m.graph!.node!.length, inits: m.graph!.initializer!.map((t) => t.name!) };
  };
  const fused = ops(buildLlamaOnnx(w));
  const plain = ops(buildLlamaOnnx(w, { fused: false }));
  assert.equal(fused.opset, 23);
  assert.equal(plain.opset, 17);
  assert.equal(fused.count.get('Attention'), 3);
  assert.equal(fused.count.get('RotaryEmbedding'), 6);
  assert.equal(fused.count.get('MatMul'), 3 * 4 + 1); // qkv, o, gate/up, down per layer + LM head
  assert.ok(fused.inits.includes('model.layers.0.self_attn.qkv_proj.weight.T') && fused.inits.includes('model.layers.0.mlp.gate_up_proj.weight.T'));
  assert.equal(plain.count.get('Attention'), undefined);
  assert.ok(fused.nodes < 0.6 * plain.nodes, `${fused.nodes} nodes fused vs ${plain.nodes} primitive`);
  // Product-of-heads attention has no fused form: it keeps the primitive graph.
  assert.equal(ops(buildLlamaOnnx(w, { headCombine: 'product-all' })).count.get('Attention'), undefined);
});

decoderConformance(llama, tinyLlamaWeights({ seed: 99 }));
decoderConformance(llamaPrimitive, tinyLlamaWeights({ seed: 99 }));
