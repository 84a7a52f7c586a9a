// Numeric helpers over one row of logits. Units: natural-log nats.

/** log Σ exp(x_i) over x[off, off+n). Stable (max-shifted). -Infinity for an all -Infinity row. */
export function logSumExp(x: Float32Array | Float64Array, off = 0, n = x.length - off): number {
  let m = -Infinity;
  for (let i = 0; i < n; i++) if (x[off + i] > m) m = x[off + i];
  if (m === -Infinity) return -Infinity;
  let s = 0;
  for (let i = 0; i < n; i++) s += Math.exp(x[off + i] - m);
  return m + Math.log(s);
}

/** Writes log_softmax(x[off..off+n)) into out[0..n) (float64 for accuracy); returns out. */
export function logSoftmax(x: Float32Array | Float64Array, off = 0, n = x.length - off, out = new Float64Array(n)): Float64Array {
  const lse = logSumExp(x, off, n);
  for (let i = 0; i < n; i++) out[i] = x[off + i] - lse;
  return out;
}

/** Entropy (nats) of the distribution whose log-probs are lp[0..n). */
export function entropyOfLogProbs(lp: Float64Array | Float32Array, n = lp.length): number {
  let h = 0;
  for (let i = 0; i < n; i++) {
    const l = lp[i];
    if (l > -Infinity) h -= Math.exp(l) * l;
  }
  return h;
}

/** 1-based rank of index `id` in row x[off..off+n): 1 + number of entries strictly greater. */
export function rankOf(x: Float32Array | Float64Array, id: number, off = 0, n = x.length - off): number {
  const v = x[off + id];
  let r = 1;
  for (let i = 0; i < n; i++) if (x[off + i] > v) r++;
  return r;
}

/** Indices of the k largest entries of x[off..off+n), largest first (ties: lower index first). */
export function topK(x: Float32Array | Float64Array, k: number, off = 0, n = x.length - off): number[] {
  k = Math.min(k, n);
  if (k <= 0) return [];
  const idx: number[] = [];
  // Keep a small sorted list; k is small (≤ ~100) compared with the vocabulary.
  for (let i = 0; i < n; i++) {
    const v = x[off + i];
    if (idx.length === k && v <= x[off + idx[k - 1]]) continue;
    let j = idx.length < k ? idx.length : k - 1;
    if (idx.length < k) idx.push(i);
    while (j > 0 && x[off + idx[j - 1]] < v) { idx[j] = idx[j - 1]; j--; }
    idx[j] = i;
  }
  return idx;
}
