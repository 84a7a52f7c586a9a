// Small statistics helpers for distribution tests.

/** Upper-tail critical value of χ²(df) at significance `alpha` (Wilson–Hilferty approximation). */
export function chiSquareCritical(df: number, alpha: number): number {
  // z for the upper tail via a rational approximation of the normal quantile (Acklam's, |err| < 1e-8 here).
  const p = 1 - alpha;
  const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
  const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
  const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  let z: number;
  if (p > 0.97575) {
    const q = Math.sqrt(-2 * Math.log(1 - p));
    z = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else {
    const q = p - 0.5;
    const r = q * q;
    z = ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  }
  const h = 2 / (9 * df);
  return df * Math.pow(1 - h + z * Math.sqrt(h), 3);
}

/**
 * Pearson χ² of observed counts against expected probabilities; categories with expected count < 5
 * are pooled into one bin. Returns the statistic and degrees of freedom.
 */
export function chiSquare(counts: ArrayLike<number>, probs: ArrayLike<number>): { stat: number; df: number } {
  let n = 0;
  for (let i = 0; i < counts.length; i++) n += counts[i];
  let stat = 0;
  let bins = 0;
  let poolO = 0;
  let poolE = 0;
  for (let i = 0; i < probs.length; i++) {
    const e = probs[i] * n;
    if (e < 5) {
      poolO += counts[i];
      poolE += e;
      continue;
    }
    stat += (counts[i] - e) ** 2 / e;
    bins++;
  }
  if (poolE > 0) {
    stat += (poolO - poolE) ** 2 / Math.max(poolE, 1e-12);
    bins++;
  }
  return { stat, df: bins - 1 };
}
