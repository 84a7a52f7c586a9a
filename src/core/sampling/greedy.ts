import type { Candidates, Sampler } from './sampler';
import { argmaxFinite } from './sampler';

/** Final sampler: selects the highest score; ties → lowest token id. Stateless, uses no randomness. */
export class GreedySampler implements Sampler {
  readonly name = 'greedy';
  apply(c: Candidates): void {
    const i = argmaxFinite(c.logits);
    if (i < 0) throw new Error('greedy: every candidate was removed');
    c.selected = i;
  }
  accept(_token: number): void {}
  reset(): void {}
  clone(): GreedySampler {
    return new GreedySampler();
  }
}
