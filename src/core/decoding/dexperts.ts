// DExperts (Liu et al. 2021, "DExperts: Decoding-Time Controlled Text Generation with Experts and
// Anti-Experts"), on raw logits as in the paper:
//     P̃(X_t | x_<t) = softmax( z_t + α · (z⁺_t − z⁻_t) )
// z = base LM logits, z⁺ = expert (desirable attribute), z⁻ = anti-expert (undesirable attribute).
// The authors' code optionally first restricts the base row to its top-p nucleus (`filter_p`, 0.9 in
// their scripts): tokens outside it are −∞ in the ensemble. That is `baseTopP` here (default 1 = off).
import { TopPSampler } from '../sampling/top-p';
import { checkRows, finish, resolveTemperatures, tempered, type CombinedRow, type Row } from './rows';

export interface DExpertsParams {
  /** Steering strength α (finite; default 2, the paper's detoxification setting). */
  alpha?: number;
  /** Nucleus mass in (0, 1] applied to the (tempered) base row before ensembling; default 1 (no filter). */
  baseTopP?: number;
  /** Temperatures for [base, expert, anti-expert] (or one for all); default 1. */
  temperatures?: number | readonly number[];
}

/** rows: [base, expert, anti-expert], each [vocab] logits. */
export function combineDExperts(rows: readonly Row[], params: DExpertsParams = {}): CombinedRow {
  const name = 'dexperts';
  const v = checkRows(name, rows, 3);
  const alpha = params.alpha ?? 2;
  if (!Number.isFinite(alpha)) throw new RangeError(`${name}: alpha must be finite, got ${alpha}`);
  const [tb, te, ta] = resolveTemperatures(name, params.temperatures, 3);
  const base = tempered(rows[0], tb);
  const expert = tempered(rows[1], te);
  const anti = tempered(rows[2], ta);
  const baseTopP = params.baseTopP ?? 1;
  let keep: Float32Array | null = null;
  const nucleus = new TopPSampler(baseTopP); // validates baseTopP ∈ (0, 1]
  if (baseTopP < 1) {
    const c = { logits: Float32Array.from(base), selected: -1 };
    nucleus.apply(c);
    keep = c.logits;
  }
  const scores = new Float64Array(v);
  for (let i = 0; i < v; i++) {
    scores[i] = keep && keep[i] === -Infinity ? -Infinity : base[i] + alpha * (expert[i] - anti[i]);
  }
  return { logProbs: finish(name, scores, rows) };
}
