import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  SamplerChain, makeCandidates, sampleToken, acceptTokens, type Sampler,
  TemperatureSampler, TopKSampler, TopPSampler, MinPSampler, RepetitionPenaltySampler,
  GreedySampler, DistSampler, buildSamplerChain,
} from '../../src/core/sampling/index';

const NEG = -Infinity;

/** Runs one processor on a copy of `row`; returns the edited row as a plain array. */
function run(s: Sampler, row: number[]): number[] {
  const c = makeCandidates(Float32Array.from(row));
  s.apply(c);
  return Array.from(c.logits);
}
/** Ids still present (finite) in a row. */
const kept = (row: number[]) => row.flatMap((v, i) => (v > NEG ? [i] : []));

// The hand-checked row. softmax([2,1,0,-1]):
//   e^2 = 7.389056, e^1 = 2.718282, e^0 = 1, e^-1 = 0.367879; sum = 11.475217
//   p ≈ [0.643914, 0.236883, 0.087144, 0.032059]; cumulative ≈ [0.6439, 0.8808, 0.9679, 1]
const ROW = [2, 1, 0, -1];

test('top-k keeps the k best, ties → lower id; k=0 is off; kept values unchanged', () => {
  assert.deepEqual(run(new TopKSampler(2), ROW), [2, 1, NEG, NEG]);
  assert.deepEqual(kept(run(new TopKSampler(3), ROW)), [0, 1, 2]);
  assert.deepEqual(run(new TopKSampler(0), ROW), ROW);
  assert.deepEqual(run(new TopKSampler(9), ROW), ROW);
  assert.deepEqual(kept(run(new TopKSampler(2), [1, 1, 1, 0])), [0, 1]);
  assert.deepEqual(kept(run(new TopKSampler(2), [0, 5, 0, 5, 5])), [1, 3]);
});

test('top-p keeps the smallest prefix with cumulative prob ≥ p (hand-computed)', () => {
  // p=0.7: 0.6439 < 0.7 ≤ 0.8808 → {0,1}
  assert.deepEqual(run(new TopPSampler(0.7), ROW), [2, 1, NEG, NEG]);
  // p=0.9: 0.8808 < 0.9 ≤ 0.9679 → {0,1,2}
  assert.deepEqual(kept(run(new TopPSampler(0.9), ROW)), [0, 1, 2]);
  // p=0.5: 0.6439 ≥ 0.5 already → {0}
  assert.deepEqual(kept(run(new TopPSampler(0.5), ROW)), [0]);
  // p=0.99: 0.9679 < 0.99 → all four
  assert.deepEqual(kept(run(new TopPSampler(0.99), ROW)), [0, 1, 2, 3]);
  assert.deepEqual(run(new TopPSampler(1), ROW), ROW);
  // Tiny p still keeps one token.
  assert.deepEqual(kept(run(new TopPSampler(1e-9), ROW)), [0]);
  // Already-removed tokens are excluded from the mass: same answers with −∞ interleaved.
  assert.deepEqual(kept(run(new TopPSampler(0.7), [NEG, 2, NEG, 1, 0, -1])), [1, 3]);
  assert.deepEqual(kept(run(new TopPSampler(0.9), [NEG, 2, NEG, 1, 0, -1])), [1, 3, 4]);
  // Ties: four equal tokens (0.25 each); p=0.5 is reached after exactly two → lowest ids {0,1}.
  assert.deepEqual(kept(run(new TopPSampler(0.5), [3, 3, 3, 3])), [0, 1]);
  // p=0.6 needs a third of the tied tokens → {0,1,2}
  assert.deepEqual(kept(run(new TopPSampler(0.6), [3, 3, 3, 3])), [0, 1, 2]);
});

test('min-p keeps p ≥ min_p · p_max (hand-computed)', () => {
  // min_p=0.3: bar = 0.3·0.643914 = 0.193174 → 0.236883 passes, 0.087144 fails → {0,1}
  assert.deepEqual(run(new MinPSampler(0.3), ROW), [2, 1, NEG, NEG]);
  // min_p=0.1: bar = 0.064391 → {0,1,2} (0.032059 fails)
  assert.deepEqual(kept(run(new MinPSampler(0.1), ROW)), [0, 1, 2]);
  // min_p=0.5: bar = 0.321957 → {0}
  assert.deepEqual(kept(run(new MinPSampler(0.5), ROW)), [0]);
  // min_p=0.04: bar = 0.025757 → all
  assert.deepEqual(kept(run(new MinPSampler(0.04), ROW)), [0, 1, 2, 3]);
  assert.deepEqual(run(new MinPSampler(0), ROW), ROW);
  assert.deepEqual(kept(run(new MinPSampler(1), [1, 4, 4, 2])), [1, 2]);
});

test('temperature divides logits; T=0 keeps only the argmax (ties → lowest id)', () => {
  assert.deepEqual(run(new TemperatureSampler(2), ROW), [1, 0.5, 0, -0.5]);
  assert.deepEqual(run(new TemperatureSampler(0.5), [2, NEG, -1]), [4, NEG, -2]);
  assert.deepEqual(run(new TemperatureSampler(1), ROW), ROW);
  assert.deepEqual(run(new TemperatureSampler(0), [1, 3, 3, NEG]), [NEG, 3, NEG, NEG]);
  assert.throws(() => new TemperatureSampler(-1), RangeError);
});

test('repetition penalty: positive ÷ penalty, negative × penalty, once per distinct seen token', () => {
  const rp = new RepetitionPenaltySampler(2);
  acceptTokens(rp, [0, 1, 1, 3]); // token 1 seen twice: still penalised once
  // [2, -1, 0.5, -0.5] → token0: 2/2 = 1; token1: -1·2 = -2; token2 unseen 0.5; token3: -0.5·2 = -1
  assert.deepEqual(run(rp, [2, -1, 0.5, -0.5]), [1, -2, 0.5, -1]);
  // Zero logit stays 0 (0 · penalty); removed stays removed; out-of-range ids ignored.
  rp.accept(2); rp.accept(99);
  assert.deepEqual(run(rp, [0, NEG, 0, 4]), [0, NEG, 0, 2]);
  const copy = rp.clone();
  rp.reset();
  assert.deepEqual(run(rp, [2, -1, 0.5, -0.5]), [2, -1, 0.5, -0.5]);
  // The clone still has {0,1,3,2}: token 2 (0.5 > 0) is now also divided → 0.25.
  assert.deepEqual(run(copy, [2, -1, 0.5, -0.5]), [1, -2, 0.25, -1], 'clone keeps the seen set after the original resets');
  assert.deepEqual(run(new RepetitionPenaltySampler(1, [0]), ROW), ROW);
});

test('greedy picks the argmax, ties → lowest id, ignores removed tokens', () => {
  const g = new GreedySampler();
  const c = makeCandidates(Float32Array.from([0, 2, 5, 5, NEG]));
  g.apply(c);
  assert.equal(c.selected, 2);
  const d = makeCandidates(Float32Array.from([NEG, -3, NEG]));
  g.apply(d);
  assert.equal(d.selected, 1);
  assert.throws(() => g.apply(makeCandidates(Float32Array.from([NEG, NEG]))));
});

// A toy deterministic "model": next-token logits over V=32 depend on the previous token.
const V = 32;
function toyLogits(prev: number): Float32Array {
  const z = new Float32Array(V);
  for (let i = 0; i < V; i++) z[i] = 3 * Math.sin(i * 1.7 + prev * 0.3) + 0.05 * ((i * 7 + prev) % 5);
  return z;
}
function generate(s: Sampler, n: number, prev = 0): number[] {
  const out: number[] = [];
  for (let t = 0; t < n; t++) {
    prev = sampleToken(s, toyLogits(prev)); // applies and accepts
    out.push(prev);
  }
  return out;
}

test('same seed ⇒ identical sequence; different seeds differ', () => {
  const opts = { temperature: 1.3, topK: 20, topP: 0.95, minP: 0.01, repetitionPenalty: 1.2 };
  const a = generate(buildSamplerChain({ ...opts, seed: 1234 }), 64);
  const b = generate(buildSamplerChain({ ...opts, seed: 1234 }), 64);
  const c = generate(buildSamplerChain({ ...opts, seed: 1235 }), 64);
  const d = generate(buildSamplerChain({ ...opts, seed: 'abc' }), 64);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  assert.notDeepEqual(a, d);
  assert.ok(new Set(a).size > 5, 'the toy setup actually samples, not a constant');
});

test('clone reproduces the continuation from the same state (RNG and penalty history)', () => {
  const s = buildSamplerChain({ temperature: 1.5, repetitionPenalty: 1.5, seed: 9 });
  acceptTokens(s, [1, 2, 3]); // prompt tokens
  const head = generate(s, 20);
  const snap = s.clone();
  const cont = generate(s, 40, head[head.length - 1]);
  generate(s, 10, 0); // advancing the original must not disturb the clone
  assert.deepEqual(generate(snap, 40, head[head.length - 1]), cont);
  // A fresh chain with the same seed but without the prompt history gives a different run (the penalty matters).
  const fresh = buildSamplerChain({ temperature: 1.5, repetitionPenalty: 1.5, seed: 9 });
  assert.notDeepEqual(generate(fresh, 20), head);
});

test('T=0 is greedy and deterministic regardless of seed and of the other options', () => {
  const want: number[] = [];
  let prev = 0;
  for (let t = 0; t < 30; t++) {
    // Independent greedy: plain loop argmax, ties → lowest id.
    const z = toyLogits(prev);
    let best = 0;
    for (let i = 1; i < V; i++) if (z[i] > z[best]) best = i;
    want.push(best);
    prev = best;
  }
  for (const seed of [0, 1, 'q']) {
    assert.deepEqual(generate(buildSamplerChain({ temperature: 0, topK: 5, topP: 0.5, minP: 0.2, seed }), 30), want);
    // Hand-built chain: temperature(0) then dist must also collapse onto the argmax.
    assert.deepEqual(generate(new SamplerChain([new TemperatureSampler(0), new DistSampler(seed)]), 30), want);
  }
  // Ties: lowest id.
  assert.equal(sampleToken(buildSamplerChain({ temperature: 0 }), Float32Array.from([1, 4, 4])), 1);
  assert.equal(sampleToken(new SamplerChain([new TemperatureSampler(0), new DistSampler(3)]), Float32Array.from([1, 4, 4])), 1);
});

test('reset starts over: forgets accepted tokens and rewinds the RNG', () => {
  const s = buildSamplerChain({ temperature: 1.2, repetitionPenalty: 1.4, seed: 5 });
  acceptTokens(s, [4, 5]);
  const first = generate(s, 30);
  generate(s, 7);
  s.reset();
  acceptTokens(s, [4, 5]);
  assert.deepEqual(generate(s, 30), first);
  // Without re-feeding the prompt the penalty history differs, so (for this seed) the run differs.
  s.reset();
  assert.notDeepEqual(generate(s, 30), first);
});

test('a chain of chains behaves like the flat chain (apply order, accept, clone)', () => {
  const flat = new SamplerChain([new RepetitionPenaltySampler(1.3), new TopKSampler(10), new TemperatureSampler(0.8), new DistSampler(77)]);
  const nested = new SamplerChain([
    new SamplerChain([new RepetitionPenaltySampler(1.3), new TopKSampler(10)]),
    new SamplerChain([new TemperatureSampler(0.8), new SamplerChain([new DistSampler(77)])]),
  ]);
  const a = generate(flat, 50);
  const b = generate(nested, 50);
  assert.deepEqual(b, a);
  assert.deepEqual(generate(nested.clone(), 20, a[49]), generate(flat.clone(), 20, a[49]));
  assert.match(nested.name, /chain\(chain\(repetition-penalty/);
});

test('buildSamplerChain order: repetition penalty → top-k → top-p → min-p → temperature → dist', () => {
  const ch = buildSamplerChain({ temperature: 0.7, topK: 40, topP: 0.9, minP: 0.05, repetitionPenalty: 1.1, seed: 3 });
  assert.deepEqual(ch.samplers.map((s) => s.name.replace(/\(.*$/, '')), ['repetition-penalty', 'top-k', 'top-p', 'min-p', 'temperature', 'dist']);
  assert.deepEqual(buildSamplerChain({}).samplers.map((s) => s.name), ['dist(seed=0)']);
  assert.deepEqual(buildSamplerChain({ temperature: 0, repetitionPenalty: 1.2, topK: 3 }).samplers.map((s) => s.name), ['repetition-penalty(1.2)', 'greedy']);
  assert.throws(() => buildSamplerChain({ topP: 0 }), RangeError);
  assert.throws(() => buildSamplerChain({ minP: 1.5 }), RangeError);
  assert.throws(() => buildSamplerChain({ topK: 2.5 }), RangeError);
  assert.throws(() => buildSamplerChain({ repetitionPenalty: 0 }), RangeError);
});

test('truncation before temperature: the nucleus does not widen when T rises (unlike HF order)', () => {
  // Ours: top-p 0.7 on [2,1,0,-1] keeps {0,1} (see above), then T=5 only reshapes inside it.
  const ours = buildSamplerChain({ topP: 0.7, temperature: 5, seed: 11 });
  const seen = new Set<number>();
  for (let i = 0; i < 2000; i++) seen.add(sampleToken(ours, Float32Array.from(ROW)));
  assert.deepEqual([...seen].sort(), [0, 1]);
  // HF order (temperature first): [2,1,0,-1]/5 = [0.4,0.2,0,-0.2], softmax ≈ [0.3112,0.2548,0.2086,0.1708]
  // (e^0.4=1.4918, e^0.2=1.2214, 1, e^-0.2=0.8187; sum 4.5319); cumulative 0.3112, 0.5660, 0.7746 → {0,1,2}.
  const hf = new SamplerChain([new TemperatureSampler(5), new TopPSampler(0.7)]);
  assert.deepEqual(kept(run(hf, ROW)), [0, 1, 2]);
});

test('dist never picks removed tokens; sampleToken leaves the caller row untouched', () => {
  const row = Float32Array.from([5, NEG, 5, NEG, 5]);
  const s = new DistSampler('z');
  const seen = new Set<number>();
  for (let i = 0; i < 300; i++) seen.add(sampleToken(s, row));
  assert.deepEqual([...seen].sort(), [0, 2, 4]);
  const orig = Float32Array.from(ROW);
  sampleToken(buildSamplerChain({ topK: 1, temperature: 3 }), orig);
  assert.deepEqual(Array.from(orig), ROW);
  assert.throws(() => sampleToken(new TopKSampler(2), orig), /selected no token/);
  assert.throws(() => new DistSampler(1).apply(makeCandidates(Float32Array.from([NEG]))));
});

test('dist frequencies match softmax(logits / T): chi-square goodness of fit at p = 0.001', () => {
  const logits = [1, 0.5, 0, -0.5, -1.5];
  const T = 0.7;
  const N = 20_000;
  // Expected probabilities written out independently: p_i = exp(l_i/T) / Σ_j exp(l_j/T).
  const expected = (temp: number) => {
    const e = logits.map((l) => Math.exp(l / temp));
    const s = e.reduce((a, b) => a + b, 0);
    return e.map((x) => (x / s) * N);
  };
  const chain = buildSamplerChain({ temperature: T, seed: 2024 });
  const counts = new Array(logits.length).fill(0);
  const row = Float32Array.from(logits);
  for (let i = 0; i < N; i++) counts[sampleToken(chain, row)]++;
  const chi2 = (exp: number[]) => counts.reduce((acc, c, i) => acc + (c - exp[i]) ** 2 / exp[i], 0);
  // Critical value of χ² with 4 degrees of freedom at upper-tail p = 0.001: 18.467.
  const CRIT = 18.467;
  assert.ok(chi2(expected(T)) < CRIT, `chi2=${chi2(expected(T))} counts=${counts}`);
  // Power check: the same counts are clearly rejected against the wrong temperature (T = 1).
  assert.ok(chi2(expected(1)) > CRIT, `chi2 vs T=1 only ${chi2(expected(1))}`);
});
