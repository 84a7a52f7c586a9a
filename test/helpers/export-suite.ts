// The conformance checks both decoder exporters must pass (used by export-llama.test.ts and
// export-gpt2.test.ts): reference logits, KV-cache equivalence, left-padded batching, early exit,
// and the I/O variants (float16 KV, no position_ids, merged decoder).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DecoderExportOptions } from '../../src/core/export/decoder';
import { mulberry32 } from './fixtures';
import { DecoderRunner, leftPad, maxAbsDiff, rows } from './export-runner';

export const TOL = 1e-4;

export interface DecoderFamily<W> {
  name: string;
  build(w: W, opts?: DecoderExportOptions): Uint8Array;
  reference(w: W, ids: readonly number[], numLayers?: number): Float64Array;
  numLayers(w: W): number;
  vocab(w: W): number;
}

/** Seeded random token ids in [3, vocab). */
export function randomIds(seed: number, n: number, vocab: number): number[] {
  const rand = mulberry32(seed);
  return Array.from({ length: n }, () => 3 + Math.floor(rand() * (vocab - 3)));
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): number {
  const d = maxAbsDiff(actual, expected);
  assert.ok(d <= tol, `${what}: max |diff| ${d} > ${tol}`);
  return d;
}

/** Registers the conformance tests for one family; `base` is the weights most tests use. */
export function decoderConformance<W>(family: DecoderFamily<W>, base: W): void {
  const V = family.vocab(base);
  const L = family.numLayers(base);

  test(`${family.name}: KV-cached decoding equals one full forward`, async () => {
    const run = await DecoderRunner.load(family.build(base));
    const ids = randomIds(11, 12, V);
    const full = (await run.step({ ids: [ids], mask: [ids.map(() => 1)] })).logits; // [1, 12, V]
    assertClose(full, family.reference(base, ids), TOL, 'full forward vs reference');
    for (const prefill of [1, 5]) {
      const cached = await run.runCached(ids, prefill); // [12, V]
      assertClose(cached, full, TOL, `prefill ${prefill} + one token at a time`);
    }
    await run.release();
  });

  test(`${family.name}: a left-padded batch equals each row run alone, also in cached decode steps`, async () => {
    const run = await DecoderRunner.load(family.build(base));
    const seqs = [randomIds(21, 7, V), randomIds(22, 4, V)];
    const more = [randomIds(23, 3, V), randomIds(24, 3, V)];
    const solo = seqs.map((s, i) => family.reference(base, [...s, ...more[i]!])); // [len+3, V] each

    const { ids, mask } = leftPad(seqs); // [2, 7]
    let r = await run.step({ ids, mask });
    assert.ok(r.logits.every(Number.isFinite), 'prefill logits (pad rows included) are finite');
    const S = ids[0]!.length;
    seqs.forEach((s, b) => {
      const got = rows(r.logits, V, b * S + (S - s.length), (b + 1) * S); // the real positions of row b
      assertClose(got, rows(solo[b]!, V, 0, s.length), TOL, `row ${b} prefill`);
    });
    let curMask = mask;
    for (let step = 0; step < 3; step++) {
      curMask = curMask.map((m) => [...m, 1]);
      r = await run.step({ ids: more.map((m) => [m[step]!]), mask: curMask, past: r.past });
      assert.ok(r.logits.every(Number.isFinite));
      seqs.forEach((s, b) => {
        const pos = s.length + step;
        assertClose(rows(r.logits, V, b, b + 1), rows(solo[b]!, V, pos, pos + 1), TOL, `row ${b} decode step ${step}`);
      });
    }
    await run.release();
  });

  test(`${family.name}: early-exit logits (last layer = logits; earlier = truncated reference)`, async () => {
    const early = [1, L - 1, L].filter((k, i, a) => k >= 1 && a.indexOf(k) === i);
    const run = await DecoderRunner.load(family.build(base, { earlyExitLayers: early }));
    for (const k of early) assert.ok(run.session.outputNames.includes(`logits_layer_${k}`), `output logits_layer_${k}`);
    assert.ok(!run.session.outputNames.includes(`logits_layer_${L + 1}`));
    const ids = randomIds(31, 6, V);
    const r = await run.step({ ids: [ids.slice(0, 4)], mask: [[1, 1, 1, 1]] });
    const d = await run.step({ ids: [ids.slice(4, 6)], mask: [ids.map(() => 1)], past: r.past }); // cached step, S = 2
    assert.equal(maxAbsDiff(r.outputs[`logits_layer_${L}`]!.data as Float32Array, r.logits), 0, 'logits_layer_L is logits');
    for (const k of early.filter((x) => x < L)) {
      const ref = family.reference(base, ids, k); // [6, V]
      const got = [...(r.outputs[`logits_layer_${k}`]!.data as Float32Array), ...(d.outputs[`logits_layer_${k}`]!.data as Float32Array)];
      assertClose(got, ref, TOL, `logits_layer_${k}`);
      assert.ok(maxAbsDiff(got, family.reference(base, ids)) > 1e-2, `logits_layer_${k} differs from the full model`);
    }
    await run.release();
  });

  test(`${family.name}: early-exit layers out of range are rejected`, () => {
    assert.throws(() => family.build(base, { earlyExitLayers: [0] }), /earlyExitLayers/);
    assert.throws(() => family.build(base, { earlyExitLayers: [L + 1] }), /earlyExitLayers/);
    assert.throws(() => family.build(base, { earlyExitLayers: [1.5] }), /earlyExitLayers/);
  });

  const variants: { name: string; opts: DecoderExportOptions; tol: number; check(run: DecoderRunner): void }[] = [
    {
      name: 'float16 KV cache',
      opts: { kvDtype: 'float16' },
      tol: 3e-2,
      check: (run) => {
        const kv = run.session.inputMetadata.find((m) => m.name === 'past_key_values.0.key');
        assert.ok(kv?.isTensor && kv.type === 'float16');
        const out = run.session.outputMetadata.find((m) => m.name === 'present.0.key');
        assert.ok(out?.isTensor && out.type === 'float16');
      },
    },
    {
      name: 'no position_ids input',
      opts: { positionIds: false },
      tol: TOL,
      check: (run) => assert.ok(!run.has('position_ids') && run.has('attention_mask')),
    },
    {
      name: 'merged decoder (use_cache_branch)',
      opts: { mergedDecoder: true },
      tol: TOL,
      check: (run) => {
        const m = run.session.inputMetadata.find((x) => x.name === 'use_cache_branch');
        assert.ok(m?.isTensor && m.type === 'bool' && m.shape.length === 1 && m.shape[0] === 1);
      },
    },
    {
      name: 'all variants together',
      opts: { kvDtype: 'float16', positionIds: false, mergedDecoder: true, earlyExitLayers: [1] },
      tol: 3e-2,
      check: (run) => assert.ok(run.has('use_cache_branch') && !run.has('position_ids') && run.session.outputNames.includes('logits_layer_1')),
    },
  ];
  for (const v of variants) {
    test(`${family.name}: variant "${v.name}" gives the base model's logits`, async () => {
      const baseRun = await DecoderRunner.load(family.build(base));
      const run = await DecoderRunner.load(family.build(base, v.opts));
      v.check(run);
      const seqs = [randomIds(41, 6, V), randomIds(42, 3, V)];
      const { ids, mask } = leftPad(seqs);
      let a = await baseRun.step({ ids, mask });
      let b = await run.step({ ids, mask });
      const S = ids[0]!.length;
      const real = (logits: Float32Array): number[] =>
        seqs.flatMap((s, r) => rows(logits, V, r * S + (S - s.length), (r + 1) * S));
      assertClose(real(b.logits), real(a.logits), v.tol, `${v.name} prefill`);
      let m = mask;
      for (let step = 0; step < 3; step++) {
        m = m.map((row) => [...row, 1]);
        const next = seqs.map((_, r) => [3 + ((step * 7 + r * 13) % (V - 3))]);
        a = await baseRun.step({ ids: next, mask: m, past: a.past });
        b = await run.step({ ids: next, mask: m, past: b.past });
        assertClose(b.logits, a.logits, v.tol, `${v.name} decode step ${step}`);
      }
      await Promise.all([baseRun.release(), run.release()]);
    });
  }
}
