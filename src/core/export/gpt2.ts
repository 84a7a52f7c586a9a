// ONNX export of a GPT-2 decoder from plain weight arrays (HF GPT2LMHeadModel conventions).
// Graph I/O follows Optimum / transformers.js: see decoder.ts.

import { GraphBuilder, attr } from '../onnx/graph';
import {
  DIMS,
  attention,
  checkShape,
  decoderIO,
  normaliseEarlyExit,
  splitHeads,
  type DecoderExportOptions,
} from './decoder';

export interface Gpt2Config {
  /** n_embd */
  nEmbd: number;
  /** n_layer */
  nLayer: number;
  /** n_head */
  nHead: number;
  /** n_positions: rows of the learned position embedding. */
  nPositions: number;
  vocabSize: number;
  /** layer_norm_epsilon (GPT-2: 1e-5). */
  layerNormEps: number;
  /** MLP width (n_inner); default 4 * nEmbd. */
  nInner?: number;
}

/** One block. HF Conv1D weights are [in, out] row-major (y = x W + b). */
export interface Gpt2LayerWeights {
  ln1Weight: Float32Array; // [D]
  ln1Bias: Float32Array; // [D]
  attnWeight: Float32Array; // c_attn.weight [D, 3D]: columns q | k | v
  attnBias: Float32Array; // c_attn.bias [3D]
  attnProjWeight: Float32Array; // attn.c_proj.weight [D, D]
  attnProjBias: Float32Array; // [D]
  ln2Weight: Float32Array; // [D]
  ln2Bias: Float32Array; // [D]
  fcWeight: Float32Array; // mlp.c_fc.weight [D, inner]
  fcBias: Float32Array; // [inner]
  mlpProjWeight: Float32Array; // mlp.c_proj.weight [inner, D]
  mlpProjBias: Float32Array; // [D]
}

export interface Gpt2Weights {
  config: Gpt2Config;
  wte: Float32Array; // [vocab, D]; also the (tied) LM head
  wpe: Float32Array; // [nPositions, D]
  layers: Gpt2LayerWeights[];
  lnFWeight: Float32Array; // [D]
  lnFBias: Float32Array; // [D]
}

export function gpt2Inner(c: Gpt2Config): number {
  return c.nInner ?? 4 * c.nEmbd;
}

function validate(w: Gpt2Weights): void {
  const c = w.config;
  const D = c.nEmbd;
  const F = gpt2Inner(c);
  if (D % c.nHead !== 0) throw new Error(`gpt2 export: n_embd ${D} not a multiple of n_head ${c.nHead}`);
  if (w.layers.length !== c.nLayer) throw new Error(`gpt2 export: ${w.layers.length} layers, config says ${c.nLayer}`);
  checkShape('wte', w.wte, [c.vocabSize, D]);
  checkShape('wpe', w.wpe, [c.nPositions, D]);
  checkShape('lnFWeight', w.lnFWeight, [D]);
  checkShape('lnFBias', w.lnFBias, [D]);
  w.layers.forEach((l, i) => {
    const shapes: [keyof Gpt2LayerWeights, number[]][] = [
      ['ln1Weight', [D]], ['ln1Bias', [D]], ['attnWeight', [D, 3 * D]], ['attnBias', [3 * D]],
      ['attnProjWeight', [D, D]], ['attnProjBias', [D]], ['ln2Weight', [D]], ['ln2Bias', [D]],
      ['fcWeight', [D, F]], ['fcBias', [F]], ['mlpProjWeight', [F, D]], ['mlpProjBias', [D]],
    ];
    for (const [k, dims] of shapes) checkShape(`layers[${i}].${k}`, l[k], dims);
  });
}

/** GELU, tanh approximation (HF "gelu_new"): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
function geluNew(g: GraphBuilder, x: string): string {
  const x3 = g.op('Mul', [g.op('Mul', [x, x]), x]);
  const inner = g.op('Mul', [g.op('Add', [x, g.op('Mul', [x3, g.f32(0.044715)])]), g.f32(Math.sqrt(2 / Math.PI))]);
  const t = g.op('Add', [g.op('Tanh', [inner]), g.f32(1)]);
  return g.op('Mul', [g.op('Mul', [x, g.f32(0.5)]), t]);
}

/**
 * Builds the ONNX decoder graph of a GPT-2 model (same graph I/O as buildLlamaOnnx; KV heads =
 * n_head). Position embeddings are indexed by position_ids (or positions computed from the mask).
 */
export function buildGpt2Onnx(w: Gpt2Weights, opts: DecoderExportOptions = {}): Uint8Array {
  validate(w);
  const c = w.config;
  const D = c.nEmbd;
  const H = c.nHead;
  const hd = D / H;
  const F = gpt2Inner(c);
  const earlyExit = normaliseEarlyExit(opts.earlyExitLayers, c.nLayer);
  if ((opts.headCombine ?? 'standard') !== 'standard') throw new Error(`gpt2 export: headCombine ${JSON.stringify(opts.headCombine)} is supported for Llama exports only`);
  const g = new GraphBuilder('gpt2_decoder');
  const io = decoderIO(g, { numLayers: c.nLayer, numKvHeads: H, headDim: hd }, opts);
  const eps = attr.float(c.layerNormEps);
  const lnParams = (name: string, weight: Float32Array, bias: Float32Array): [string, string] => [
    g.initFloat(`${name}.weight`, weight, [D]),
    g.initFloat(`${name}.bias`, bias, [D]),
  ];
  const layerNorm = (x: string, [weight, bias]: [string, string]): string =>
    g.op('LayerNormalization', [x, weight, bias], { axis: attr.int(-1), epsilon: eps }); // [B, S, D]
  const linear = (x: string, name: string, weight: Float32Array, bias: Float32Array, inp: number, out: number): string =>
    g.op('Add', [g.op('MatMul', [x, g.initFloat(`${name}.weight`, weight, [inp, out])]), g.initFloat(`${name}.bias`, bias, [out])]);

  const wte = g.initFloat('transformer.wte.weight', w.wte, [c.vocabSize, D]); // [V, D]
  const wpe = g.initFloat('transformer.wpe.weight', w.wpe, [c.nPositions, D]); // [P_max, D]
  const lnF = lnParams('transformer.ln_f', w.lnFWeight, w.lnFBias);
  const headT = g.op('Transpose', [wte], { perm: attr.ints([1, 0]) }); // tied head [D, V]
  const lmHead = (h: string, outName: string): void => {
    const x = layerNorm(h, lnF);
    const logits = g.op('MatMul', [x, headT], {}, { outputs: [outName] }); // [B, S, V]
    g.output(outName, logits, 'float32', [DIMS.batch, DIMS.seq, c.vocabSize]);
  };

  const tok = g.op('Gather', [wte, io.inputIds], { axis: attr.int(0) }); // [B, S, D]
  const pos = g.op('Gather', [wpe, io.positions], { axis: attr.int(0) }); // [B, S, D]
  let h = g.op('Add', [tok, pos]); // [B, S, D]
  w.layers.forEach((lw, i) => {
    const p = `transformer.h.${i}`;
    const x = layerNorm(h, lnParams(`${p}.ln_1`, lw.ln1Weight, lw.ln1Bias)); // [B, S, D]
    const qkv = linear(x, `${p}.attn.c_attn`, lw.attnWeight, lw.attnBias, D, 3 * D); // [B, S, 3D]
    const [q, k, v] = g.node('Split', [qkv, g.i64([D, D, D])], { axis: attr.int(-1) }, { numOutputs: 3 }) as [string, string, string]; // each [B, S, D]
    const kAll = g.op('Concat', [io.pastKeys[i]!, splitHeads(g, k, H, hd)], { axis: attr.int(2) }); // [B, H, T, hd]
    const vAll = g.op('Concat', [io.pastValues[i]!, splitHeads(g, v, H, hd)], { axis: attr.int(2) }); // [B, H, T, hd]
    io.emitPresent(i, kAll, vAll);
    const ctx = attention(g, splitHeads(g, q, H, hd), kAll, vAll, io.allowed, { numHeads: H, numKvHeads: H, headDim: hd }); // [B, S, D]
    h = g.op('Add', [h, linear(ctx, `${p}.attn.c_proj`, lw.attnProjWeight, lw.attnProjBias, D, D)]); // [B, S, D]
    const y = layerNorm(h, lnParams(`${p}.ln_2`, lw.ln2Weight, lw.ln2Bias)); // [B, S, D]
    const fc = geluNew(g, linear(y, `${p}.mlp.c_fc`, lw.fcWeight, lw.fcBias, D, F)); // [B, S, F]
    h = g.op('Add', [h, linear(fc, `${p}.mlp.c_proj`, lw.mlpProjWeight, lw.mlpProjBias, F, D)]); // [B, S, D]
    if (earlyExit.includes(i + 1)) lmHead(h, `logits_layer_${i + 1}`);
  });
  lmHead(h, 'logits');
  return g.toBytes({ 'lens.model_type': 'gpt2' });
}
