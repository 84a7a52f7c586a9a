// Test-only reference forward passes: plain loops in float64 over the same weight arrays the
// exporters take, written from the model definitions (llama2.c run.c, HF GPT-2), not from the graphs.
// One sequence at positions 0..S-1; returns logits [S, vocab] row-major.

import type { Gpt2Weights } from '../../src/core/export/gpt2';
import { llamaHeadDim, type LlamaWeights } from '../../src/core/export/llama';

/** y = W x for a PyTorch Linear weight W [out, in]. */
function linearOutIn(w: Float32Array, x: Float64Array, out: number, inp: number): Float64Array {
  const y = new Float64Array(out);
  for (let o = 0; o < out; o++) {
    let s = 0;
    for (let i = 0; i < inp; i++) s += w[o * inp + i]! * x[i]!;
    y[o] = s;
  }
  return y;
}

/** y = x W + b for an HF Conv1D weight W [in, out]. */
function conv1d(w: Float32Array, b: Float32Array, x: Float64Array, inp: number, out: number): Float64Array {
  const y = new Float64Array(out);
  for (let o = 0; o < out; o++) {
    let s = b[o]!;
    for (let i = 0; i < inp; i++) s += x[i]! * w[i * out + o]!;
    y[o] = s;
  }
  return y;
}

function rmsNorm(x: Float64Array, w: Float32Array, eps: number): Float64Array {
  let ss = 0;
  for (const v of x) ss += v * v;
  const inv = 1 / Math.sqrt(ss / x.length + eps);
  return x.map((v, i) => v * inv * w[i]!);
}

function layerNorm(x: Float64Array, w: Float32Array, b: Float32Array, eps: number): Float64Array {
  let mean = 0;
  for (const v of x) mean += v;
  mean /= x.length;
  let variance = 0;
  for (const v of x) variance += (v - mean) * (v - mean);
  variance /= x.length;
  const inv = 1 / Math.sqrt(variance + eps);
  return x.map((v, i) => (v - mean) * inv * w[i]! + b[i]!);
}

function softmaxInPlace(a: Float64Array): void {
  let max = -Infinity;
  for (const v of a) max = Math.max(max, v);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i] = Math.exp(a[i]! - max);
  for (let i = 0; i < a.length; i++) a[i]! /= sum;
}

/**
 * Causal self-attention of query position t over keys/values 0..t (per-position vectors of
 * numHeads*hd / numKvHeads*hd values). Query head h reads KV head floor(h / (H / nKV)).
 */
function attend(q: Float64Array, keys: Float64Array[], values: Float64Array[], H: number, nKV: number, hd: number): Float64Array {
  const out = new Float64Array(H * hd);
  const group = H / nKV;
  for (let h = 0; h < H; h++) {
    const kv = Math.floor(h / group);
    const scores = new Float64Array(keys.length);
    for (let t = 0; t < keys.length; t++) {
      let s = 0;
      for (let i = 0; i < hd; i++) s += q[h * hd + i]! * keys[t]![kv * hd + i]!;
      scores[t] = s / Math.sqrt(hd);
    }
    softmaxInPlace(scores);
    for (let t = 0; t < keys.length; t++) {
      for (let i = 0; i < hd; i++) out[h * hd + i]! += scores[t]! * values[t]![kv * hd + i]!;
    }
  }
  return out;
}

/** RoPE on a [heads*hd] vector at position pos; 'interleaved' pairs (2i, 2i+1), 'half' pairs (i, i+hd/2). */
function rope(x: Float64Array, heads: number, hd: number, pos: number, theta: number, style: 'interleaved' | 'half'): void {
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < hd / 2; i++) {
      const angle = pos * Math.pow(theta, (-2 * i) / hd);
      const [ia, ib] = style === 'interleaved' ? [h * hd + 2 * i, h * hd + 2 * i + 1] : [h * hd + i, h * hd + i + hd / 2];
      const a = x[ia]!;
      const b = x[ib]!;
      x[ia] = a * Math.cos(angle) - b * Math.sin(angle);
      x[ib] = a * Math.sin(angle) + b * Math.cos(angle);
    }
  }
}

function logitsOf(x: Float64Array, head: Float32Array, vocab: number, dim: number): Float64Array {
  return linearOutIn(head, x, vocab, dim);
}

/** Llama logits [S, vocab] for `ids`, using only the first `numLayers` layers (then final norm + head). */
export function referenceLlamaLogits(w: LlamaWeights, ids: readonly number[], numLayers = w.config.numLayers): Float64Array {
  const c = w.config;
  const D = c.dim;
  const hd = llamaHeadDim(c);
  const H = c.numHeads;
  const nKV = c.numKvHeads;
  const theta = c.ropeTheta ?? 10000;
  const V = c.vocabSize;
  const keys: Float64Array[][] = Array.from({ length: numLayers }, () => []);
  const values: Float64Array[][] = Array.from({ length: numLayers }, () => []);
  const out = new Float64Array(ids.length * V);
  ids.forEach((id, pos) => {
    let x = Float64Array.from(w.tokEmbedding.subarray(id * D, (id + 1) * D));
    for (let l = 0; l < numLayers; l++) {
      const lw = w.layers[l]!;
      const xn = rmsNorm(x, lw.attnNorm, c.normEps);
      const q = linearOutIn(lw.wq, xn, H * hd, D);
      const k = linearOutIn(lw.wk, xn, nKV * hd, D);
      const v = linearOutIn(lw.wv, xn, nKV * hd, D);
      rope(q, H, hd, pos, theta, c.ropeStyle);
      rope(k, nKV, hd, pos, theta, c.ropeStyle);
      keys[l]!.push(k);
      values[l]!.push(v);
      const ctx = attend(q, keys[l]!, values[l]!, H, nKV, hd);
      const o = linearOutIn(lw.wo, ctx, D, H * hd);
      x = x.map((val, i) => val + o[i]!);
      const xn2 = rmsNorm(x, lw.ffnNorm, c.normEps);
      const gate = linearOutIn(lw.w1, xn2, c.hiddenDim, D);
      const up = linearOutIn(lw.w3, xn2, c.hiddenDim, D);
      const act = gate.map((gv, i) => (gv / (1 + Math.exp(-gv))) * up[i]!);
      const down = linearOutIn(lw.w2, act, D, c.hiddenDim);
      x = x.map((val, i) => val + down[i]!);
    }
    out.set(logitsOf(rmsNorm(x, w.finalNorm, c.normEps), w.lmHead ?? w.tokEmbedding, V, D), pos * V);
  });
  return out;
}

function geluNew(x: number): number {
  return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
}

/** GPT-2 logits [S, vocab] for `ids`, using only the first `numLayers` blocks (then ln_f + tied head). */
export function referenceGpt2Logits(w: Gpt2Weights, ids: readonly number[], numLayers = w.config.nLayer): Float64Array {
  const c = w.config;
  const D = c.nEmbd;
  const H = c.nHead;
  const hd = D / H;
  const F = c.nInner ?? 4 * D;
  const V = c.vocabSize;
  const keys: Float64Array[][] = Array.from({ length: numLayers }, () => []);
  const values: Float64Array[][] = Array.from({ length: numLayers }, () => []);
  const out = new Float64Array(ids.length * V);
  ids.forEach((id, pos) => {
    let x = new Float64Array(D).map((_, i) => w.wte[id * D + i]! + w.wpe[pos * D + i]!);
    for (let l = 0; l < numLayers; l++) {
      const lw = w.layers[l]!;
      const qkv = conv1d(lw.attnWeight, lw.attnBias, layerNorm(x, lw.ln1Weight, lw.ln1Bias, c.layerNormEps), D, 3 * D);
      keys[l]!.push(qkv.slice(D, 2 * D));
      values[l]!.push(qkv.slice(2 * D, 3 * D));
      const ctx = attend(qkv.slice(0, D), keys[l]!, values[l]!, H, H, hd);
      const o = conv1d(lw.attnProjWeight, lw.attnProjBias, ctx, D, D);
      x = x.map((val, i) => val + o[i]!);
      const fc = conv1d(lw.fcWeight, lw.fcBias, layerNorm(x, lw.ln2Weight, lw.ln2Bias, c.layerNormEps), D, F).map(geluNew);
      const m = conv1d(lw.mlpProjWeight, lw.mlpProjBias, fc, F, D);
      x = x.map((val, i) => val + m[i]!);
    }
    out.set(logitsOf(layerNorm(x, w.lnFWeight, w.lnFBias, c.layerNormEps), w.wte, V, D), pos * V);
  });
  return out;
}
