import type { Candidates, Sampler } from './sampler';

/**
 * Processor (min-p, Nguyen et al. 2024): keeps tokens with p_i ≥ minP · p_max, where p = softmax(logits)
 * of the row as it reaches this processor. Tested in log space: z_i − z_max ≥ ln(minP) (nats), so no
 * softmax is needed. minP = 0 disables it; the argmax is always kept.
 */
export class MinPSampler implements Sampler {
  readonly name: string;
  constructor(readonly minP: number) {
    if (!(minP >= 0 && minP <= 1)) throw new RangeError(`min-p must be in [0, 1], got ${minP}`);
    this.name = `min-p(${minP})`;
  }
  apply(c: Candidates): void {
    if (this.minP === 0) return;
    const z = c.logits;
    let max = -Infinity;
    for (let i = 0; i < z.length; i++) if (z[i] > max) max = z[i];
    if (max === -Infinity) return;
    const cut = max + Math.log(this.minP); // nats
    for (let i = 0; i < z.length; i++) if (z[i] < cut) z[i] = -Infinity;
  }
  accept(_token: number): void {}
  reset(): void {}
  clone(): MinPSampler {
    return new MinPSampler(this.minP);
  }
}
