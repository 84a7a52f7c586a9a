import { test } from 'node:test';
import assert from 'node:assert/strict';
import { combineDola } from '../../src/core/decoding/dola';
import { combineRows } from '../../src/core/decoding/combine';
import { jensenShannon } from '../../src/core/decoding/rows';
import { softmax, probs, close } from '../helpers/rows';

// Independent references on plain arrays.
function jsdRef(p: number[], q: number[]): number {
  let s = 0;
  for (let i = 0; i < p.length; i++) {
    const m = (p[i] + q[i]) / 2;
    if (p[i] > 0) s += 0.5 * p[i] * Math.log(p[i] / m);
    if (q[i] > 0) s += 0.5 * q[i] * Math.log(q[i] / m);
  }
  return s;
}

test('jensenShannon: 0 for equal rows, ln 2 for disjoint ones, matches the reference', () => {
  assert.equal(jensenShannon(Float64Array.from([0, -Infinity]), Float64Array.from([0, -Infinity])), 0);
  assert.ok(Math.abs(jensenShannon(Float64Array.from([0, -Infinity]), Float64Array.from([-Infinity, 0])) - Math.LN2) < 1e-15);
  const p = [0.5, 0.3, 0.2];
  const q = [0.1, 0.1, 0.8];
  assert.ok(Math.abs(jensenShannon(Float64Array.from(p, Math.log), Float64Array.from(q, Math.log)) - jsdRef(p, q)) < 1e-12);
});

test('dola picks the premature layer with the largest JSD and contrasts against it', () => {
  const final = [4, 3, 1, 0, -2];
  const near = [4, 2.9, 1.1, 0, -2]; // almost the final row
  const far = [0, 0, 3, 3, 3]; // most divergent, constructed in the middle of the list
  const mid = [3, 3, 1, 0, -2];
  const rows = [final, near, far, mid].map((r) => Float32Array.from(r));
  const res = combineDola(rows, { layers: [2, 6, 10] });
  assert.equal(res.premature?.index, 1);
  assert.equal(res.premature?.layer, 6);
  const qN = softmax(final);
  const want = [near, far, mid].map((r) => jsdRef(qN, softmax(r)));
  close(Array.from(res.premature!.jsd), want, 1e-9);
  assert.ok(want[1] > want[0] && want[1] > want[2]);
  // Output: relative-top mask on q_N with α = 0.1, then log q_N − log q_far, softmaxed.
  const max = Math.max(...qN);
  const qM = softmax(far);
  const F = qN.map((p, i) => (p >= 0.1 * max ? Math.log(p) - Math.log(qM[i]) : -Infinity));
  // q_N ≈ [0.7037, 0.2589, 0.0350, 0.0129, 0.0017]; bar 0.0704 → V_head = {0, 1}
  assert.deepEqual(F.map((x) => x > -Infinity), [true, true, false, false, false]);
  const fin = F.filter((x) => x > -Infinity);
  const expect = [...softmax(fin), 0, 0, 0];
  close(probs(res.logProbs), expect, 1e-9);
  assert.equal(res.logProbs[4], -Infinity);
  // Without layer numbers the index is reported as the layer; combineRows dispatches the same way.
  assert.equal(combineRows('dola', rows).premature?.layer, 1);
  // Moving the divergent row changes the choice accordingly.
  assert.equal(combineDola([rows[0], rows[2], rows[1], rows[3]]).premature?.index, 0);
  // α = 0.01 widens the head: bar 0.0070 → {0, 1, 2, 3}.
  const wide = combineDola(rows, { alpha: 0.01 }).logProbs;
  assert.deepEqual(Array.from(wide, (x) => x > -Infinity), [true, true, true, true, false]);
  assert.throws(() => combineDola([rows[0]]), RangeError);
  assert.throws(() => combineDola(rows, { layers: [1] }), RangeError);
});
