// Confidence intervals for the experiment reports: Wilson score intervals for proportions and
// seeded percentile-bootstrap intervals for means (deterministic for a given Rng).
import { Rng } from '../core/sampling/rng';

/** 1.96: the two-sided 95% normal quantile. */
export const Z95 = 1.959963984540054;

export interface Interval {
  lo: number;
  hi: number;
}

/** Wilson score interval for k successes out of n (Wilson 1927); [0, 1] when n = 0. */
export function wilson(k: number, n: number, z = Z95): Interval {
  if (n === 0) return { lo: 0, hi: 1 };
  const p = k / n;
  const z2 = z * z;
  const den = 1 + z2 / n;
  const centre = (p + z2 / (2 * n)) / den;
  const half = (z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / den;
  return { lo: k === 0 ? 0 : Math.max(0, centre - half), hi: k === n ? 1 : Math.min(1, centre + half) };
}

export function mean(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  let s = 0;
  for (const x of xs) s += x;
  return s / xs.length;
}

/** Percentile bootstrap interval of the mean (B resamples drawn with `rng`). One value: [x, x]. */
export function bootstrapMean(xs: readonly number[], rng: Rng, B = 2000, level = 0.95): Interval {
  const n = xs.length;
  if (n === 0) return { lo: NaN, hi: NaN };
  if (n === 1) return { lo: xs[0], hi: xs[0] };
  const means = new Float64Array(B);
  for (let b = 0; b < B; b++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += xs[Math.floor(rng.nextFloat() * n)];
    means[b] = s / n;
  }
  means.sort();
  const a = (1 - level) / 2;
  return { lo: means[Math.floor(a * (B - 1))], hi: means[Math.ceil((1 - a) * (B - 1))] };
}

/** Mean with a bootstrap 95% interval, as one record. */
export function meanCI(xs: readonly number[], rng: Rng): { mean: number; lo: number; hi: number; n: number } {
  const ci = bootstrapMean(xs, rng);
  return { mean: mean(xs), lo: ci.lo, hi: ci.hi, n: xs.length };
}

/** Proportion with its Wilson 95% interval, as one record. */
export function rateCI(k: number, n: number): { rate: number; lo: number; hi: number; k: number; n: number } {
  const ci = wilson(k, n);
  return { rate: n ? k / n : NaN, lo: ci.lo, hi: ci.hi, k, n };
}
