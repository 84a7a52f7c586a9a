import { test } from 'node:test';
import assert from 'node:assert/strict';
import { combineContrastive } from '../../src/core/decoding/contrastive';

const logs = (p: number[]) => Float32Array.from(p, Math.log);
const probs = (lp: Float64Array) => Array.from(lp, Math.exp);
function close(a: number[], b: number[], tol = 1e-6) {
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= tol, `[${i}] ${a[i]} vs ${b[i]}`);
}

test('contrastive: log p_e − λ log p_a over the plausible set (hand-checked)', () => {
  const expert = logs([0.5, 0.3, 0.15, 0.05]);
  const amateur = logs([0.7, 0.1, 0.1, 0.1]);
  // α = 0.2: bar 0.2·0.5 = 0.1 → V_head = {0, 1, 2} (0.05 < 0.1).
  // λ = 1: ratios p_e/p_a = [0.714286, 3, 1.5], sum 5.214286 → [0.136986, 0.575342, 0.287671, 0]
  const out = combineContrastive([expert, amateur], { alpha: 0.2 }).logProbs;
  assert.equal(out[3], -Infinity);
  close(probs(out), [0.136986, 0.575342, 0.287671, 0]);
  // λ = 0.5: p_e / sqrt(p_a) = [0.597614, 0.948683, 0.474342], sum 2.020639 → normalised
  const w = [0.5 / Math.sqrt(0.7), 0.3 / Math.sqrt(0.1), 0.15 / Math.sqrt(0.1)];
  const s = w[0] + w[1] + w[2];
  close(probs(combineContrastive([expert, amateur], { alpha: 0.2, lambda: 0.5 }).logProbs), [w[0] / s, w[1] / s, w[2] / s, 0]);
});

test('contrastive: the plausibility mask removes an implausible token with the best raw CD score', () => {
  const expert = logs([0.9, 0.095, 0.005]);
  const amateur = logs([0.949, 0.05, 0.001]);
  // Raw CD scores: ln(0.9/0.949) = −0.053, ln(0.095/0.05) = 0.642, ln(0.005/0.001) = 1.609.
  // Default α = 0.1: bar 0.09 → token 2 (0.005) is masked; best is token 1.
  const masked = combineContrastive([expert, amateur]).logProbs;
  assert.equal(masked[2], -Infinity);
  assert.ok(masked[1] > masked[0]);
  // Ratios over {0,1}: [0.948367, 1.9] → [0.332947, 0.667053]
  close(probs(masked), [0.948367 / 2.848367, 1.9 / 2.848367, 0]);
  // α = 0 disables the mask and token 2 wins.
  const open = combineContrastive([expert, amateur], { alpha: 0 }).logProbs;
  assert.ok(open[2] > open[1] && open[2] > open[0]);
  // Default α with p = [0.5, 0.3, 0.17, 0.03]: bar 0.05 → only token 3 masked.
  const m2 = combineContrastive([logs([0.5, 0.3, 0.17, 0.03]), logs([0.25, 0.25, 0.25, 0.25])]).logProbs;
  assert.deepEqual(Array.from(m2, (x) => x > -Infinity), [true, true, true, false]);
  // Amateur uniform → CD = expert renormalised over V_head.
  close(probs(m2), [0.5 / 0.97, 0.3 / 0.97, 0.17 / 0.97, 0]);
  assert.throws(() => combineContrastive([expert, amateur], { alpha: 2 }), RangeError);
});
