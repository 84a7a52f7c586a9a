import type { Candidates, Sampler } from './sampler';

/**
 * Processor (nucleus, Holtzman et al. 2020): with p = softmax(logits) over the tokens still present,
 * keeps the SMALLEST set of highest-probability tokens whose cumulative probability is ≥ topP (at least
 * one token); the rest become −Infinity. Ties in probability at the boundary → lower id kept first.
 * topP = 1 disables it.
 *
 * (HF's TopPLogitsWarper removes tokens whose ascending cumulative mass is ≤ 1 − topP; the two agree
 * except for exact float equality at the boundary.)
 *
 * Cost: one sort of the probabilities of the remaining tokens (native Float64Array sort), O(m log m)
 * for m remaining tokens; put top-k before it to make m small.
 */
export class TopPSampler implements Sampler {
  readonly name: string;
  constructor(readonly topP: number) {
    if (!(topP > 0 && topP <= 1)) throw new RangeError(`top-p must be in (0, 1], got ${topP}`);
    this.name = `top-p(${topP})`;
  }
  apply(c: Candidates): void {
    if (this.topP >= 1) return;
    const z = c.logits;
    const n = z.length;
    let max = -Infinity;
    let m = 0; // number of tokens still present
    for (let i = 0; i < n; i++) {
      if (z[i] > -Infinity) m++;
      if (z[i] > max) max = z[i];
    }
    if (m <= 1) return;
    // Unnormalised probabilities w_i = exp(z_i − max) ∈ (0, 1], float64.
    const w = new Float64Array(n);
    const sorted = new Float64Array(m);
    for (let i = 0, j = 0; i < n; i++) {
      if (z[i] > -Infinity) {
        w[i] = Math.exp(z[i] - max);
        sorted[j++] = w[i];
      }
    }
    sorted.sort(); // ascending, numeric
    // Total in descending order, so that the running sum below ends exactly at `total`.
    let total = 0;
    for (let j = m - 1; j >= 0; j--) total += sorted[j];
    const target = this.topP * total;
    let cum = 0;
    let keepCount = 0;
    let vStar = sorted[m - 1];
    for (let j = m - 1; j >= 0; j--) {
      cum += sorted[j];
      keepCount++;
      vStar = sorted[j];
      if (cum >= target) break;
    }
    // Keep every token with w > vStar, then tokens with w === vStar by ascending id until keepCount.
    let greater = 0;
    for (let j = m - 1; j >= 0 && sorted[j] > vStar; j--) greater++;
    let tiesLeft = keepCount - greater;
    for (let i = 0; i < n; i++) {
      if (!(z[i] > -Infinity)) continue;
      if (w[i] > vStar) continue;
      if (w[i] === vStar && tiesLeft > 0) { tiesLeft--; continue; }
      z[i] = -Infinity;
    }
  }
  accept(_token: number): void {}
  reset(): void {}
  clone(): TopPSampler {
    return new TopPSampler(this.topP);
  }
}
