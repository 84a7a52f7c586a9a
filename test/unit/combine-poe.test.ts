import { test } from 'node:test';
import assert from 'node:assert/strict';
import { combinePoe } from '../../src/core/decoding/poe';
import { combineRows } from '../../src/core/decoding/combine';
import { Rng } from '../../src/core/sampling/rng';
import { softmax, probs, close } from '../helpers/rows';

// Independent reference: plain-number softmax.
function randomRow(r: Rng, v: number, scale = 4): Float32Array {
  return Float32Array.from({ length: v }, () => (r.nextFloat() - 0.5) * 2 * scale);
}

const A = Float32Array.from([1, 2, 3]);
const B = Float32Array.from([3, 0, 0]);

test('poe on a hand-checked pair', () => {
  // Σ logits = [4, 2, 3] ~ [0, −2, −1]: softmax = [1, e^−2, e^−1] / (1 + 0.135335 + 0.367879 = 1.503214)
  //   = [0.665241, 0.090031, 0.244728]
  close(probs(combinePoe([A, B]).logProbs), [0.665241, 0.090031, 0.244728], 1e-6);
  // Temperatures [2, 1]: A/2 + B = [3.5, 1, 1.5] ~ [2, −0.5, 0]:
  //   [7.389056, 0.606531, 1] / 8.995587 = [0.821409, 0.067425, 0.111166]
  close(probs(combinePoe([A, B], { temperatures: [2, 1] }).logProbs), [0.821409, 0.067425, 0.111166], 1e-6);
  // Weights [1, −0.5] (anti-expert B): A − B/2 = [−0.5, 2, 3]
  close(probs(combinePoe([A, B], { weights: [1, -0.5] }).logProbs), softmax([-0.5, 2, 3]), 1e-9);
});

test('PoE(A, A) with weights (0.5, 0.5) equals A; with (1, 1) equals A at half the temperature', () => {
  const r = new Rng(1);
  for (let k = 0; k < 5; k++) {
    const a = randomRow(r, 50);
    const za = Array.from(a);
    close(probs(combinePoe([a, a], { weights: [0.5, 0.5] }).logProbs), softmax(za), 1e-9, 'half weights');
    close(probs(combinePoe([a, a], { weights: [1, 1] }).logProbs), softmax(za.map((x) => x / 0.5)), 1e-9, 'unit weights');
    close(probs(combinePoe([a]).logProbs), softmax(za), 1e-9, 'single expert');
  }
});

test("'logits' mode (course code: softmax(Σ logits_i / T)) and 'logprobs' mode agree", () => {
  const r = new Rng('modes');
  for (let k = 0; k < 5; k++) {
    const rows = [randomRow(r, 40, 8), randomRow(r, 40, 3), randomRow(r, 40, 20)];
    rows[1] = rows[1].map((x) => x + 100); // a large logit offset must not matter
    const T = 0.7;
    const viaLogits = combinePoe(rows, { combine: 'logits', temperatures: T }).logProbs;
    const viaLogprobs = combinePoe(rows, { combine: 'logprobs', temperatures: T }).logProbs;
    // Course code written out: softmax(Σ_i logits_i / T).
    const course = softmax(Array.from({ length: 40 }, (_, i) => rows.reduce((s, row) => s + row[i], 0) / T));
    close(probs(viaLogits), course, 1e-9, 'logits mode = course code');
    close(Array.from(viaLogprobs), Array.from(viaLogits), 1e-9, 'logprobs mode = logits mode');
    // Also with unequal weights and per-expert temperatures.
    const p = { weights: [0.3, 1.7, -0.4], temperatures: [1, 0.5, 2] } as const;
    close(Array.from(combinePoe(rows, { ...p, combine: 'logprobs' }).logProbs), Array.from(combinePoe(rows, { ...p, combine: 'logits' }).logProbs), 1e-9, 'weighted');
  }
});

test('poe via combineRows, −∞ propagation, zero weights and validation', () => {
  assert.deepEqual(combineRows('poe', [A, B]).logProbs, combinePoe([A, B]).logProbs);
  // A token removed in any expert stays removed (even under a negative weight).
  const Bm = Float32Array.from([3, -Infinity, 0]);
  const out = combinePoe([A, Bm], { weights: [1, -1] }).logProbs;
  assert.equal(out[1], -Infinity);
  close(probs(out), [...softmax([1 - 3, 3 - 0]).slice(0, 1), 0, softmax([1 - 3, 3 - 0])[1]], 1e-9);
  // Weight 0 ignores that expert's values.
  close(probs(combinePoe([A, B], { weights: [1, 0] }).logProbs), softmax([1, 2, 3]), 1e-12);
  assert.throws(() => combinePoe([A, B], { weights: [1] }), RangeError);
  assert.throws(() => combinePoe([A, Float32Array.from([1, 2])]), /vocabularies must match/);
  assert.throws(() => combinePoe([A], { temperatures: 0 }), RangeError);
  assert.throws(() => combinePoe([]), RangeError);
});
