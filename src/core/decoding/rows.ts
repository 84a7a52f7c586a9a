// Shared helpers for combining experts' next-token rows. Units: logits / log-probs in nats.
// Every row is one vocabulary-sized vector ([vocab]); all rows of one combination must have the same length.
import { logSoftmax, logSumExp } from '../math';

/** One next-token row over the vocabulary ([vocab] logits or log-probs, nats); −Infinity = token removed. */
export type Row = Float32Array | Float64Array;

/** What every combination returns. */
export interface CombinedRow {
  /** [vocab] normalised log-probs (nats, float64): logSumExp = 0; masked tokens are −Infinity. */
  logProbs: Float64Array;
  /** DoLa only: which premature row was contrasted. */
  premature?: {
    /** 0-based index into the premature rows (= rows[1 + index] of the combineRows input). */
    index: number;
    /** The layer number for that row (params.layers[index], or `index` when no layers were given). */
    layer: number;
    /** [premature rows] JSD(q_final ‖ q_j) in nats, for every candidate j. */
    jsd: Float64Array;
  };
}

/** Checks the row count and that every row has the same vocabulary length; returns that length. */
export function checkRows(name: string, rows: readonly Row[], min: number, max = min): number {
  if (rows.length < min || rows.length > max) {
    const want = min === max ? `${min}` : max === Infinity ? `at least ${min}` : `${min}–${max}`;
    throw new RangeError(`${name}: expected ${want} rows, got ${rows.length}`);
  }
  const v = rows[0].length;
  if (v === 0) throw new RangeError(`${name}: empty row`);
  for (let i = 1; i < rows.length; i++) {
    if (rows[i].length !== v) throw new RangeError(`${name}: row ${i} has ${rows[i].length} entries, row 0 has ${v} (vocabularies must match)`);
  }
  return v;
}

/**
 * Per-row temperatures: `undefined` → 1 for every row; a number → that value for every row; an array →
 * one per row. Each must be finite and > 0.
 */
export function resolveTemperatures(name: string, t: number | readonly number[] | undefined, n: number): number[] {
  const out = t === undefined ? new Array<number>(n).fill(1) : typeof t === 'number' ? new Array<number>(n).fill(t) : [...t];
  if (out.length !== n) throw new RangeError(`${name}: ${out.length} temperatures for ${n} rows`);
  for (const x of out) if (!(x > 0) || !Number.isFinite(x)) throw new RangeError(`${name}: temperature must be finite and > 0, got ${x}`);
  return out;
}

/** row / T as float64 ([vocab] logits, nats); −Infinity stays −Infinity. */
export function tempered(row: Row, T = 1): Float64Array {
  const out = new Float64Array(row.length);
  for (let i = 0; i < row.length; i++) out[i] = row[i] / T;
  return out;
}

/** log_softmax(row / T): [vocab] normalised log-probs (nats, float64). Throws if every entry is −Infinity. */
export function logProbsAt(name: string, row: Row, T = 1): Float64Array {
  const lp = logSoftmax(tempered(row, T));
  if (Number.isNaN(lp[0])) throw new Error(`${name}: a row has no finite entry (or contains NaN)`);
  return lp;
}

/** True when token `i` is −Infinity (removed) in any input row. */
export function removedInAny(rows: readonly Row[], i: number): boolean {
  for (const r of rows) if (r[i] === -Infinity) return true;
  return false;
}

/**
 * Final step shared by every preset: `scores` ([vocab] unnormalised log-scores, nats) → normalised
 * log-probs, in place. Tokens removed (−Infinity) in any input row are forced to −Infinity first — a
 * linear combination with a negative coefficient would otherwise turn them into +Infinity or NaN.
 * Throws if nothing finite is left.
 */
export function finish(name: string, scores: Float64Array, inputs: readonly Row[]): Float64Array {
  for (let i = 0; i < scores.length; i++) {
    if (removedInAny(inputs, i)) scores[i] = -Infinity;
    else if (Number.isNaN(scores[i])) throw new Error(`${name}: NaN score at token ${i}`);
  }
  const lse = logSumExp(scores);
  if (!Number.isFinite(lse)) throw new Error(`${name}: every token was removed (or a score overflowed)`);
  for (let i = 0; i < scores.length; i++) scores[i] -= lse;
  return scores;
}

/**
 * Relative-top / plausibility mask (Li et al. 2022 V_head; Chuang et al. 2023): token i is kept iff
 * p(i) ≥ α · max_w p(w), i.e. lp[i] ≥ ln α + max lp, for lp = [vocab] log-probs (nats). Returns [vocab] 1/0.
 * α ∈ [0, 1]; the argmax is always kept.
 */
export function relativeTopMask(lp: Float64Array, alpha: number): Uint8Array {
  if (!(alpha >= 0 && alpha <= 1)) throw new RangeError(`plausibility α must be in [0, 1], got ${alpha}`);
  let max = -Infinity;
  for (let i = 0; i < lp.length; i++) if (lp[i] > max) max = lp[i];
  const cut = max + Math.log(alpha); // nats; −Infinity when α = 0 (keep every finite token)
  const keep = new Uint8Array(lp.length);
  for (let i = 0; i < lp.length; i++) keep[i] = lp[i] > -Infinity && lp[i] >= cut ? 1 : 0;
  return keep;
}

/**
 * Jensen–Shannon divergence (nats) between two distributions given as [vocab] log-probs:
 *   JSD(P‖Q) = ½ KL(P‖M) + ½ KL(Q‖M),  M = ½ (P + Q);  0 ≤ JSD ≤ ln 2.  (0 · log 0 = 0.)
 */
export function jensenShannon(lpP: Float64Array, lpQ: Float64Array): number {
  if (lpP.length !== lpQ.length) throw new RangeError('jensenShannon: rows differ in length');
  let s = 0;
  for (let i = 0; i < lpP.length; i++) {
    const p = Math.exp(lpP[i]);
    const q = Math.exp(lpQ[i]);
    const m = 0.5 * (p + q);
    if (m === 0) continue;
    const lm = Math.log(m);
    if (p > 0) s += 0.5 * p * (lpP[i] - lm);
    if (q > 0) s += 0.5 * q * (lpQ[i] - lm);
  }
  return Math.max(0, s);
}
