// The seed's "glitch": a PoE of two prompts whose answers do not overlap ("2 * 3 =" and "3 + 4 =")
// must put its mass on tokens both experts find acceptable — neither expert's own answer.
import { generatePoeAll } from '../core/decoding/poe-generate';
import type { Experiment } from './framework';
import { cell, f } from './framework';
import { Plot } from './plot';

export const noOverlap: Experiment = {
  name: 'no-overlap',
  title: 'No overlap: PoE of "2 * 3 =" and "3 + 4 =" (the seed\'s glitch)',
  summary: 'greedy PoE of "Instruct: 2 * 3 = \\nOutput:" and "Instruct: 3 + 4 = \\nOutput:", each alone, concatenated',
  async run(ctx) {
    const lm = await ctx.model('english');
    const A = 'Instruct: 2 * 3 = \nOutput:';
    const B = 'Instruct: 3 + 4 = \nOutput:';
    const maxTokens = ctx.quick ? 6 : 16;
    const R = ctx.report;
    const bar = ctx.progress('no-overlap', 4);
    const runs = [
      { name: 'A alone', experts: [{ model: lm, context: A }], preset: 'poe' as const },
      { name: 'B alone', experts: [{ model: lm, context: B }], preset: 'poe' as const },
      { name: 'concat "A B"', experts: [{ model: lm, context: A }, { model: lm, context: B }], preset: 'concat' as const },
      { name: 'PoE(A, B)', experts: [{ model: lm, context: A }, { model: lm, context: B }], preset: 'poe' as const },
    ];
    const out: Record<string, unknown>[] = [];
    const steps: Record<string, unknown>[] = [];
    for (const r of runs) {
      const g = await generatePoeAll(r.experts, { preset: r.preset, maxTokens, sampling: { temperature: 0 } });
      bar.tick();
      out.push({ run: r.name, text: g.text, n_tokens: g.ids.length, stop: g.stopReason });
      if (r.name === 'PoE(A, B)') {
        // Per step: the chosen token's log-prob under each expert, and each expert's own greedy choice.
        for (const t of g.tokens) steps.push({ step: t.index, token: lm.tokenizer.tokenLabel(t.id), logprob_A: t.expert_logprobs[0], logprob_B: t.expert_logprobs[1], logprob_poe: t.logprob });
      }
    }
    bar.done();
    R.p(`Expert A: ${JSON.stringify(A)}; expert B: ${JSON.stringify(B)}. Greedy decoding (temperature 0), ${maxTokens} tokens at most. The PoE sums the two experts' log-probs and appends the chosen token to both prompts.`);
    R.table(['run', 'greedy output', 'tokens', 'stop'], out.map((o) => [o.run as string, cell(o.text as string), o.n_tokens as number, o.stop as string]));
    R.data('outputs', out);
    R.h2('The PoE step by step');
    R.p('For each token the PoE chose: its log-prob under A alone, under B alone, and under the normalised product (nats). A token that is likely under one expert and unlikely under the other is what the product avoids; when no token is likely under both, the product picks a compromise that neither expert would have produced.');
    R.table(['step', 'token', 'ln p_A', 'ln p_B', 'ln p_PoE'], steps.map((s) => [s.step as number, cell(s.token as string), f(s.logprob_A as number), f(s.logprob_B as number), f(s.logprob_poe as number)]));
    R.data('poe_steps', steps);
    const long = steps.flatMap((s) => [
      { step: s.step, expert: 'A', logprob: s.logprob_A },
      { step: s.step, expert: 'B', logprob: s.logprob_B },
      { step: s.step, expert: 'PoE', logprob: s.logprob_poe },
    ]);
    R.plot('poe_steps', 'Log-prob of each PoE token under A (blue), under B (red) and under the product (green)', {
      width: 560,
      height: 300,
      x: { label: 'step', grid: true },
      y: { label: 'ln p (nats)', grid: true },
      color: { domain: ['A', 'B', 'PoE'], range: ['#1f77b4', '#d62728', '#2ca02c'] },
      marks: [
        Plot.line(long, { x: 'step', y: 'logprob', stroke: 'expert', marker: 'circle' }),
      ],
    });
    R.set('outputs', Object.fromEntries(out.map((o) => [o.run as string, o.text])));
    R.h2('What this can and cannot show');
    R.p(
      'The seed saw phi-2 produce a "glitch" here: the product of "6" and "7" experts has no good common token. ' +
        'Our small models cannot do arithmetic at all (see the A-alone and B-alone outputs), so this run documents the mechanics — which token the product picks and how likely each expert finds it — not the phenomenon with a model that knows the answers.',
    );
  },
};
