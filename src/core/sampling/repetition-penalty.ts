import type { Candidates, Sampler } from './sampler';

/**
 * Processor: repetition penalty (Keskar et al. 2019, CTRL; HF RepetitionPenaltyLogitsProcessor semantics).
 * For every DISTINCT token seen so far (a token seen twice is penalised once, as in HF's gather/scatter):
 *   logit > 0 → logit / penalty;   logit ≤ 0 → logit · penalty        (penalty > 1 discourages repeats)
 * "Seen" = every token passed to `accept`. HF counts the whole input_ids, prompt included; to match,
 * feed the prompt tokens through `accept` (see `acceptTokens`) before the first step, then accept each
 * generated token. penalty = 1 is a no-op. Token ids outside the row are ignored.
 */
export class RepetitionPenaltySampler implements Sampler {
  readonly name: string;
  private seen: Set<number>;
  constructor(readonly penalty: number, seen: Iterable<number> = []) {
    if (!(penalty > 0) || !Number.isFinite(penalty)) throw new RangeError(`repetition penalty must be finite and > 0, got ${penalty}`);
    this.name = `repetition-penalty(${penalty})`;
    this.seen = new Set(seen);
  }
  /** Distinct tokens seen so far, in first-seen order. */
  seenTokens(): number[] {
    return [...this.seen];
  }
  apply(c: Candidates): void {
    if (this.penalty === 1) return;
    const z = c.logits;
    for (const t of this.seen) {
      if (t < 0 || t >= z.length) continue;
      const v = z[t];
      if (v === -Infinity) continue;
      z[t] = v > 0 ? v / this.penalty : v * this.penalty;
    }
  }
  accept(token: number): void {
    this.seen.add(token);
  }
  reset(): void {
    this.seen.clear();
  }
  clone(): RepetitionPenaltySampler {
    return new RepetitionPenaltySampler(this.penalty, this.seen);
  }
}
