import { test } from 'node:test';
import assert from 'node:assert/strict';
import { combineRows, PRESETS, type PresetName } from '../../src/core/decoding/combine';
import { Rng } from '../../src/core/sampling/rng';

const V = 64;
function randomRows(seed: string, n: number): Float32Array[] {
  const r = new Rng(seed);
  return Array.from({ length: n }, () => Float32Array.from({ length: V }, () => (r.nextFloat() - 0.5) * 12));
}
const CASES: [PresetName, number, object][] = [
  ['poe', 3, { weights: [1, 0.5, -0.3], temperatures: [1, 0.7, 1.3] }],
  ['poe', 2, { combine: 'logits' }],
  ['cfg', 2, { alpha: 1.5 }],
  ['dexperts', 3, { alpha: 2, baseTopP: 0.9 }],
  ['contrastive', 2, {}],
  ['dola', 4, {}],
];

test('every preset returns normalised log-probs: Σ exp = 1, no NaN, no +∞', () => {
  for (const [preset, n, params] of CASES) {
    const out = combineRows(preset, randomRows(preset, n), params as never).logProbs;
    assert.ok(out instanceof Float64Array && out.length === V);
    let s = 0;
    for (const x of out) {
      assert.ok(!Number.isNaN(x) && x < Infinity && x <= 1e-12, `${preset}: bad entry ${x}`);
      s += Math.exp(x);
    }
    assert.ok(Math.abs(s - 1) < 1e-12, `${preset}: Σ p = ${s}`);
  }
});

test('every preset is invariant to adding a constant to a whole input row', () => {
  for (const [preset, n, params] of CASES) {
    const rows = randomRows(`shift-${preset}`, n);
    const shifted = rows.map((r, k) => r.map((x) => x + 3 * (k + 1) - 5));
    const a = combineRows(preset, rows, params as never).logProbs;
    const b = combineRows(preset, shifted, params as never).logProbs;
    for (let i = 0; i < V; i++) {
      if (a[i] === -Infinity) assert.equal(b[i], -Infinity, `${preset} [${i}]`);
      else assert.ok(Math.abs(a[i] - b[i]) < 1e-5, `${preset} [${i}]: ${a[i]} vs ${b[i]}`); // float32 inputs
    }
  }
});

test('a token removed (−∞) in a contributing input row is removed in the output', () => {
  for (const [preset, n, params] of CASES) {
    const rows = randomRows(`mask-${preset}`, n);
    // Make token 5 the favourite of row 0 (random entries lie in ±6), then remove it from the last row
    // (for DoLa from every premature row, so the chosen one certainly lacks it).
    rows[0][5] = 8;
    for (let k = preset === 'dola' ? 1 : n - 1; k < n; k++) rows[k][5] = -Infinity;
    const out = combineRows(preset, rows, params as never).logProbs;
    assert.equal(out[5], -Infinity, preset);
    assert.ok(out.some((x) => x > -Infinity), preset);
  }
});

test('combineRows dispatches to the registered preset and rejects unknown names', () => {
  for (const [preset, n, params] of CASES) {
    const rows = randomRows(`dispatch-${preset}`, n);
    assert.deepEqual(combineRows(preset, rows, params as never), PRESETS[preset](rows, params as never));
  }
  assert.throws(() => combineRows('nope' as PresetName, randomRows('x', 2)), /unknown combination preset/);
  assert.throws(() => combineRows('cfg', [Float32Array.from([1, 2]), Float32Array.from([1, 2, 3])]), /vocabularies must match/);
  assert.throws(() => combineRows('poe', [Float32Array.from([-Infinity, -Infinity])]), /no finite entry/);
});
