// A ragged, in-place KV cache: a graph derived from a fused decoder graph (the opset-23 `Attention`
// nodes `lens export` writes by default) in which every row of a batch has its own length and the
// cache is a buffer the engine owns and appends to.
//
// The ONNX `Attention` op takes past_key [B, kvH, P, hd] and returns present_key = concat(past, new):
// every row of a batch has the same length P (shorter rows are left-padded and attend over their
// padding), and each step hands back a new tensor of the whole cache. Here each layer attends over two
// blocks of keys:
//   - the cache buffer itself, [B, kvH, C, hd] for a capacity C ≥ every row's length: row b's cached
//     positions are 0 .. len_b − 1, and the rest of its buffer is masked off;
//   - the step's own new keys, [B, kvH, S, hd], causal among themselves, left padding masked.
// A row's position ids are simply 0 .. len − 1, as the padded graph computes them for a left-padded
// row; rows keep their own lengths without padding in the cache; a step of several new tokens works on
// rows of different lengths in one run; and the graph's outputs are only the new positions' keys and
// values, which the engine writes into its buffers (src/core/model.ts). It never reads a cache back.
// A batched step reads the buffer's full capacity for every row (masked beyond each row's length).
//
// Two ways to attend (CacheAttention, LoadOptions.cacheAttention):
//   - `fused` (the default): the layer's own `Attention` node, kept, with the buffer as its past and one
//     additive mask `attn_bias` [B, 1, S, C + S]. One node per layer; the op concatenates the buffer and
//     the new keys into an internal present, a copy of the buffer per step, cheap for short caches.
//   - `plain`: attention written out in plain ops, masks `attn_bias_past` / `attn_bias_new`: both score
//     blocks through one softmax (Concat on the key axis, Softmax, Split), output probs_past · V_cache +
//     probs_new · V_new. Nothing copies the cache (ONNX Runtime fuses the transposes into its MatMuls),
//     so a step reads each row's cache once, at the price of ~20 small nodes per layer: the better
//     choice for long cached contexts (a random 11M Llama at 900 positions, 4 rows: 2.8 against 3.5 ms
//     a step), slower for short ones.
// Both replace this graph's first design, ONNX Runtime's GroupQueryAttention (com.microsoft): its CPU
// kernel cleared a present buffer of the full capacity and copied each row's past into it once per
// query head, every layer, every step (4.6 ms in the case above). docs/performance.md has the figures.
//
// Derivation, on the file's own graph (same weights, no re-export):
//   Attention(q, k, v, mask, past_k, past_v) → (y, present_k, present_v)
// becomes one of the two above reading past_k / past_v (now the engine's buffers) and the mask inputs,
// and the graph outputs `new_key_values.{i}.key/value`: the new positions' keys (after RoPE) and values,
// [B, S, kvH·hd]. RoPE stays the graph's own RotaryEmbedding nodes fed by position_ids; the attention
// mask input and the nodes that built the additive mask from it are removed.
//
// (ONNX Runtime can also write the new positions into the cache buffer itself, through
// GroupQueryAttention with the same memory passed as past_key and as a pre-allocated present_key; but
// onnxruntime-node 1.30 copies every output, pre-allocated ones included, into a new JavaScript buffer
// after the run, which costs more than it saves: docs/performance.md.)
import onnxProto from 'onnx-proto';
import { LensError } from '../errors';
import { attr, dtypeCode, encodeAttr, valueInfo, type Attr } from './graph';

type NodeProto = onnxProto.onnx.INodeProto;
const { onnx } = onnxProto;

/**
 * The `plain` variant's two inputs, float32 additive masks (0 = attend, −∞ = not), with G = query
 * heads per KV head and each query's row repeated for its G heads (row g·S + s is query s):
 * - `attn_bias_past` [batch, 1, G·S, capacity]: 0 at a row's cached positions (p < len_b), else −∞;
 * - `attn_bias_new` [batch, 1, G·S, S]: 0 where new token s may see new token t (t ≤ s and t is not
 *   left padding; a token always sees itself, so no row of scores is all −∞), else −∞.
 */
export const ATTN_BIAS_PAST = 'attn_bias_past';
export const ATTN_BIAS_NEW = 'attn_bias_new';
/**
 * The `fused` variant's one mask, [batch, 1, S, capacity + S] float32: the two blocks above side by side
 * for one query row each (the op broadcasts it over the heads).
 */
export const ATTN_BIAS = 'attn_bias';

/**
 * How the derived graph attends over the cache buffer:
 * - `fused` (the default): ONNX's own `Attention` op, kept, with the buffer as its past and ATTN_BIAS as
 *   its mask. One node per layer, but the op concatenates past and new keys into an internal present:
 *   a copy of the buffer per step.
 * - `plain`: the MatMul / Softmax subgraph above; a step reads each row's cache once, at the price of
 *   ~20 small nodes per layer.
 * The copy is cheap and the nodes dear while a row's cache is short; the reverse when it is long.
 * Measured (docs/performance.md): generating 240–256 tokens from short contexts, `fused` was 5–8%
 * faster end to end on english-base and on a random 11M Llama (V = 32,000); with 900 cached positions
 * (that Llama, ORT's run alone) `plain` was 1.05× / 1.10× / 1.28× faster at 1 / 2 / 4 rows.
 */
export type CacheAttention = 'plain' | 'fused';

/** Output names of the new positions' keys / values, [batch, seq, kvHeads·headDim]. */
export const newKeyValueName = (layer: number, kind: 'key' | 'value'): string => `new_key_values.${layer}.${kind}`;

function notDerivable(why: string): LensError {
  return new LensError('bad-model', `No ragged in-place KV cache for this graph (${why}).`);
}


/** A node of the derived graph, its attributes encoded as graph.ts does. */
function makeNode(name: string, opType: string, input: string[], output: string[], attrs: Record<string, Attr> = {}): NodeProto {
  return onnx.NodeProto.create({ name, opType, input, output, attribute: Object.entries(attrs).map(([k, a]) => encodeAttr(k, a)) });
}

function attrInt(n: NodeProto, name: string): number | undefined {
  const a = (n.attribute ?? []).find((x) => x.name === name);
  return a ? Number(a.i) : undefined;
}

/** Constant initializers of the derived graph (shapes, split sizes), each made once and shared by the layers. */
class Consts {
  readonly tensors: onnxProto.onnx.ITensorProto[] = [];
  private readonly names = new Set<string>();
  /** An int64 [n] constant. */
  i64(values: number[]): string {
    const key = `lens_cache_i64_${values.join('_').replace(/-/g, 'm')}`;
    if (!this.names.has(key)) {
      this.tensors.push(onnx.TensorProto.create({ name: key, dataType: dtypeCode('int64'), dims: [values.length], int64Data: values }));
      this.names.add(key);
    }
    return key;
  }
  /** A float32 scalar constant. */
  f32(value: number, tag: string): string {
    const key = `lens_cache_f32_${tag}`;
    if (!this.names.has(key)) {
      this.tensors.push(onnx.TensorProto.create({ name: key, dataType: dtypeCode('float32'), dims: [], floatData: [value] }));
      this.names.add(key);
    }
    return key;
  }
}

/**
 * One layer's attention over the engine's cache buffer plus the step's own keys (see the top of this
 * file), as plain ONNX ops. Head h of the query reads KV head ⌊h / G⌋ (G = H / KV), as in the fused op.
 */
function attentionOverCache(
  layer: number,
  io: { q: string; k: string; v: string; pastK: string; pastV: string; y: string; splitSizes: string },
  dims: { H: number; KV: number; hd: number; scale: number },
  consts: Consts,
): NodeProto[] {
  const { H, KV, hd, scale } = dims;
  const G = H / KV;
  const out: NodeProto[] = [];
  let count = 0;
  const op = (opType: string, input: string[], attrs: Record<string, Attr> = {}, outputs = 1, name?: string): string[] => {
    const output = name ? [name] : Array.from({ length: outputs }, () => `lens_cache/${layer}/${opType}_${count++}`);
    out.push(makeNode(`lens_cache/${layer}/${opType}_${count++}`, opType, input, output, attrs));
    return output;
  };
  // Queries, scaled once: [B, S, H·hd] → [B, S, KV, G, hd] → [B, KV, G, S, hd] → [B, KV, G·S, hd].
  const qs = op('Mul', [io.q, consts.f32(scale, `scale_${layer}`)])[0];
  const q = op('Reshape', [op('Transpose', [op('Reshape', [qs, consts.i64([0, 0, KV, G, hd])])[0]], { perm: attr.ints([0, 2, 3, 1, 4]) })[0], consts.i64([0, 0, -1, hd])])[0];
  // The step's keys / values: [B, S, KV·hd] → [B, KV, S, hd].
  const heads = (x: string) => op('Transpose', [op('Reshape', [x, consts.i64([0, 0, KV, hd])])[0]], { perm: attr.ints([0, 2, 1, 3]) })[0];
  const kNew = heads(io.k);
  const vNew = heads(io.v);
  const T = (x: string) => op('Transpose', [x], { perm: attr.ints([0, 1, 3, 2]) })[0]; // [B, KV, n, hd] → [B, KV, hd, n]
  const scoresPast = op('Add', [op('MatMul', [q, T(io.pastK)])[0], ATTN_BIAS_PAST])[0]; // [B, KV, G·S, C]
  const scoresNew = op('Add', [op('MatMul', [q, T(kNew)])[0], ATTN_BIAS_NEW])[0]; // [B, KV, G·S, S]
  const probs = op('Softmax', [op('Concat', [scoresPast, scoresNew], { axis: attr.int(-1) })[0]], { axis: attr.int(-1) })[0]; // [B, KV, G·S, C + S]
  const [pPast, pNew] = op('Split', [probs, io.splitSizes], { axis: attr.int(-1) }, 2);
  const ctx = op('Add', [op('MatMul', [pPast, io.pastV])[0], op('MatMul', [pNew, vNew])[0]])[0]; // [B, KV, G·S, hd]
  // Back to [B, KV, G, S, hd] → [B, S, KV, G, hd] → [B, S, H·hd].
  const back = op('Transpose', [op('Reshape', [ctx, consts.i64([0, 0, G, -1, hd])])[0]], { perm: attr.ints([0, 3, 1, 2, 4]) })[0];
  op('Reshape', [back, consts.i64([0, 0, -1])], {}, 1, io.y);
  return out;
}

/**
 * The derived graph (ModelProto bytes) of a decoder whose attention is ONNX's fused `Attention` op
 * reading the past_key_values inputs directly (float32 cache), each `present.{i}` that op's own output
 * through an Identity, and which has a position_ids input. Throws a LensError naming the reason for
 * anything else (GPT-2 and primitive-op graphs, float16 caches, head-combine exports).
 */
export function deriveInPlaceCache(modelBytes: Uint8Array, numLayers: number, headDim: number, attention: CacheAttention = 'fused'): Uint8Array {
  return onnx.ModelProto.encode(inPlaceCacheModel(modelBytes, numLayers, headDim, attention)).finish();
}

/** deriveInPlaceCache's graph as a ModelProto, not encoded (enough to know whether there is one). */
export function inPlaceCacheModel(modelBytes: Uint8Array, numLayers: number, headDim: number, attention: CacheAttention = 'fused'): onnxProto.onnx.ModelProto {
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
  if (!(graph.input ?? []).some((i) => i.name === 'input_ids')) throw notDerivable('it has no input_ids input');
  const attn = nodes.filter((n) => n.opType === 'Attention' && (n.domain ?? '') === '');
  if (attn.length !== numLayers) throw notDerivable(`it has ${attn.length} fused Attention nodes, not one per layer (${numLayers})`);
  const consumers = new Map<string, NodeProto[]>();
  for (const n of nodes) for (const i of n.input ?? []) consumers.set(i, [...(consumers.get(i) ?? []), n]);

  const newOutputs: { name: string; value: string; width: number }[] = [];
  const consts = new Consts();
  // plain: the key axis' split sizes [C, S] (cache capacity, new tokens), the same in every layer: int64 [2].
  const splitSizes = 'lens_cache/split_sizes';
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
    // The graph outputs become the new positions' keys and values: the op's own inputs k, v (after RoPE).
    newOutputs.push({ name: newKeyValueName(layer, 'key'), value: n.input![1], width: KV * headDim });
    newOutputs.push({ name: newKeyValueName(layer, 'value'), value: n.input![2], width: KV * headDim });
    const scaleAttr = (n.attribute ?? []).find((a) => a.name === 'scale');
    const scale = scaleAttr?.f ?? 1 / Math.sqrt(headDim);
    if (H % KV !== 0) throw notDerivable(`${H} query heads do not divide into ${KV} KV heads`);
    const at = nodes.indexOf(n);
    if (attention === 'plain') {
      nodes.splice(at, 1, ...attentionOverCache(layer, { q: n.input![0], k: n.input![1], v: n.input![2], pastK, pastV, y, splitSizes }, { H, KV, hd: headDim, scale }, consts));
    } else {
      // The same op over [cache buffer ‖ new keys], masked by ATTN_BIAS; its present (the concat) stays inside.
      const input = [...n.input!];
      input[3] = ATTN_BIAS;
      nodes[at] = onnx.NodeProto.create({ ...n, name: `${n.name || `attention_${layer}`}/over_cache`, input, output: [y, `${kAll}/internal`, `${vAll}/internal`] });
    }
  }
  if (attention === 'plain') {
    nodes.unshift(
      makeNode('lens_cache/capacity', 'Shape', ['past_key_values.0.key'], ['lens_cache/capacity'], { start: attr.int(2), end: attr.int(3) }),
      makeNode('lens_cache/new_tokens', 'Shape', ['input_ids'], ['lens_cache/new_tokens'], { start: attr.int(1), end: attr.int(2) }),
      makeNode(splitSizes, 'Concat', ['lens_cache/capacity', 'lens_cache/new_tokens'], [splitSizes], { axis: attr.int(0) }),
    );
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
    const next = live.filter((n) => (n.output ?? []).some((o) => read.has(o)));
    if (next.length === live.length) break;
    live = next;
  }
  if (live.some((n) => (n.input ?? []).includes('attention_mask'))) throw notDerivable('something other than attention reads attention_mask');
  graph.node = live;
  const used = new Set<string>();
  for (const n of live) for (const i of n.input ?? []) used.add(i);
  graph.initializer = (graph.initializer ?? []).filter((t) => used.has(t.name ?? ''));
  graph.initializer.push(...consts.tensors);
  if (attention === 'plain') {
    graph.input.push(
      valueInfo(ATTN_BIAS_PAST, 'float32', ['batch_size', 1, 'grouped_queries', 'cache_capacity']),
      valueInfo(ATTN_BIAS_NEW, 'float32', ['batch_size', 1, 'grouped_queries', 'sequence_length']),
    );
  } else graph.input.push(valueInfo(ATTN_BIAS, 'float32', ['batch_size', 1, 'sequence_length', 'cache_capacity_plus_sequence']));
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
  return model;
}
