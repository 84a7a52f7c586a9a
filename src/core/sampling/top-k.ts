import { topK } from '../math';
import type { Candidates, Sampler } from './sampler';

/**
 * Processor: keeps the k highest-scoring tokens (ties at the boundary → lower id kept), the rest become
 * −Infinity. k = 0 disables it (as in HF and llama.cpp). Already-removed tokens stay removed.
 */
export class TopKSampler implements Sampler {
  readonly name: string;
  constructor(readonly k: number) {
    if (!Number.isInteger(k) || k < 0) throw new RangeError(`top-k must be an integer ≥ 0, got ${k}`);
    this.name = `top-k(${k})`;
  }
  apply(c: Candidates): void {
    const z = c.logits;
    if (this.k === 0 || this.k >= z.length) return;
    const keep = new Uint8Array(z.length);
    for (const i of topK(z, this.k)) keep[i] = 1;
    for (let i = 0; i < z.length; i++) if (!keep[i]) z[i] = -Infinity;
  }
  accept(_token: number): void {}
  reset(): void {}
  clone(): TopKSampler {
    return new TopKSampler(this.k);
  }
}
