// The seed's PoE example: samples from "I am a cat.", "I am a dog." and their Product of Experts
// (temperature 0.7, 10 tokens), each with its conditional NLL under both prefixes.
import { expertPromptIds } from '../core/decoding/experts';
import type { Experiment } from './framework';
import { cell, f, fci } from './framework';
import { sampleAndScore, scatterPlot, summarise } from './common';

export const catDog: Experiment = {
  name: 'cat-dog',
  title: 'Cat and dog: samples from two prompts and their Product of Experts',
  summary: 'N samples (default 4) from "I am a cat.", "I am a dog." and their PoE, NLL under both prefixes',
  async run(ctx) {
    const lm = await ctx.model('english');
    const A = 'I am a cat.';
    const B = 'I am a dog.';
    const n = ctx.opts.n ?? (ctx.quick ? 2 : 4);
    const T = 0.7;
    const maxTokens = 10;
    const sources = [
      { name: 'cat', experts: [{ model: lm, context: A }] },
      { name: 'dog', experts: [{ model: lm, context: B }] },
      { name: 'poe', experts: [{ model: lm, context: A }, { model: lm, context: B }] },
    ];
    const scorers = [
      { name: 'cat', lm, prefix: expertPromptIds(lm, A, '', ' ') },
      { name: 'dog', lm, prefix: expertPromptIds(lm, B, '', ' ') },
    ];
    const rows = await sampleAndScore(ctx, 'cat-dog', sources, scorers, { n, maxTokens, temperature: T });
    const R = ctx.report;
    R.p(
      `A = ${JSON.stringify(A)}, B = ${JSON.stringify(B)}. ${n} samples per source, temperature ${T}, ${maxTokens} tokens (fewer when the model ends the text). ` +
        'PoE: at each step the experts\' tempered log-probs are summed (the seed summed tempered logits: the same distribution after normalisation), one token is drawn and appended to both prompts. ' +
        'NLL|cat = −ln p(sample | "I am a cat."), summed over the sampled tokens (nats); likewise NLL|dog.',
    );
    R.table(
      ['source', '#', 'sample', 'tokens', 'NLL|cat', 'NLL|dog'],
      rows.map((r) => [r.source, r.k, cell(r.text), r.n_tokens, f(r.nll_cat as number), f(r.nll_dog as number)]),
    );
    R.data('samples', rows);
    const sum = summarise(ctx, 'cat-dog', rows, ['cat', 'dog', 'poe'], ['cat', 'dog']);
    R.h2('Means (per token, 95% bootstrap intervals)');
    R.table(
      ['source', 'n', 'NLL/token | cat', 'NLL/token | dog'],
      sum.map((s) => [s.source as string, s.n as number, fci({ mean: s.mean_cat as number, lo: s.lo_cat as number, hi: s.hi_cat as number }), fci({ mean: s.mean_dog as number, lo: s.lo_dog as number, hi: s.hi_dog as number })]),
    );
    R.data('means', sum);
    for (const s of sum) R.set(`mean_per_token_${s.source}`, { cat: s.mean_cat, dog: s.mean_dog });
    scatterPlot(ctx, 'scatter', 'Per-token NLL of each sample under "I am a cat." (x) and "I am a dog." (y); big dots are means', rows, ['cat', 'dog', 'poe'], { key: 'nll_tok_cat', label: 'NLL/token | cat' }, { key: 'nll_tok_dog', label: 'NLL/token | dog' });
    R.h2('What this can and cannot show');
    R.p(
      `With ${n} samples per source the means are rough (see the intervals); the seed's point was qualitative: the PoE sample should be plausible after both prompts. ` +
        'Summing two experts each tempered at 0.7 makes the product sharper than either (where they agree it behaves like temperature 0.35), so PoE samples have lower NLL under both prompts and repeat more often; `concat-vs-poe` adds the geometric mean as a control for this. ' +
        'On a small model "cat" and "dog" prompts differ by one token, so the two NLLs of any sample are strongly correlated and the points lie near the diagonal; ' +
        'the experiment `concat-vs-poe` repeats this with 50+ samples per method and more prompt pairs.',
    );
  },
};
