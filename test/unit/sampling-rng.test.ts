import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng, fnv1a32, seedToUint32, splitmix32State } from '../../src/core/sampling/rng';

// Known-answer vectors. They were produced by a C program (gcc, uint32_t arithmetic) built from
// Vigna's reference xoshiro128starstar.c `next()` plus the splitmix32 / FNV-1a steps exactly as written
// in the header of rng.ts — i.e. independently of this TypeScript code. The state-[1,2,3,4] sequence
// also matches published xoshiro128** test vectors.

test('xoshiro128** from state [1,2,3,4] matches the reference C implementation', () => {
  const r = Rng.fromState([1, 2, 3, 4]);
  const got = Array.from({ length: 6 }, () => r.nextUint32());
  assert.deepEqual(got, [11520, 0, 5927040, 70819200, 2031721883, 1637235492]);
});

test('splitmix32 seeding and first outputs match the reference C implementation', () => {
  const cases: [number, number[], number[]][] = [
    [0, [1684164658, 3653269916, 2939563536, 2141751570], [1789933344, 44971166, 2521387044, 3848737593]],
    [42, [551831576, 144025891, 322543647, 3034809370], [660444221, 3652823732, 77672526, 910233633]],
    [0xffffffff, [3950124170, 4293442868, 1302505678, 2762329221], [4104197751, 1825856343, 1152209388, 2427537429]],
  ];
  for (const [seed, state, out] of cases) {
    assert.deepEqual(splitmix32State(seed), state, `state for seed ${seed}`);
    const r = new Rng(seed);
    assert.deepEqual(r.state(), state);
    assert.deepEqual(Array.from({ length: 4 }, () => r.nextUint32()), out, `outputs for seed ${seed}`);
  }
});

test('string seeds hash with FNV-1a over UTF-8; negative seeds wrap mod 2^32', () => {
  assert.equal(fnv1a32('lens'), 691505389);
  const r = new Rng('lens');
  assert.deepEqual(Array.from({ length: 4 }, () => r.nextUint32()), [1584691616, 313443190, 2499347131, 4029652005]);
  assert.equal(fnv1a32(''), 0x811c9dc5);
  assert.equal(seedToUint32(-1), 0xffffffff);
  assert.equal(seedToUint32(2 ** 32 + 5), 5);
  assert.deepEqual(new Rng(-1).state(), new Rng(0xffffffff).state());
  assert.throws(() => new Rng(1.5), RangeError);
});

test('nextFloat: 53-bit value from two outputs, matches reference, stays in [0,1)', () => {
  // Reference C: ((next()>>5)*2^26 + (next()>>6)) / 2^53 for seed 42.
  assert.equal(new Rng(42).nextFloat(), 0.15377165265745885);
  const r = new Rng(7);
  let sum = 0;
  const n = 100_000;
  for (let i = 0; i < n; i++) {
    const u = r.nextFloat();
    assert.ok(u >= 0 && u < 1);
    sum += u;
  }
  // Mean of U[0,1) is 1/2 with standard error sqrt(1/12/n) ≈ 0.00091; 6 s.e. ≈ 0.0055.
  assert.ok(Math.abs(sum / n - 0.5) < 0.0055, `mean ${sum / n}`);
});

test('clone and fromState continue the same sequence independently', () => {
  const a = new Rng('x');
  for (let i = 0; i < 10; i++) a.nextUint32();
  const b = a.clone();
  const c = Rng.fromState(a.state());
  const seqA = Array.from({ length: 20 }, () => a.nextUint32());
  const seqB = Array.from({ length: 20 }, () => b.nextUint32());
  const seqC = Array.from({ length: 20 }, () => c.nextUint32());
  assert.deepEqual(seqB, seqA);
  assert.deepEqual(seqC, seqA);
  // Different seeds give different streams.
  const d = new Rng('y');
  const e = new Rng('x');
  assert.notDeepEqual(Array.from({ length: 4 }, () => d.nextUint32()), Array.from({ length: 4 }, () => e.nextUint32()));
});

test('all-zero state is replaced by a valid one', () => {
  const r = Rng.fromState([0, 0, 0, 0]);
  assert.deepEqual(r.state(), [1, 0, 0, 0]);
  const outs = Array.from({ length: 8 }, () => r.nextUint32());
  assert.ok(outs.some((x) => x !== 0));
});
