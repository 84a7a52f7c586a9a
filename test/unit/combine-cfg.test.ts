import { test } from 'node:test';
import assert from 'node:assert/strict';
import { combineCfg } from '../../src/core/decoding/cfg';
import { Rng } from '../../src/core/sampling/rng';
import { softmax, probs, close } from '../helpers/rows';


test('cfg / CAD on a hand-checked row (Shi et al. logit form)', () => {
  const cond = Float32Array.from([2, 0, 0]);
  const uncond = Float32Array.from([0, 0, 1]);
  // α = 1: softmax(2·[2,0,0] − [0,0,1]) = softmax([4, 0, −1]) = [e^4, 1, e^−1] / 55.966029
  //   = [0.975559, 0.017868, 0.006573]
  close(probs(combineCfg([cond, uncond], { alpha: 1 }).logProbs), [0.975559, 0.017868, 0.006573], 1e-6);
  // α = 0 → the conditional row itself.
  close(probs(combineCfg([cond, uncond], { alpha: 0 }).logProbs), softmax([2, 0, 0]), 1e-12);
  // Default α = 0.5: softmax(1.5·cond − 0.5·uncond) = softmax([3, 0, −0.5]).
  close(probs(combineCfg([cond, uncond]).logProbs), softmax([3, 0, -0.5]), 1e-12);
});

test('cfg equals Sanchez et al. log P(w) + γ(log P(w|c) − log P(w)) with γ = 1 + α, on log-probs', () => {
  const r = new Rng('cfg');
  const row = () => Float32Array.from({ length: 30 }, () => (r.nextFloat() - 0.5) * 10);
  for (let k = 0; k < 4; k++) {
    const c = row();
    const u = row();
    const alpha = 0.25 + k;
    const gamma = 1 + alpha;
    const lsm = (z: Float32Array) => softmax(Array.from(z)).map(Math.log);
    const lc = lsm(c);
    const lu = lsm(u);
    const want = softmax(lu.map((x, i) => x + gamma * (lc[i] - x)));
    close(probs(combineCfg([c, u], { alpha }).logProbs), want, 1e-9);
  }
  assert.throws(() => combineCfg([Float32Array.from([1])]), RangeError);
  assert.throws(() => combineCfg([Float32Array.from([1]), Float32Array.from([1])], { alpha: -1 }), RangeError);
});
