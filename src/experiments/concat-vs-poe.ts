// The seed's extra study: do samples from the Product of Experts land closer to both prompts than
// samples from the concatenated prompt "A B" (or from either prompt alone)?
import { expertPromptIds } from '../core/decoding/experts';
import type { Experiment } from './framework';
import { f, fci } from './framework';
import { sampleAndScore, scatterPlot, type SampleRow } from './common';
import { meanCI } from './stats';
import { Plot } from './plot';

const HAND: [string, string][] = [
  ['I am a cat.', 'I am a dog.'],
  ['The sun was hot.', 'It was raining.'],
  ['Tom was happy.', 'Tom was sad.'],
  ['Lily went to the park.', 'The boy had a red ball.'],
];
/** Sentences the random pairs are drawn from (simple English, in the style of children's stories). */
const POOL = [
  'Once upon a time there was a little girl.',
  'The dog ran to the tree.',
  'She liked to play with her toys.',
  'The big bird flew over the house.',
  'Mom made a cake for dinner.',
  'He found a shiny stone by the river.',
  'The cat was sleeping on the bed.',
  'They went to the beach with dad.',
  'The old man had a long white beard.',
  'It was a cold winter morning.',
  'The little fish swam in the pond.',
  'Ben wanted to be a pilot.',
  'The flowers in the garden were pretty.',
  'Sara was scared of the dark.',
  'The truck was very loud.',
  'A rabbit hopped across the road.',
];

export const concatVsPoe: Experiment = {
  name: 'concat-vs-poe',
  title: 'Concatenated prompt vs Product of Experts',
  summary: 'A alone, B alone, "A B" and PoE(A, B): 50+ samples each on hand-made and random prompt pairs; which lands closest to both',
  async run(ctx) {
    const lm = await ctx.model('english');
    const n = ctx.opts.n ?? (ctx.quick ? 3 : 50);
    const T = 0.7;
    const maxTokens = 10;
    const rng = ctx.rng('pairs');
    const random: [string, string][] = [];
    while (random.length < (ctx.quick ? 1 : 4)) {
      const i = Math.floor(rng.nextFloat() * POOL.length);
      const j = Math.floor(rng.nextFloat() * POOL.length);
      if (i !== j && !random.some(([a, b]) => a === POOL[i] && b === POOL[j])) random.push([POOL[i], POOL[j]]);
    }
    const pairs = [...(ctx.quick ? HAND.slice(0, 1) : HAND).map((p) => ({ kind: 'hand-made', p })), ...random.map((p) => ({ kind: 'random', p }))];
    const all: SampleRow[] = [];
    for (const [pi, { kind, p }] of pairs.entries()) {
      const [A, B] = p;
      const sources = [
        { name: 'A', experts: [{ model: lm, context: A }] },
        { name: 'B', experts: [{ model: lm, context: B }] },
        { name: 'concat', experts: [{ model: lm, context: A }, { model: lm, context: B }], preset: 'concat' as const },
        { name: 'poe', experts: [{ model: lm, context: A }, { model: lm, context: B }] },
        // The geometric mean: weights ½, as sharp as one expert at T (the plain product is sharper).
        { name: 'poe-geo', experts: [{ model: lm, context: A, weight: 0.5 }, { model: lm, context: B, weight: 0.5 }] },
      ];
      const scorers = [
        { name: 'A', lm, prefix: expertPromptIds(lm, A, '', ' ') },
        { name: 'B', lm, prefix: expertPromptIds(lm, B, '', ' ') },
      ];
      const rows = await sampleAndScore(ctx, `pair ${pi + 1}/${pairs.length}`, sources, scorers, { n, maxTokens, temperature: T, extra: { pair: pi + 1, kind, A, B } });
      for (const r of rows) {
        const a = r.nll_tok_A as number;
        const b = r.nll_tok_B as number;
        r.nll_tok_mean = (a + b) / 2;
        r.nll_tok_max = Math.max(a, b);
      }
      all.push(...rows);
    }
    const R = ctx.report;
    R.p(
      `For each prompt pair (A, B): ${n} samples per method — A alone, B alone, the concatenation "A B" as one prompt, PoE(A, B) (sum of the two experts' tempered log-probs, the same token appended to both) and poe-geo (the geometric mean: each expert's log-probs weighted ½) — ` +
        `at temperature ${T}, ${maxTokens} tokens. Each sample is scored under A and under B: NLL/token | A = −ln p(sample | A) divided by its tokens. ` +
        '"Closest to both" is measured by the mean of the two per-token NLLs (the log of the geometric-mean likelihood under both prompts) and by the worse of the two (max).',
    );
    const methods = ['A', 'B', 'concat', 'poe', 'poe-geo'];
    const rng2 = ctx.rng('bootstrap');
    const summary: Record<string, unknown>[] = [];
    for (const [pi, { kind, p }] of pairs.entries()) {
      for (const m of methods) {
        const rows = all.filter((r) => r.pair === pi + 1 && r.source === m && r.n_tokens > 0);
        const ci = (k: string) => meanCI(rows.map((r) => r[k] as number), rng2);
        const a = ci('nll_tok_A');
        const b = ci('nll_tok_B');
        const both = ci('nll_tok_mean');
        const worst = ci('nll_tok_max');
        summary.push({ pair: pi + 1, kind, A: p[0], B: p[1], method: m, n: rows.length, mean_A: a.mean, lo_A: a.lo, hi_A: a.hi, mean_B: b.mean, lo_B: b.lo, hi_B: b.hi, mean_both: both.mean, lo_both: both.lo, hi_both: both.hi, mean_max: worst.mean, lo_max: worst.lo, hi_max: worst.hi });
      }
    }
    R.h2('Per pair: means with 95% bootstrap intervals (per token, nats)');
    const best = (pi: number, key: string, among = methods) =>
      summary.filter((s) => s.pair === pi && among.includes(s.method as string)).reduce((a, s) => ((s[key] as number) < (a[key] as number) ? s : a)).method as string;
    const sameT = methods.filter((m) => m !== 'poe'); // sampled as sharply as one expert at T
    for (const [pi, { kind, p }] of pairs.entries()) {
      R.h3(`Pair ${pi + 1} (${kind}): A = ${JSON.stringify(p[0])}, B = ${JSON.stringify(p[1])}`);
      R.table(
        ['method', 'n', 'NLL/tok | A', 'NLL/tok | B', 'mean of both', 'max of both'],
        summary
          .filter((s) => s.pair === pi + 1)
          .map((s) => [
            s.method as string,
            s.n as number,
            fci({ mean: s.mean_A as number, lo: s.lo_A as number, hi: s.hi_A as number }),
            fci({ mean: s.mean_B as number, lo: s.lo_B as number, hi: s.hi_B as number }),
            fci({ mean: s.mean_both as number, lo: s.lo_both as number, hi: s.hi_both as number }),
            fci({ mean: s.mean_max as number, lo: s.lo_max as number, hi: s.hi_max as number }),
          ]),
      );
      R.p(`Closest to both (lowest mean of both): **${best(pi + 1, 'mean_both')}**; lowest worst-case: **${best(pi + 1, 'mean_max')}**; closest among the methods as sharp as one expert at T (all but the plain product): **${best(pi + 1, 'mean_both', sameT)}**.`);
    }
    R.data('samples', all);
    R.data('summary', summary);
    const wins: Record<string, number> = Object.fromEntries(methods.map((m) => [m, 0]));
    const winsSameT: Record<string, number> = Object.fromEntries(sameT.map((m) => [m, 0]));
    for (let pi = 1; pi <= pairs.length; pi++) {
      wins[best(pi, 'mean_both')]++;
      winsSameT[best(pi, 'mean_both', sameT)]++;
    }
    // Pooled over pairs: paired difference PoE − concat per pair.
    const pooled = methods.map((m) => {
      const rows = all.filter((r) => r.source === m && r.n_tokens > 0);
      return { method: m, ...meanCI(rows.map((r) => r.nll_tok_mean as number), rng2) };
    });
    R.h2('Pooled over all pairs');
    R.table(
      ['method', 'samples', 'mean of both NLL/tok [95% CI]', 'pairs where closest to both', 'closest among same-sharpness methods'],
      pooled.map((s) => [s.method, s.n, fci(s), wins[s.method], s.method === 'poe' ? '—' : winsSameT[s.method]]),
    );
    R.set('pooled_mean_both', Object.fromEntries(pooled.map((s) => [s.method, s.mean])));
    R.set('closest_to_both_wins', wins);
    R.set('closest_to_both_wins_same_sharpness', winsSameT);
    const yLab = (s: Record<string, unknown>) => `pair ${s.pair} · ${s.method}`;
    R.plot('means', 'Mean of both per-token NLLs per method and pair, with 95% intervals (lower = closer to both prompts)', {
      width: 640,
      height: 60 + 18 * summary.length,
      marginLeft: 110,
      x: { label: 'mean of NLL/token | A and | B (nats)', grid: true },
      y: { label: null, domain: summary.map(yLab) },
      color: { domain: methods, range: ['#1f77b4', '#d62728', '#ff7f0e', '#2ca02c', '#9467bd'] },
      marks: [
        Plot.link(summary, { y1: yLab, y2: yLab, x1: 'lo_both', x2: 'hi_both', stroke: 'method', strokeWidth: 2 }),
        Plot.dot(summary, { y: yLab, x: 'mean_both', fill: 'method', r: 4 }),
      ],
    });
    scatterPlot(ctx, 'scatter', 'Per-token NLL under A (x) and under B (y), one panel per pair; big dots are method means', all, methods, { key: 'nll_tok_A', label: 'NLL/token | A' }, { key: 'nll_tok_B', label: 'NLL/token | B' }, { key: 'pair', columns: Math.min(4, pairs.length) });
    R.h2('What this can and cannot show');
    R.p(
      'PoE samples from a distribution proportional to p(·|A)·p(·|B), so it should land lowest on "mean of both" by construction when the model is good enough for the product to be meaningful; ' +
        'the concatenated prompt conditions on both but lets the later sentence dominate. ' +
        'One confound is built in: the plain product of two experts each tempered at T is sharper than either (where they agree it acts like temperature T/2), so part of its low NLL is low temperature, not agreement. poe-geo removes that: the geometric mean (weights ½) is exactly as sharp as one expert at T, so poe-geo vs concat is the fair comparison. ' +
        'The intervals are over samples for fixed prompts; they do not cover the choice of prompts (only a handful of pairs), and the per-token NLLs come from a small model, so the ranking says how this model combines contexts, not how a large LM would. ' +
        'Dots of A-alone samples near the x-axis and B-alone near the y-axis show the two prompts pull in different directions; when all four clouds overlap, the model barely distinguishes the prompts.',
    );
  },
};
