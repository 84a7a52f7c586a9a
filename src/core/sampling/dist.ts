import { Rng, type RngState, type Seed } from './rng';
import type { Candidates, Sampler } from './sampler';

/**
 * Final sampler: draws a token from softmax(logits) over the tokens still present (float64 weights
 * exp(z_i − z_max)), by inverse CDF in ascending token-id order with one u = rng.nextFloat() ∈ [0, 1):
 * the first id whose cumulative weight exceeds u · Σ weights. Exactly ONE nextFloat() is consumed per
 * `apply` (even when only one token remains), so the RNG position depends only on the number of steps.
 * `reset()` rewinds the RNG to where this sampler started (like llama.cpp's dist reset re-seeding), so
 * a reset sampler repeats its draws; `clone()` copies both the start and the current position.
 */
export class DistSampler implements Sampler {
  readonly name: string;
  private rng: Rng;
  /** RNG state at construction, restored by reset(). */
  private readonly start: RngState;
  /** `seed` seeds a new Rng; an `Rng` is used as is (not copied) and its current position is the start. */
  constructor(seed: Seed | Rng = 0, name?: string) {
    this.rng = seed instanceof Rng ? seed : new Rng(seed);
    this.start = this.rng.state();
    this.name = name ?? (seed instanceof Rng ? 'dist' : `dist(seed=${JSON.stringify(seed)})`);
  }
  apply(c: Candidates): void {
    const z = c.logits;
    const u = this.rng.nextFloat();
    let max = -Infinity;
    for (let i = 0; i < z.length; i++) if (z[i] > max) max = z[i];
    if (max === -Infinity) throw new Error('dist: every candidate was removed');
    // One exp pass: weights kept for the cumulative scan (same values, same order as summing twice).
    const w = new Float64Array(z.length);
    let total = 0;
    for (let i = 0; i < z.length; i++) {
      if (z[i] > -Infinity) {
        w[i] = Math.exp(z[i] - max);
        total += w[i];
      }
    }
    c.lse = max + Math.log(total);
    const target = u * total;
    let cum = 0;
    let last = -1;
    for (let i = 0; i < z.length; i++) {
      if (!(z[i] > -Infinity)) continue;
      cum += w[i];
      last = i;
      if (cum > target) { c.selected = i; return; }
    }
    c.selected = last; // only reachable through rounding when u is within 2^-53 of 1
  }
  accept(_token: number): void {}
  /** Rewinds the RNG to its starting state. */
  reset(): void {
    this.rng = Rng.fromState(this.start);
  }
  clone(): DistSampler {
    const d = new DistSampler(Rng.fromState(this.start), this.name);
    d.rng = this.rng.clone();
    return d;
  }
}
