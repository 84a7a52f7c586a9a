// ONNX export of a Llama-family decoder from plain weight arrays (llama2.c / HF LlamaForCausalLM).
// Graph I/O follows Optimum / transformers.js: see decoder.ts.

import { FUSED_OPSET, GraphBuilder, attr } from '../onnx/graph';
import {
  DIMS,
  MASKED_SCORE,
  attention,
  checkHeadCombine,
  checkShape,
  decoderIO,
  normaliseEarlyExit,
  splitHeads,
  transpose2d,
  type DecoderExportOptions,
} from './decoder';

/**
 * RoPE pairing. 'interleaved': llama2.c / Meta's original code rotates the pairs (x[2i], x[2i+1]);
 * 'half': HF `rotate_half` rotates (x[i], x[i + hd/2]). Both use frequency theta^(-2i/hd) for pair i.
 */
export type RopeStyle = 'interleaved' | 'half';

export interface LlamaConfig {
  /** Model width (hidden_size). */
  dim: number;
  /** FFN width (intermediate_size). */
  hiddenDim: number;
  numLayers: number;
  numHeads: number;
  /** KV heads; < numHeads means grouped-query attention. */
  numKvHeads: number;
  /** Per-head width; default dim / numHeads. */
  headDim?: number;
  vocabSize: number;
  /** Context length (max_position_embeddings); RoPE itself has no table limit in the graph. */
  maxSeqLen: number;
  /** RMSNorm epsilon (llama2.c: 1e-5). */
  normEps: number;
  /** RoPE base (default 10000). */
  ropeTheta?: number;
  ropeStyle: RopeStyle;
}

/** One transformer block. Matrices are PyTorch Linear layout [out, in], row-major. */
export interface LlamaLayerWeights {
  attnNorm: Float32Array; // [dim]
  wq: Float32Array; // [numHeads*headDim, dim]
  wk: Float32Array; // [numKvHeads*headDim, dim]
  wv: Float32Array; // [numKvHeads*headDim, dim]
  wo: Float32Array; // [dim, numHeads*headDim]
  ffnNorm: Float32Array; // [dim]
  w1: Float32Array; // [hiddenDim, dim]  (gate)
  w2: Float32Array; // [dim, hiddenDim]  (down)
  w3: Float32Array; // [hiddenDim, dim]  (up)
}

export interface LlamaWeights {
  config: LlamaConfig;
  tokEmbedding: Float32Array; // [vocab, dim]
  layers: LlamaLayerWeights[];
  finalNorm: Float32Array; // [dim]
  /** Untied LM head [vocab, dim]; null = tied to tokEmbedding. */
  lmHead: Float32Array | null;
}

/** headDim of a config (explicit, or dim / numHeads). */
export function llamaHeadDim(c: LlamaConfig): number {
  return c.headDim ?? c.dim / c.numHeads;
}

function validate(w: LlamaWeights): void {
  const c = w.config;
  const hd = llamaHeadDim(c);
  if (!Number.isInteger(hd) || hd % 2 !== 0) throw new Error(`llama export: head_dim ${hd} must be an even integer`);
  if (c.numHeads % c.numKvHeads !== 0) throw new Error(`llama export: ${c.numHeads} heads not a multiple of ${c.numKvHeads} KV heads`);
  if (w.layers.length !== c.numLayers) throw new Error(`llama export: ${w.layers.length} layers, config says ${c.numLayers}`);
  checkShape('tokEmbedding', w.tokEmbedding, [c.vocabSize, c.dim]);
  checkShape('finalNorm', w.finalNorm, [c.dim]);
  if (w.lmHead) checkShape('lmHead', w.lmHead, [c.vocabSize, c.dim]);
  w.layers.forEach((l, i) => {
    checkShape(`layers[${i}].attnNorm`, l.attnNorm, [c.dim]);
    checkShape(`layers[${i}].wq`, l.wq, [c.numHeads * hd, c.dim]);
    checkShape(`layers[${i}].wk`, l.wk, [c.numKvHeads * hd, c.dim]);
    checkShape(`layers[${i}].wv`, l.wv, [c.numKvHeads * hd, c.dim]);
    checkShape(`layers[${i}].wo`, l.wo, [c.dim, c.numHeads * hd]);
    checkShape(`layers[${i}].ffnNorm`, l.ffnNorm, [c.dim]);
    checkShape(`layers[${i}].w1`, l.w1, [c.hiddenDim, c.dim]);
    checkShape(`layers[${i}].w2`, l.w2, [c.dim, c.hiddenDim]);
    checkShape(`layers[${i}].w3`, l.w3, [c.hiddenDim, c.dim]);
  });
}

/**
 * RMSNorm over the last axis: x / sqrt(mean(x^2) + eps) * weight. x: [B, S, D]. Written as
 * Pow → ReduceMean → Add → Sqrt → Div → Mul, the pattern ONNX Runtime's SimplifiedLayerNormFusion
 * turns into one kernel.
 */
function rmsNorm(g: GraphBuilder, x: string, weight: string, eps: number): string {
  const sq = g.op('Pow', [x, g.f32(2)]); // [B, S, D]
  const ms = g.opset >= 18 // ReduceMean takes its axes as an input from opset 18
    ? g.op('ReduceMean', [sq, g.i64([-1])], { keepdims: attr.int(1) }) // [B, S, 1]
    : g.op('ReduceMean', [sq], { axes: attr.ints([-1]), keepdims: attr.int(1) }); // [B, S, 1]
  const rms = g.op('Sqrt', [g.op('Add', [ms, g.f32(eps)])]); // [B, S, 1]
  return g.op('Mul', [g.op('Div', [x, rms]), weight]); // [B, S, D]
}

/**
 * Applies RoPE to x [B, h, S, hd]. cos / sin: [B, 1, S, hd/2] ('half') or [B, 1, S, hd/2, 1]
 * ('interleaved'). Each pair (a, b) becomes (a cos - b sin, a sin + b cos).
 */
function rope(g: GraphBuilder, x: string, cos: string, sin: string, hd: number, style: RopeStyle): string {
  const half = hd / 2;
  let a: string;
  let b: string;
  if (style === 'interleaved') {
    const pairs = g.op('Reshape', [x, g.i64([0, 0, 0, half, 2])]); // [B, h, S, hd/2, 2]
    [a, b] = g.node('Split', [pairs, g.i64([1, 1])], { axis: attr.int(-1) }, { numOutputs: 2 }) as [string, string]; // each [B, h, S, hd/2, 1]
  } else {
    [a, b] = g.node('Split', [x, g.i64([half, half])], { axis: attr.int(-1) }, { numOutputs: 2 }) as [string, string]; // each [B, h, S, hd/2]
  }
  const ra = g.op('Sub', [g.op('Mul', [a, cos]), g.op('Mul', [b, sin])]);
  const rb = g.op('Add', [g.op('Mul', [a, sin]), g.op('Mul', [b, cos])]);
  const joined = g.op('Concat', [ra, rb], { axis: attr.int(-1) }); // [B, h, S, hd/2, 2] or [B, h, S, hd]
  return style === 'interleaved' ? g.op('Reshape', [joined, g.i64([0, 0, 0, hd])]) : joined; // [B, h, S, hd]
}

/**
 * Builds the ONNX decoder graph of a Llama model. Inputs: input_ids, attention_mask, position_ids
 * (unless `positionIds: false`), past_key_values.{i}.key/value [B, nKV, P, hd] (and
 * use_cache_branch for `mergedDecoder`); outputs: logits [B, S, vocab], present.{i}.key/value
 * [B, nKV, P+S, hd], and logits_layer_{k} for each early-exit layer k. `opts.headCombine` replaces
 * the heads' separate softmaxes by one shared softmax of their mean score (all heads, or per KV group).
 */
export function buildLlamaOnnx(w: LlamaWeights, opts: DecoderExportOptions = {}): Uint8Array {
  validate(w);
  const c = w.config;
  const hd = llamaHeadDim(c);
  const H = c.numHeads;
  const nKV = c.numKvHeads;
  const D = c.dim;
  const style = c.ropeStyle;
  const earlyExit = normaliseEarlyExit(opts.earlyExitLayers, c.numLayers);
  const combine = checkHeadCombine(opts.headCombine);
  const fused = (opts.fused ?? true) && combine === 'standard';
  const g = new GraphBuilder('llama_decoder', fused ? { opset: FUSED_OPSET } : {});
  const io = decoderIO(g, { numLayers: c.numLayers, numKvHeads: nKV, headDim: hd }, opts);

  // RoPE angles: position * theta^(-2i/hd) for pair i.
  const theta = c.ropeTheta ?? 10000;
  const invFreq = new Float32Array(hd / 2);
  for (let i = 0; i < hd / 2; i++) invFreq[i] = 1 / Math.pow(theta, (2 * i) / hd);
  const invFreqT = g.initFloat('rope_inv_freq', invFreq, [hd / 2]);
  let cos: string;
  let sin: string;
  let bias = '';
  if (fused) {
    // cos/sin tables [context, hd/2] for RotaryEmbedding, computed in the graph from constants (ONNX
    // Runtime folds them once at load; the file stays small, and the values are the float32 ones the
    // primitive graph computes per step). Positions must stay below the context (the engine checks).
    const table = g.op('Mul', [g.op('Unsqueeze', [g.op('Cast', [g.op('Range', [g.i64(0, true), g.i64(c.maxSeqLen, true), g.i64(1, true)])], { to: attr.int(1) }), g.i64([-1])]), invFreqT]); // [context, hd/2]
    cos = g.op('Cos', [table]);
    sin = g.op('Sin', [table]);
    // Additive attention mask [B, 1, S, T]: 0 where allowed, MASKED_SCORE (finite, so rows of left
    // padding that see nothing stay NaN-free) elsewhere.
    bias = g.op('Where', [g.op('Squeeze', [io.allowed, g.i64([1])]), g.f32(0), g.f32(MASKED_SCORE)]);
  } else {
    const posF = g.op('Cast', [io.positions], { to: attr.int(1) }); // float [B, S]
    const angles = g.op('Mul', [g.op('Unsqueeze', [posF, g.i64([-1])]), invFreqT]); // [B, S, hd/2]
    const ropeAxes = style === 'interleaved' ? [1, 4] : [1];
    cos = g.op('Unsqueeze', [g.op('Cos', [angles]), g.i64(ropeAxes)]); // [B, 1, S, hd/2(, 1)]
    sin = g.op('Unsqueeze', [g.op('Sin', [angles]), g.i64(ropeAxes)]); // [B, 1, S, hd/2(, 1)]
  }

  const emb = g.initFloat('model.embed_tokens.weight', w.tokEmbedding, [c.vocabSize, D]); // [V, D]
  const finalNorm = g.initFloat('model.norm.weight', w.finalNorm, [D]);
  const headT = w.lmHead
    ? g.initFloat('lm_head.weight.T', transpose2d(w.lmHead, c.vocabSize, D), [D, c.vocabSize]) // [D, V]
    : g.op('Transpose', [emb], { perm: attr.ints([1, 0]) }); // tied: [D, V]
  const lmHead = (h: string, outName: string): void => {
    const logits = g.op('MatMul', [rmsNorm(g, h, finalNorm, c.normEps), headT], {}, { outputs: [outName] }); // [B, S, V]
    g.output(outName, logits, 'float32', [DIMS.batch, DIMS.seq, c.vocabSize]);
  };

  let h = g.op('Gather', [emb, io.inputIds], { axis: attr.int(0) }); // [B, S, D]
  w.layers.forEach((lw, i) => {
    const p = `model.layers.${i}`;
    const lin = (name: string, m: Float32Array, out: number, inp: number): string =>
      g.initFloat(`${p}.${name}.T`, transpose2d(m, out, inp), [inp, out]); // [in, out]
    const x = rmsNorm(g, h, g.initFloat(`${p}.input_layernorm.weight`, lw.attnNorm, [D]), c.normEps); // [B, S, D]
    let ctx: string; // [B, S, H*hd]
    if (fused) {
      // One MatMul for Q, K and V (rows of [q; k; v] in Linear layout), RoPE and attention as ONNX ops.
      const qkvW = new Float32Array((H + 2 * nKV) * hd * D);
      qkvW.set(lw.wq, 0);
      qkvW.set(lw.wk, H * hd * D);
      qkvW.set(lw.wv, (H + nKV) * hd * D);
      const qkv = g.op('MatMul', [x, lin('self_attn.qkv_proj.weight', qkvW, (H + 2 * nKV) * hd, D)]); // [B, S, (H+2nKV)*hd]
      const [q, k, v] = g.node('Split', [qkv, g.i64([H * hd, nKV * hd, nKV * hd])], { axis: attr.int(-1) }, { numOutputs: 3 }); // [B, S, H*hd], [B, S, nKV*hd] ×2
      const interleaved = attr.int(style === 'interleaved' ? 1 : 0);
      const qr = g.op('RotaryEmbedding', [q!, cos, sin, io.positions], { interleaved, num_heads: attr.int(H) }); // [B, S, H*hd]
      const kr = g.op('RotaryEmbedding', [k!, cos, sin, io.positions], { interleaved, num_heads: attr.int(nKV) }); // [B, S, nKV*hd]
      const [y, kAll, vAll] = g.node('Attention', [qr, kr, v!, bias, io.pastKeys[i]!, io.pastValues[i]!], { q_num_heads: attr.int(H), kv_num_heads: attr.int(nKV) }, { numOutputs: 3 }); // [B, S, H*hd], [B, nKV, T, hd] ×2
      io.emitPresent(i, kAll!, vAll!);
      ctx = y!;
    } else {
      const q = splitHeads(g, g.op('MatMul', [x, lin('self_attn.q_proj.weight', lw.wq, H * hd, D)]), H, hd); // [B, H, S, hd]
      const k = splitHeads(g, g.op('MatMul', [x, lin('self_attn.k_proj.weight', lw.wk, nKV * hd, D)]), nKV, hd); // [B, nKV, S, hd]
      const v = splitHeads(g, g.op('MatMul', [x, lin('self_attn.v_proj.weight', lw.wv, nKV * hd, D)]), nKV, hd); // [B, nKV, S, hd]
      const qr = rope(g, q, cos, sin, hd, style); // [B, H, S, hd]
      const kr = rope(g, k, cos, sin, hd, style); // [B, nKV, S, hd]
      const kAll = g.op('Concat', [io.pastKeys[i]!, kr], { axis: attr.int(2) }); // [B, nKV, T, hd]
      const vAll = g.op('Concat', [io.pastValues[i]!, v], { axis: attr.int(2) }); // [B, nKV, T, hd]
      io.emitPresent(i, kAll, vAll);
      ctx = attention(g, qr, kAll, vAll, io.allowed, { numHeads: H, numKvHeads: nKV, headDim: hd, combine }); // [B, S, H*hd]
    }
    h = g.op('Add', [h, g.op('MatMul', [ctx, lin('self_attn.o_proj.weight', lw.wo, D, H * hd)])]); // [B, S, D]

    const y = rmsNorm(g, h, g.initFloat(`${p}.post_attention_layernorm.weight`, lw.ffnNorm, [D]), c.normEps); // [B, S, D]
    let gate: string;
    let up: string;
    if (fused) {
      const guW = new Float32Array(2 * c.hiddenDim * D); // rows of [gate; up], Linear layout
      guW.set(lw.w1, 0);
      guW.set(lw.w3, c.hiddenDim * D);
      const gu = g.op('MatMul', [y, lin('mlp.gate_up_proj.weight', guW, 2 * c.hiddenDim, D)]); // [B, S, 2F]
      [gate, up] = g.node('Split', [gu, g.i64([c.hiddenDim, c.hiddenDim])], { axis: attr.int(-1) }, { numOutputs: 2 }) as [string, string]; // [B, S, F] ×2
    } else {
      gate = g.op('MatMul', [y, lin('mlp.gate_proj.weight', lw.w1, c.hiddenDim, D)]); // [B, S, F]
      up = g.op('MatMul', [y, lin('mlp.up_proj.weight', lw.w3, c.hiddenDim, D)]); // [B, S, F]
    }
    const act = g.op('Mul', [g.op('Mul', [gate, g.op('Sigmoid', [gate])]), up]); // silu(gate) * up, [B, S, F]
    h = g.op('Add', [h, g.op('MatMul', [act, lin('mlp.down_proj.weight', lw.w2, D, c.hiddenDim)])]); // [B, S, D]
    if (earlyExit.includes(i + 1)) lmHead(h, `logits_layer_${i + 1}`);
  });
  lmHead(h, 'logits');
  return g.toBytes({ 'lens.model_type': 'llama', 'lens.rope_style': style, ...(combine !== 'standard' ? { 'lens.head_combine': combine } : {}) });
}
