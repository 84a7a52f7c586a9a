// DoLa (Chuang et al. 2023, "DoLa: Decoding by Contrasting Layers Improves Factuality in LLMs").
// Rows are next-token logits read out (LM head applied) at the final layer N and at candidate
// premature layers j ∈ J. Per step:
//     M = argmax_{j ∈ J} JSD( q_N(·|x_<t) ‖ q_j(·|x_<t) )                       (dynamic layer choice)
//     F(x) = log q_N(x) − log q_M(x)   if q_N(x) ≥ α · max_w q_N(w),   −∞ otherwise  (relative-top mask)
//     p̂(x) = softmax(F)(x)
// JSD is over the whole vocabulary, in nats; ties in JSD → the earliest candidate. α default 0.1.
import { checkRows, finish, jensenShannon, logProbsAt, relativeTopMask, type CombinedRow, type Row } from './rows';

export interface DolaParams {
  /** Relative-top threshold α ∈ [0, 1]; default 0.1. */
  alpha?: number;
  /** Layer numbers of the premature rows (reported back); default 0, 1, … (their positions). */
  layers?: readonly number[];
}

/** rows: [final layer, premature candidate 1, …, premature candidate J], each [vocab] logits; J ≥ 1. */
export function combineDola(rows: readonly Row[], params: DolaParams = {}): CombinedRow {
  const name = 'dola';
  const v = checkRows(name, rows, 2, Infinity);
  const nPre = rows.length - 1;
  if (params.layers && params.layers.length !== nPre) throw new RangeError(`${name}: ${params.layers.length} layer numbers for ${nPre} premature rows`);
  const fin = logProbsAt(name, rows[0]);
  const jsd = new Float64Array(nPre);
  let best = 0;
  let bestLp = null as Float64Array | null;
  for (let j = 0; j < nPre; j++) {
    const lp = logProbsAt(name, rows[1 + j]);
    jsd[j] = jensenShannon(fin, lp);
    if (j === 0 || jsd[j] > jsd[best]) { best = j; bestLp = lp; }
  }
  const pre = bestLp as Float64Array;
  const head = relativeTopMask(fin, params.alpha ?? 0.1);
  const scores = new Float64Array(v);
  for (let i = 0; i < v; i++) scores[i] = head[i] ? fin[i] - pre[i] : -Infinity;
  // Only the final row and the chosen premature row take part in the −∞ rule of `finish`.
  return {
    logProbs: finish(name, scores, [rows[0], rows[1 + best]]),
    premature: { index: best, layer: params.layers ? params.layers[best] : best, jsd },
  };
}
