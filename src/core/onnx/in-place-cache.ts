// A ragged, in-place KV cache: a graph derived from a fused decoder graph (the opset-23 `Attention`
// nodes `lens export` writes by default) in which every row of a batch has its own length and the
// cache is a buffer the engine owns and appends to.
//
// The ONNX `Attention` op takes past_key [B, kvH, P, hd] and returns present_key = concat(past, new):
// every row of a batch has the same length P (shorter rows are left-padded and attend over their
// padding), and each step hands back a new tensor of the whole cache. ONNX Runtime's
// `GroupQueryAttention` (com.microsoft) reads a cache of any capacity [B, kvH, C, hd] plus
// `seqlens_k[b]` = (row b's length after this step) − 1: row b's S new tokens sit at positions
// seqlens_k[b] − S + 1 .. seqlens_k[b] and attend to positions 0 .. seqlens_k[b] only. So the rows of a
// batch keep their own lengths without padding (a 20-token context next to a 900-token one costs 20
// positions, not 900), and a row's position ids are simply 0 .. len − 1, as the padded graph computes
// them for a left-padded row (positions count real tokens only).
//
// Derivation, on the file's own graph (same weights, no re-export):
//   Attention(q, k, v, mask, past_k, past_v) → (y, present_k, present_v)
// becomes
//   GroupQueryAttention(q, k, v, past_k, past_v, seqlens_k, total_sequence_length) → (y, ·, ·)
// whose present outputs stay inside the graph, and the graph outputs `new_key_values.{i}.key/value`:
// the new positions' keys (after RoPE) and values, [B, S, kvH·hd]. The engine writes those into its
// buffer (src/core/model.ts); it never reads a whole cache back. RoPE stays the graph's own
// RotaryEmbedding nodes fed by position_ids; the attention mask input and the nodes that built the
// additive mask from it are removed.
//
// (ONNX Runtime can also write the new positions into the cache buffer itself, when the same memory is
// passed as past_key and as a pre-allocated present_key; but onnxruntime-node 1.30 copies every output,
// pre-allocated ones included, into a new JavaScript buffer after the run, which costs more than it
// saves: docs/performance.md.)
import onnxProto from 'onnx-proto';
import { LensError } from '../errors';
import { dtypeCode, valueInfo } from './graph';

type NodeProto = onnxProto.onnx.INodeProto;
const { onnx } = onnxProto;

/** The two inputs the derived graph adds: int32 [batch] and int32 [1] (the longest row's length). */
export const SEQLENS_K = 'seqlens_k';
export const TOTAL_SEQUENCE_LENGTH = 'total_sequence_length';
/** Output names of the new positions' keys / values, [batch, seq, kvHeads·headDim]. */
export const newKeyValueName = (layer: number, kind: 'key' | 'value'): string => `new_key_values.${layer}.${kind}`;
/** ONNX Runtime's CPU GroupQueryAttention kernel needs head_size % 8 == 0. */
export const IN_PLACE_HEAD_MULTIPLE = 8;

function notDerivable(why: string): LensError {
  return new LensError('bad-model', `No ragged in-place KV cache for this graph (${why}).`);
}


function attrInt(n: NodeProto, name: string): number | undefined {
  const a = (n.attribute ?? []).find((x) => x.name === name);
  return a ? Number(a.i) : undefined;
}

/**
 * The derived graph (ModelProto bytes) of a decoder whose attention is ONNX's fused `Attention` op
 * reading the past_key_values inputs directly (float32 cache), each `present.{i}` that op's own output
 * through an Identity, and which has a position_ids input. Throws a LensError naming the reason for
 * anything else (GPT-2 and primitive-op graphs, float16 caches, head-combine exports, head sizes the
 * kernel does not support).
 */
export function deriveInPlaceCache(modelBytes: Uint8Array, numLayers: number, headDim: number): Uint8Array {
  return onnx.ModelProto.encode(inPlaceCacheModel(modelBytes, numLayers, headDim)).finish();
}

/** deriveInPlaceCache's graph as a ModelProto, not encoded (enough to know whether there is one). */
export function inPlaceCacheModel(modelBytes: Uint8Array, numLayers: number, headDim: number): onnxProto.onnx.ModelProto {
  if (headDim % IN_PLACE_HEAD_MULTIPLE !== 0) throw notDerivable(`head size ${headDim} is not a multiple of ${IN_PLACE_HEAD_MULTIPLE}`);
  let model: onnxProto.onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(modelBytes);
  } catch (e) {
    throw notDerivable(`the file does not parse: ${(e as Error).message}`);
  }
  const graph = model.graph;
  if (!graph) throw notDerivable('the file has no graph');
  const nodes = graph.node ?? [];
  if (!(graph.input ?? []).some((i) => i.name === 'position_ids')) throw notDerivable('it has no position_ids input');
  const attn = nodes.filter((n) => n.opType === 'Attention' && (n.domain ?? '') === '');
  if (attn.length !== numLayers) throw notDerivable(`it has ${attn.length} fused Attention nodes, not one per layer (${numLayers})`);
  const consumers = new Map<string, NodeProto[]>();
  for (const n of nodes) for (const i of n.input ?? []) consumers.set(i, [...(consumers.get(i) ?? []), n]);

  const newOutputs: { name: string; value: string; width: number }[] = [];
  for (let layer = 0; layer < numLayers; layer++) {
    const pastK = `past_key_values.${layer}.key`;
    const pastV = `past_key_values.${layer}.value`;
    const n = attn.find((a) => a.input?.[4] === pastK);
    if (!n || n.input?.[5] !== pastV || (n.output ?? []).length !== 3) throw notDerivable(`layer ${layer}'s Attention does not read ${pastK} / ${pastV} directly`);
    const other = (n.attribute ?? []).filter((a) => !['q_num_heads', 'kv_num_heads', 'scale'].includes(a.name ?? ''));
    if (other.length) throw notDerivable(`Attention has attribute ${other[0].name}`);
    const H = attrInt(n, 'q_num_heads');
    const KV = attrInt(n, 'kv_num_heads');
    if (!H || !KV) throw notDerivable('Attention without q_num_heads / kv_num_heads');
    const [y, kAll, vAll] = n.output!;
    for (const [t, name] of [
      [kAll, `present.${layer}.key`],
      [vAll, `present.${layer}.value`],
    ] as const) {
      const c = consumers.get(t) ?? [];
      if (c.length !== 1 || c[0].opType !== 'Identity' || c[0].output?.[0] !== name) throw notDerivable(`${name} is not the Attention's own output`);
    }
    // The graph outputs become the new positions' keys and values: GQA's own inputs k, v (after RoPE).
    newOutputs.push({ name: newKeyValueName(layer, 'key'), value: n.input![1], width: KV * headDim });
    newOutputs.push({ name: newKeyValueName(layer, 'value'), value: n.input![2], width: KV * headDim });
    const scale = (n.attribute ?? []).find((a) => a.name === 'scale');
    nodes[nodes.indexOf(n)] = onnx.NodeProto.create({
      name: `${n.name || `attention_${layer}`}/in_place`,
      opType: 'GroupQueryAttention',
      domain: 'com.microsoft',
      input: [n.input![0], n.input![1], n.input![2], pastK, pastV, SEQLENS_K, TOTAL_SEQUENCE_LENGTH],
      output: [y, `${kAll}/in_place`, `${vAll}/in_place`], // present: inside the graph only
      attribute: [
        onnx.AttributeProto.create({ name: 'num_heads', type: onnx.AttributeProto.AttributeType.INT, i: H }),
        onnx.AttributeProto.create({ name: 'kv_num_heads', type: onnx.AttributeProto.AttributeType.INT, i: KV }),
        ...(scale ? [onnx.AttributeProto.create({ name: 'scale', type: onnx.AttributeProto.AttributeType.FLOAT, f: scale.f })] : []),
      ],
    });
  }
  // Outputs: logits (and anything else that is not a cache) stay; the present outputs go. A graph output
  // must be a value's own name, so each new key/value output is that value renamed throughout.
  const kept = (graph.output ?? []).filter((o) => !/^present\.\d+\.(key|value)$/.test(o.name ?? ''));
  const rename = new Map(newOutputs.map((o) => [o.value, o.name]));
  for (const n of nodes) {
    n.input = (n.input ?? []).map((i) => rename.get(i) ?? i);
    n.output = (n.output ?? []).map((o) => rename.get(o) ?? o);
  }
  graph.output = [...kept, ...newOutputs.map((o) => valueInfo(o.name, 'float32', ['batch_size', 'sequence_length', o.width]))];

  // Drop the mask input, then every node whose outputs nothing reads (the Identities, the mask's nodes).
  graph.input = (graph.input ?? []).filter((i) => i.name !== 'attention_mask');
  const outputs = new Set(graph.output.map((o) => o.name ?? ''));
  let live = nodes;
  for (;;) {
    const read = new Set<string>(outputs);
    for (const n of live) for (const i of n.input ?? []) read.add(i);
    const next = live.filter((n) => n.opType === 'GroupQueryAttention' || (n.output ?? []).some((o) => read.has(o)));
    if (next.length === live.length) break;
    live = next;
  }
  if (live.some((n) => (n.input ?? []).includes('attention_mask'))) throw notDerivable('something other than attention reads attention_mask');
  graph.node = live;
  const used = new Set<string>();
  for (const n of live) for (const i of n.input ?? []) used.add(i);
  graph.initializer = (graph.initializer ?? []).filter((t) => used.has(t.name ?? ''));
  graph.input.push(valueInfo(SEQLENS_K, 'int32', ['batch_size']), valueInfo(TOTAL_SEQUENCE_LENGTH, 'int32', [1]));
  for (const v of graph.input) {
    if (!/^past_key_values\.\d+\.(key|value)$/.test(v.name ?? '')) continue;
    const t = v.type?.tensorType;
    if (t?.elemType !== dtypeCode('float32')) throw notDerivable(`${v.name} is not float32`);
    const dim = t.shape?.dim?.[2];
    if (dim) {
      dim.dimParam = 'cache_capacity';
      dim.dimValue = undefined as unknown as number;
    }
  }
  model.opsetImport = [...(model.opsetImport ?? []).filter((o) => o.domain !== 'com.microsoft'), onnx.OperatorSetIdProto.create({ domain: 'com.microsoft', version: 1 })];
  return model;
}
