// Speculative decoding with a draft/target pair: acceptance rate by k, tokens per target forward,
// equality with the target's own greedy output, wall-clock speedup (machine-dependent), and the
// seed's question for PoE: do samples of PoE(draft, target) differ in likelihood from each model's?
import { speculativeAll } from '../core/decoding/speculative';
import { generateAll } from '../core/generate';
import type { Experiment } from './framework';
import { f, fci } from './framework';
import { rateCI, meanCI } from './stats';
import { Plot } from './plot';
import { twoModelPoe } from './models-poe';

export const speculative: Experiment = {
  name: 'speculative',
  title: 'Speculative decoding with a draft/target pair, and their Product of Experts',
  summary: 'acceptance rate by k, tokens per target forward, greedy output equality, speedup; PoE(draft, target) vs each alone',
  async run(ctx) {
    const target = await ctx.model('target');
    const draft = await ctx.model('draft');
    const tName = ctx.models.find((m) => m.role === 'target')!.name;
    const dName = ctx.models.find((m) => m.role === 'draft')!.name;
    const R = ctx.report;
    const prompts = ctx.quick ? ['Once upon a time'] : ['Once upon a time', 'The little dog', 'Lily and Tom went to', 'One day, a boy'];
    const ks = ctx.quick ? [1, 2] : [1, 2, 3, 4, 6, 8];
    const maxTokens = ctx.quick ? 12 : 64;
    const seeds = ctx.opts.n ?? (ctx.quick ? 1 : 5);
    const bar = ctx.progress('speculative', ks.length * prompts.length * (1 + seeds) + prompts.length);
    // The target's own greedy output and its time.
    const ref = new Map<string, number[]>();
    let targetMs = 0;
    let targetTokens = 0;
    for (const p of prompts) {
      const t0 = performance.now();
      const g = await generateAll(target, p, { maxTokens });
      targetMs += performance.now() - t0;
      targetTokens += g.ids.length;
      ref.set(p, g.ids);
      bar.tick();
    }
    const rows: Record<string, unknown>[] = [];
    const timing: Record<string, unknown>[] = [{ method: 'target alone (greedy)', ms: targetMs, tokens: targetTokens }];
    for (const k of ks) {
      let ms = 0;
      let toks = 0;
      for (const p of prompts) {
        const t0 = performance.now();
        const r = await speculativeAll(draft, target, p, { k, maxTokens, sampling: { temperature: 0 } });
        ms += performance.now() - t0;
        toks += r.ids.length;
        const same = r.ids.length === ref.get(p)!.length && r.ids.every((x, i) => x === ref.get(p)![i]);
        rows.push({ mode: 'greedy', k, prompt: p, seed: 0, tokens: r.ids.length, proposed: r.stats.proposed, accepted: r.stats.accepted, target_forwards: r.stats.targetForwards, draft_forwards: r.stats.draftForwards, equals_target_greedy: same ? 1 : 0 });
        bar.tick();
        for (let s = 0; s < seeds; s++) {
          const seed = ctx.subSeed(`spec/${k}/${p}/${s}`);
          const q = await speculativeAll(draft, target, p, { k, maxTokens, sampling: { temperature: 1, seed } });
          rows.push({ mode: 'sampled T=1', k, prompt: p, seed, tokens: q.ids.length, proposed: q.stats.proposed, accepted: q.stats.accepted, target_forwards: q.stats.targetForwards, draft_forwards: q.stats.draftForwards, equals_target_greedy: -1 });
          bar.tick();
        }
      }
      timing.push({ method: `speculative greedy k=${k}`, ms, tokens: toks });
    }
    bar.done();
    const summary: Record<string, unknown>[] = [];
    for (const mode of ['greedy', 'sampled T=1']) {
      for (const k of ks) {
        const m = rows.filter((r) => r.mode === mode && r.k === k);
        const sum = (key: string) => m.reduce((s, r) => s + (r[key] as number), 0);
        const acc = rateCI(sum('accepted'), sum('proposed'));
        const tpf = meanCI(m.map((r) => (r.tokens as number) / (r.target_forwards as number)), ctx.rng(`tpf/${mode}/${k}`));
        summary.push({ mode, k, runs: m.length, acceptance: acc.rate, acc_lo: acc.lo, acc_hi: acc.hi, tokens_per_target_forward: tpf.mean, tpf_lo: tpf.lo, tpf_hi: tpf.hi, draft_forwards_per_token: sum('draft_forwards') / sum('tokens'), all_equal_target_greedy: mode === 'greedy' ? (m.every((r) => r.equals_target_greedy === 1) ? 1 : 0) : -1 });
      }
    }
    R.p(
      `Target: ${tName}; draft: ${dName}. Prompts: ${prompts.map((p) => JSON.stringify(p)).join(', ')}; ${maxTokens} tokens each. ` +
        `Greedy (T = 0) and sampled (T = 1, ${seeds} seed${seeds === 1 ? '' : 's'} per prompt) speculative decoding (Leviathan et al. 2023) for k = ${ks.join(', ')} drafted tokens per round.`,
    );
    R.h2('Acceptance and target forwards');
    R.table(
      ['mode', 'k', 'acceptance [95% Wilson, tokens pooled]', 'tokens / target forward [95% bootstrap]', 'draft forwards / token', 'output = target greedy'],
      summary.map((s) => [s.mode as string, s.k as number, fci({ rate: s.acceptance as number, lo: s.acc_lo as number, hi: s.acc_hi as number }), fci({ mean: s.tokens_per_target_forward as number, lo: s.tpf_lo as number, hi: s.tpf_hi as number }, 2), f(s.draft_forwards_per_token as number, 2), s.all_equal_target_greedy === -1 ? '— (sampled: equal in distribution)' : s.all_equal_target_greedy ? 'yes, every prompt' : '**no**']),
    );
    R.data('runs', rows);
    R.data('summary', summary);
    R.set('summary', summary.map((s) => ({ mode: s.mode, k: s.k, acceptance: s.acceptance, tokens_per_target_forward: s.tokens_per_target_forward, all_equal_target_greedy: s.all_equal_target_greedy })));
    R.plot('acceptance', 'Acceptance rate (left axis, dots) by k; greedy in blue, sampled in red; bars are 95% intervals', {
      width: 560,
      height: 320,
      x: { label: 'k (drafted tokens per round)', type: 'point', domain: ks },
      y: { label: 'acceptance rate', domain: [0, 1], grid: true },
      color: { domain: ['greedy', 'sampled T=1'], range: ['#1f77b4', '#d62728'] },
      marks: [Plot.link(summary, { x1: 'k', x2: 'k', y1: 'acc_lo', y2: 'acc_hi', stroke: 'mode' }), Plot.line(summary, { x: 'k', y: 'acceptance', stroke: 'mode' }), Plot.dot(summary, { x: 'k', y: 'acceptance', fill: 'mode' })],
    });
    R.h2('Wall-clock time (machine-dependent)');
    const base = targetMs / Math.max(1, targetTokens);
    R.p('These are the only numbers in the reports that change from run to run: they depend on the machine and its load (2 shared CPU cores when generated). They are kept out of the JSON/CSV raw data except timing.json.');
    R.table(['method', 'ms total', 'tokens', 'ms / token', 'speedup vs target alone'], timing.map((t) => [t.method as string, f(t.ms as number, 0), t.tokens as number, f((t.ms as number) / Math.max(1, t.tokens as number), 2), f(base / ((t.ms as number) / Math.max(1, t.tokens as number)), 2)]));
    ctx.report.json('timing', timing);
    R.h2('PoE of the draft and the target');
    await twoModelPoe(ctx, { key: 'draft', name: dName, lm: draft }, { key: 'target', name: tName, lm: target }, { prompts: prompts.slice(0, ctx.quick ? 1 : 2), n: ctx.quick ? 2 : 30, maxTokens: ctx.quick ? 8 : 20, temperature: 1, unit: 'tokens' });
    R.h2('What this can and cannot show');
    R.p(
      'Greedy speculative decoding must reproduce the target\'s greedy output exactly (the last column checks it), and sampled speculative decoding has the target\'s distribution; those are properties of the algorithm. ' +
        'Acceptance rate and tokens per target forward measure how well this draft predicts this target. ' +
        'The wall-clock speedup needs a draft much cheaper than the target: with tiny models on a CPU, per-call overhead dominates and the draft costs almost as much as the target, so the measured speedup can be below 1 even at high acceptance — the forward counts are the transferable result. ' +
        'The PoE section answers the seed\'s question for this pair: PoE samples are scored under both models next to each model\'s own samples.',
    );
  },
};
