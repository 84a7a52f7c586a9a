// Classifier-free guidance / context-aware decoding: contrast the row WITH the context against the
// row WITHOUT it, pushing the distribution further in the direction the context moves it.
//
//   Sanchez et al. 2023, "Stay on Topic with Classifier-Free Guidance":
//     log P̂(w_i | w_<i, c) = log P(w_i | w_<i) + γ · (log P(w_i | w_<i, c) − log P(w_i | w_<i))
//   Shi et al. 2023, "Trusting Your Evidence: Hallucinate Less with Context-aware Decoding" (CAD):
//     y_t ~ softmax[(1 + α) · logit(y_t | c, x, y_<t) − α · logit(y_t | x, y_<t)]
//
// With γ = 1 + α both are  (1 + α) · log p(x | c, q) − α · log p(x | q)  followed by a softmax. Using
// log-probs (Sanchez) or raw logits (Shi) gives the same normalised row: the per-row log-normaliser
// enters as a constant that the softmax cancels. We use log-probs. α = 0 returns the conditional row.
import { checkRows, finish, logProbsAt, resolveTemperatures, type CombinedRow, type Row } from './rows';

export interface CfgParams {
  /** Guidance strength α ≥ 0 (γ = 1 + α). Default 0.5 (CAD's usual α; γ = 1.5 in Sanchez et al.). */
  alpha?: number;
  /** Temperatures for [conditional, unconditional] (or one for both); default 1. */
  temperatures?: number | readonly number[];
}

/** rows: [conditional p(·|c,q), unconditional p(·|q)], each [vocab] logits. */
export function combineCfg(rows: readonly Row[], params: CfgParams = {}): CombinedRow {
  const name = 'cfg';
  const v = checkRows(name, rows, 2);
  const alpha = params.alpha ?? 0.5;
  if (!(alpha >= 0) || !Number.isFinite(alpha)) throw new RangeError(`${name}: alpha must be finite and ≥ 0, got ${alpha}`);
  const [tc, tu] = resolveTemperatures(name, params.temperatures, 2);
  const cond = logProbsAt(name, rows[0], tc);
  const uncond = logProbsAt(name, rows[1], tu);
  const scores = new Float64Array(v);
  for (let i = 0; i < v; i++) scores[i] = (1 + alpha) * cond[i] - alpha * uncond[i];
  return { logProbs: finish(name, scores, rows) };
}
