// Product of Experts (Hinton 2002): p(x) ∝ Π_i p_i(x)^{w_i}.
import { checkRows, finish, logProbsAt, resolveTemperatures, tempered, type CombinedRow, type Row } from './rows';

export interface PoeParams {
  /** One weight per expert (finite; negative = "anti-expert"). Default: 1 for every expert. */
  weights?: readonly number[];
  /** Temperature T_i per expert (or one for all); default 1. */
  temperatures?: number | readonly number[];
  /**
   * 'logprobs' (default): log p(x) = Σ_i w_i · log_softmax(logits_i / T_i)(x) − log Z.
   * 'logits': the original course code — softmax(Σ_i w_i · logits_i / T_i) on the RAW logits (with the
   *   default weights 1 and one shared T: softmax(Σ_i logits_i / T)).
   * The two give the same normalised distribution for ANY weights (equal ones included):
   * log_softmax(z_i/T_i) = z_i/T_i − c_i with c_i = logsumexp(z_i/T_i) a per-row constant, so the
   * log-prob sum differs from the logit sum only by −Σ_i w_i c_i, which the final softmax cancels.
   * 'logprobs' is the default because each expert is normalised first (expert rows may sit at very
   * different logit offsets; the normalised terms are bounded above by 0).
   */
  combine?: 'logprobs' | 'logits';
}

/** rows: [experts] × [vocab] logits. Returns normalised log-probs ([vocab], float64, nats). */
export function combinePoe(rows: readonly Row[], params: PoeParams = {}): CombinedRow {
  const name = 'poe';
  const v = checkRows(name, rows, 1, Infinity);
  const n = rows.length;
  const weights = params.weights ? [...params.weights] : new Array<number>(n).fill(1);
  if (weights.length !== n) throw new RangeError(`${name}: ${weights.length} weights for ${n} experts`);
  for (const w of weights) if (!Number.isFinite(w)) throw new RangeError(`${name}: weights must be finite, got ${w}`);
  const temps = resolveTemperatures(name, params.temperatures, n);
  const mode = params.combine ?? 'logprobs';
  if (mode !== 'logprobs' && mode !== 'logits') throw new RangeError(`${name}: unknown combine mode ${String(mode)}`);
  const scores = new Float64Array(v);
  for (let e = 0; e < n; e++) {
    if (weights[e] === 0) continue; // 0 · (−∞) would be NaN; a zero-weight expert contributes nothing
    const term = mode === 'logits' ? tempered(rows[e], temps[e]) : logProbsAt(name, rows[e], temps[e]);
    const w = weights[e];
    for (let i = 0; i < v; i++) scores[i] += w * term[i];
  }
  return { logProbs: finish(name, scores, rows) };
}
