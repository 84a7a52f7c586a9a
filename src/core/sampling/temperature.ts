import type { Candidates, Sampler } from './sampler';
import { argmaxFinite } from './sampler';

/**
 * Processor: logits ← logits / T (nats → nats at temperature T; softmax(z/T)).
 * T = 0 means greedy: every token except the argmax (ties → lowest id) becomes −Infinity, so any final
 * sampler after it (dist included) picks that token deterministically. T = 1 is a no-op.
 */
export class TemperatureSampler implements Sampler {
  readonly name: string;
  constructor(readonly temperature: number) {
    if (!(temperature >= 0) || !Number.isFinite(temperature)) throw new RangeError(`temperature must be finite and ≥ 0, got ${temperature}`);
    this.name = `temperature(${temperature})`;
  }
  apply(c: Candidates): void {
    const z = c.logits;
    if (this.temperature === 0) {
      const best = argmaxFinite(z);
      if (best < 0) return;
      for (let i = 0; i < z.length; i++) if (i !== best) z[i] = -Infinity;
      return;
    }
    if (this.temperature === 1) return;
    const inv = 1 / this.temperature;
    for (let i = 0; i < z.length; i++) if (z[i] > -Infinity) z[i] *= inv;
  }
  accept(_token: number): void {}
  reset(): void {}
  clone(): TemperatureSampler {
    return new TemperatureSampler(this.temperature);
  }
}
