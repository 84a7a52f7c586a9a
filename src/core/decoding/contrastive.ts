// Contrastive decoding (Li et al. 2022, "Contrastive Decoding: Open-ended Text Generation as Optimization"):
//     V_head = { x : p_EXP(x | x_<i) ≥ α · max_w p_EXP(w | x_<i) }                       (plausibility mask)
//     CD(x)  = log p_EXP(x | x_<i) − λ · log p_AMA(x | x_<i)   if x ∈ V_head,   −∞ otherwise
// The paper has λ = 1 and α = 0.1 (and an amateur temperature τ: `temperatures[1]`); λ ≠ 1 is the
// weighted form (cf. O'Brien & Lewis 2023, (1+β)·s_e − β·s_a, the same up to scale). The result is
// normalised with a softmax over V_head; its argmax is the paper's greedy CD choice.
import { checkRows, finish, logProbsAt, relativeTopMask, resolveTemperatures, type CombinedRow, type Row } from './rows';

export interface ContrastiveParams {
  /** Weight λ of the amateur (finite, ≥ 0); default 1. */
  lambda?: number;
  /** Plausibility threshold α ∈ [0, 1] relative to the expert's top probability; default 0.1. */
  alpha?: number;
  /** Temperatures for [expert, amateur] (or one for both); default 1. */
  temperatures?: number | readonly number[];
}

/** rows: [expert, amateur], each [vocab] logits. */
export function combineContrastive(rows: readonly Row[], params: ContrastiveParams = {}): CombinedRow {
  const name = 'contrastive';
  const v = checkRows(name, rows, 2);
  const lambda = params.lambda ?? 1;
  if (!(lambda >= 0) || !Number.isFinite(lambda)) throw new RangeError(`${name}: lambda must be finite and ≥ 0, got ${lambda}`);
  const [te, ta] = resolveTemperatures(name, params.temperatures, 2);
  const exp = logProbsAt(name, rows[0], te);
  const ama = logProbsAt(name, rows[1], ta);
  const head = relativeTopMask(exp, params.alpha ?? 0.1);
  const scores = new Float64Array(v);
  for (let i = 0; i < v; i++) scores[i] = head[i] ? exp[i] - lambda * ama[i] : -Infinity;
  return { logProbs: finish(name, scores, rows) };
}
