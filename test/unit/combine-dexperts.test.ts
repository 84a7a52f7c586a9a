import { test } from 'node:test';
import assert from 'node:assert/strict';
import { combineDExperts } from '../../src/core/decoding/dexperts';
import { softmax, probs, close } from '../helpers/rows';


test('dexperts: softmax(z + α(z⁺ − z⁻)) on a hand-checked row', () => {
  const base = Float32Array.from([1, 0, 0]);
  const expert = Float32Array.from([0, 2, 0]);
  const anti = Float32Array.from([0, 0, 2]);
  // α = 0.5: [1, 0 + 0.5·2, 0 − 0.5·2] = [1, 1, −1] → [e, e, e^−1] / 5.804443 = [0.468311, 0.468311, 0.063379]
  close(probs(combineDExperts([base, expert, anti], { alpha: 0.5 }).logProbs), [0.468311, 0.468311, 0.063379], 1e-6);
  // Default α = 2: [1, 4, −4]
  close(probs(combineDExperts([base, expert, anti]).logProbs), softmax([1, 4, -4]), 1e-12);
  // α = 0 → base.
  close(probs(combineDExperts([base, expert, anti], { alpha: 0 }).logProbs), softmax([1, 0, 0]), 1e-12);
});

test('dexperts: baseTopP restricts the ensemble to the base nucleus', () => {
  const base = Float32Array.from([3, 1, 0, 0]);
  // softmax(base) = [20.0855, 2.7183, 1, 1] / 24.8038 = [0.80978, 0.10959, 0.04032, 0.04032]
  // top-p 0.85: 0.80978 < 0.85 ≤ 0.91937 → nucleus {0, 1}
  const expert = Float32Array.from([0, 0, 0, 5]); // the expert likes token 3, outside the nucleus
  const anti = Float32Array.from([0, 1, 0, 0]);
  const out = combineDExperts([base, expert, anti], { alpha: 1, baseTopP: 0.85 }).logProbs;
  assert.equal(out[2], -Infinity);
  assert.equal(out[3], -Infinity);
  // Inside: [3 + (0 − 0), 1 + (0 − 1)] = [3, 0]
  close(probs(out).slice(0, 2), softmax([3, 0]), 1e-12);
  // Without the filter token 3 wins: [3, 0, 0, 5]
  close(probs(combineDExperts([base, expert, anti], { alpha: 1 }).logProbs), softmax([3, 0, 0, 5]), 1e-12);
  assert.throws(() => combineDExperts([base, expert, anti], { baseTopP: 0 }), RangeError);
  assert.throws(() => combineDExperts([base, expert]), RangeError);
});
