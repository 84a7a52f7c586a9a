// One entry point for every way of combining experts' next-token rows into one distribution.
// Adding a method = one file exporting `combineX(rows, params): CombinedRow` + one line in PRESETS.
//
// All presets: rows are [vocab] logits (nats), all of the same vocabulary length. Log-probs work as well:
// every preset's output is unchanged when a constant is added to a whole input row. Output: CombinedRow.logProbs, a Float64Array [vocab] of normalised
// log-probs (nats; Σ exp = 1), −Infinity for tokens a preset masks and for tokens that are −Infinity in
// any contributing input row. Feed it to a sampler chain as logits (Float32Array.from(logProbs)).
import { combineContrastive, type ContrastiveParams } from './contrastive';
import { combineCfg, type CfgParams } from './cfg';
import { combineDExperts, type DExpertsParams } from './dexperts';
import { combineDola, type DolaParams } from './dola';
import { combinePoe, type PoeParams } from './poe';
import type { CombinedRow, Row } from './rows';

/** Params per preset; the row layout of each is in the comment. */
export interface PresetParams {
  /** rows: [expert_1, …, expert_n] */
  poe: PoeParams;
  /** rows: [conditional (with context), unconditional] */
  cfg: CfgParams;
  /** rows: [base, expert, anti-expert] */
  dexperts: DExpertsParams;
  /** rows: [expert, amateur] */
  contrastive: ContrastiveParams;
  /** rows: [final layer, premature candidate 1, …, J] */
  dola: DolaParams;
}
export type PresetName = keyof PresetParams;

export const PRESETS: { readonly [P in PresetName]: (rows: readonly Row[], params?: PresetParams[P]) => CombinedRow } = {
  poe: combinePoe,
  cfg: combineCfg,
  dexperts: combineDExperts,
  contrastive: combineContrastive,
  dola: combineDola,
};

/** Combine the experts' next-token rows ([rows] × [vocab] logits) with `preset`. */
export function combineRows<P extends PresetName>(preset: P, rows: readonly Row[], params?: PresetParams[P]): CombinedRow {
  const f = PRESETS[preset] as ((rows: readonly Row[], params?: PresetParams[P]) => CombinedRow) | undefined;
  if (!f) throw new RangeError(`unknown combination preset ${JSON.stringify(preset)} (known: ${Object.keys(PRESETS).join(', ')})`);
  return f(rows, params);
}
