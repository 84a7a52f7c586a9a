// Pieces shared by the decoder exporters (llama.ts, gpt2.ts): the Optimum / transformers.js graph
// I/O (input_ids, attention_mask, position_ids, past_key_values.{i}.key/value -> logits,
// present.{i}.key/value), the causal + padding attention mask, and multi-head / grouped-query
// attention over the concatenated KV cache.

import { GraphBuilder, attr, dtypeCode } from '../onnx/graph';

/** Options every decoder exporter takes. */
export interface DecoderExportOptions {
  /**
   * Extra outputs `logits_layer_{k}` [batch, seq, vocab]: the final norm + LM head applied to the
   * hidden state after the first k layers (1 <= k <= numLayers; k = numLayers equals `logits`).
   */
  earlyExitLayers?: number[];
  /** Element type of past_key_values / present tensors (default float32; float16 casts at the boundary). */
  kvDtype?: 'float32' | 'float16';
  /**
   * Whether the graph has a `position_ids` input (default true). Without it, positions are computed
   * in the graph from attention_mask as Optimum does: cumsum(mask) - 1, clamped at 0, last `seq` columns.
   */
  positionIds?: boolean;
  /** Adds the merged-decoder input `use_cache_branch` bool [1] (default false; the graph does not need it). */
  mergedDecoder?: boolean;
  /**
   * How the heads' attention distributions are formed (default 'standard': each head its own
   * softmax). 'product-all': one distribution, softmax of the mean over all heads of the scaled
   * scores (the normalised geometric mean of the heads' distributions), shared by every head;
   * 'product-group': the same within each group of query heads that share a KV head. Every head
   * still reads its own values. Llama exports only; recorded as config.json's `lens_head_combine`.
   */
  headCombine?: HeadCombine;
  /**
   * Llama with standard heads: write attention and RoPE as ONNX's fused ops (opset 23 `Attention`
   * with the cache and an additive mask, `RotaryEmbedding`) and pack the Q/K/V and gate/up
   * projections into one MatMul each (default true). The graph then has about a third of the nodes
   * (english-base after ONNX Runtime's optimisation: 93 instead of 289), and a decode step costs
   * 25–50% less; the numbers agree with the primitive-op graph to ~1e-5. false writes the opset-17
   * graph of primitive ops, for runtimes without opset 23.
   */
  fused?: boolean;
}

/** Attention heads combined as a product: see DecoderExportOptions.headCombine. */
export type HeadCombine = 'standard' | 'product-all' | 'product-group';
export const HEAD_COMBINE_MODES: readonly HeadCombine[] = ['standard', 'product-all', 'product-group'];

/** Checks a head-combine mode (undefined = 'standard'). */
export function checkHeadCombine(mode: unknown): HeadCombine {
  if (mode === undefined) return 'standard';
  if (typeof mode === 'string' && (HEAD_COMBINE_MODES as readonly string[]).includes(mode)) return mode as HeadCombine;
  throw new Error(`headCombine: ${JSON.stringify(mode)} is not one of ${HEAD_COMBINE_MODES.join(', ')}`);
}

/** Symbolic dimension names used on the graph inputs and outputs. */
export const DIMS = {
  batch: 'batch_size',
  seq: 'sequence_length',
  past: 'past_sequence_length',
  total: 'total_sequence_length',
} as const;

/** Most negative finite float32: masked attention scores (finite, so fully masked rows give no NaN). */
export const MASKED_SCORE = -3.4028234663852886e38;

/** Checks and normalises `earlyExitLayers` (sorted, unique, each in 1..numLayers). */
export function normaliseEarlyExit(layers: readonly number[] | undefined, numLayers: number): number[] {
  const out = [...new Set(layers ?? [])].sort((a, b) => a - b);
  for (const k of out) {
    if (!Number.isInteger(k) || k < 1 || k > numLayers) {
      throw new Error(`earlyExitLayers: ${k} is not a layer count in 1..${numLayers}`);
    }
  }
  return out;
}

export interface DecoderIO {
  /** input_ids, int64 [B, S]. */
  inputIds: string;
  /** Positions of the new tokens, int64 [B, S] (the position_ids input, or computed from the mask). */
  positions: string;
  /** Attention allowed (causal AND not padding), bool [B, 1, 1, S, T] with T = past + S. */
  allowed: string;
  /** Past keys / values per layer as float32 [B, nKV, P, hd]. */
  pastKeys: string[];
  pastValues: string[];
  /** Declares present.{layer}.key/value from float32 [B, nKV, T, hd] tensors (casting for float16 KV). */
  emitPresent(layer: number, key: string, value: string): void;
}

/** Declares the Optimum-style decoder inputs and builds the derived position / mask tensors. */
export function decoderIO(
  g: GraphBuilder,
  spec: { numLayers: number; numKvHeads: number; headDim: number },
  opts: DecoderExportOptions,
): DecoderIO {
  const { batch, seq, past, total } = DIMS;
  const kvDtype = opts.kvDtype ?? 'float32';
  const inputIds = g.input('input_ids', 'int64', [batch, seq]);
  const mask = g.input('attention_mask', 'int64', [batch, total]);
  const positionInput = opts.positionIds === false ? null : g.input('position_ids', 'int64', [batch, seq]);
  const pastKeys: string[] = [];
  const pastValues: string[] = [];
  const kvDims = [batch, spec.numKvHeads, past, spec.headDim];
  for (let i = 0; i < spec.numLayers; i++) {
    for (const kind of ['key', 'value'] as const) {
      let v = g.input(`past_key_values.${i}.${kind}`, kvDtype, kvDims); // [B, nKV, P, hd]
      if (kvDtype !== 'float32') v = g.op('Cast', [v], { to: attr.int(dtypeCode('float32')) });
      (kind === 'key' ? pastKeys : pastValues).push(v);
    }
  }
  if (opts.mergedDecoder) g.input('use_cache_branch', 'bool', [1]);

  // Lengths as 1-D [1] int64 tensors, and as scalars for Range.
  const seqLen = g.op('Shape', [inputIds], { start: attr.int(1), end: attr.int(2) }); // [1] = S
  const totalLen = g.op('Shape', [mask], { start: attr.int(1), end: attr.int(2) }); // [1] = T
  const pastLen = g.op('Sub', [totalLen, seqLen]); // [1] = P
  const totalScalar = g.op('Squeeze', [totalLen, g.i64([0])]); // []
  const pastScalar = g.op('Squeeze', [pastLen, g.i64([0])]); // []
  const one = g.i64(1, true);
  const keyIdx = g.op('Range', [g.i64(0, true), totalScalar, one]); // [T]: 0..T-1
  const queryIdx = g.op('Range', [pastScalar, totalScalar, one]); // [S]: P..T-1
  // Causal: query j (absolute index P + j) sees keys k <= P + j.
  const causal = g.op('LessOrEqual', [
    g.op('Unsqueeze', [keyIdx, g.i64([0])]), // [1, T]
    g.op('Unsqueeze', [queryIdx, g.i64([1])]), // [S, 1]
  ]); // bool [S, T]
  const notPad = g.op('Unsqueeze', [g.op('Cast', [mask], { to: attr.int(dtypeCode('bool')) }), g.i64([1])]); // bool [B, 1, T]
  const allowed3 = g.op('And', [causal, notPad]); // bool [B, S, T]
  const allowed = g.op('Unsqueeze', [allowed3, g.i64([1, 2])]); // bool [B, 1, 1, S, T]

  let positions: string;
  if (positionInput) {
    positions = positionInput;
  } else {
    // Optimum: position_ids = cumsum(mask) - 1, pads clamped, keep the last S columns.
    const cum = g.op('CumSum', [mask, g.i64(1, true)]); // int64 [B, T]
    const pos = g.op('Max', [g.op('Sub', [cum, g.i64([1])]), g.i64([0])]); // int64 [B, T]
    positions = g.op('Slice', [pos, g.op('Neg', [seqLen]), g.i64([Number.MAX_SAFE_INTEGER]), g.i64([1])]); // int64 [B, S]
  }

  const emitPresent = (layer: number, key: string, value: string): void => {
    const dims = [batch, spec.numKvHeads, total, spec.headDim];
    for (const [kind, v] of [['key', key], ['value', value]] as const) {
      const name = `present.${layer}.${kind}`;
      if (kvDtype === 'float32') g.output(name, v, 'float32', dims);
      else {
        g.op('Cast', [v], { to: attr.int(dtypeCode(kvDtype)) }, { outputs: [name] });
        g.output(name, name, kvDtype, dims);
      }
    }
  };

  return { inputIds, positions, allowed, pastKeys, pastValues, emitPresent };
}

/** [B, S, heads*hd] -> [B, heads, S, hd]. */
export function splitHeads(g: GraphBuilder, x: string, heads: number, headDim: number): string {
  const r = g.op('Reshape', [x, g.i64([0, 0, heads, headDim])]); // [B, S, heads, hd]
  return g.op('Transpose', [r], { perm: attr.ints([0, 2, 1, 3]) }); // [B, heads, S, hd]
}

/**
 * Scaled dot-product attention with grouped-query heads (numKvHeads divides numHeads; query head h
 * uses KV head floor(h / groups), as llama2.c and HF repeat_kv do).
 * q: [B, H, S, hd]; k, v: [B, nKV, T, hd]; allowed: bool [B, 1, 1, S, T]. Returns [B, S, H*hd].
 * `combine` (default 'standard'): see DecoderExportOptions.headCombine.
 */
export function attention(
  g: GraphBuilder,
  q: string,
  k: string,
  v: string,
  allowed: string,
  spec: { numHeads: number; numKvHeads: number; headDim: number; combine?: HeadCombine },
): string {
  const { numHeads: H, numKvHeads: nKV, headDim: hd } = spec;
  const combine = checkHeadCombine(spec.combine);
  if (H % nKV !== 0) throw new Error(`attention: ${H} heads are not a multiple of ${nKV} KV heads`);
  const groups = H / nKV;
  const q5 = g.op('Reshape', [q, g.i64([0, nKV, groups, -1, hd])]); // [B, nKV, G, S, hd]
  const k5 = g.op('Unsqueeze', [k, g.i64([2])]); // [B, nKV, 1, T, hd]
  const kT = g.op('Transpose', [k5], { perm: attr.ints([0, 1, 2, 4, 3]) }); // [B, nKV, 1, hd, T]
  const raw = g.op('MatMul', [q5, kT]); // [B, nKV, G, S, T]
  let scores = g.op('Div', [raw, g.f32(Math.sqrt(hd))]); // [B, nKV, G, S, T]
  // A product of heads: the mean of the scores is taken before masking (the mask is the same for
  // every head, so this equals the mean of the masked scores, without summing MASKED_SCORE values
  // into -inf, which would turn fully masked rows (left padding) into NaN).
  if (combine === 'product-group') scores = g.op('ReduceMean', [scores], { axes: attr.ints([2]), keepdims: attr.int(1) }); // [B, nKV, 1, S, T]
  if (combine === 'product-all') scores = g.op('ReduceMean', [scores], { axes: attr.ints([1, 2]), keepdims: attr.int(1) }); // [B, 1, 1, S, T]
  const masked = g.op('Where', [allowed, scores, g.f32(MASKED_SCORE)]); // [B, nKV, G, S, T] (product: [B, nKV|1, 1, S, T])
  const probs = g.op('Softmax', [masked], { axis: attr.int(-1) }); // same shape as masked
  const v5 = g.op('Unsqueeze', [v, g.i64([2])]); // [B, nKV, 1, T, hd]
  let ctx = g.op('MatMul', [probs, v5]); // [B, nKV, G, S, hd] (product: [B, nKV, 1, S, hd], one distribution per group or for all)
  // Heads of one KV group read the same values, so with a shared distribution their outputs are equal: repeat them.
  if (combine !== 'standard' && groups > 1) ctx = g.op('Expand', [ctx, g.i64([1, 1, groups, 1, 1])]); // [B, nKV, G, S, hd]
  const heads = g.op('Reshape', [ctx, g.i64([0, H, -1, hd])]); // [B, H, S, hd]
  const bshd = g.op('Transpose', [heads], { perm: attr.ints([0, 2, 1, 3]) }); // [B, S, H, hd]
  return g.op('Reshape', [bshd, g.i64([0, 0, H * hd])]); // [B, S, H*hd]
}

/** Transposes a row-major [rows, cols] matrix into a new [cols, rows] array. */
export function transpose2d(m: Float32Array, rows: number, cols: number): Float32Array {
  if (m.length !== rows * cols) throw new Error(`transpose2d: ${m.length} values for [${rows}, ${cols}]`);
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[c * rows + r] = m[r * cols + c]!;
  }
  return out;
}

/** Throws unless `a` holds exactly the product of `dims` values. */
export function checkShape(name: string, a: Float32Array, dims: readonly number[]): void {
  const n = dims.reduce((x, y) => x * y, 1);
  if (a.length !== n) throw new Error(`${name}: expected ${n} values for [${dims.join(', ')}], got ${a.length}`);
}
