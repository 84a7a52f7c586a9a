// PoE of two character-level models (Shakespeare and a second corpus) sharing one vocabulary.
import type { Experiment } from './framework';
import { twoModelPoe } from './models-poe';

export const charModelsPoe: Experiment = {
  name: 'char-models-poe',
  title: 'Product of two character-level models',
  summary: 'samples from the Shakespeare char model, a second char model and their PoE; NLL under each; scatter',
  async run(ctx) {
    const a = await ctx.model('char');
    const b = await ctx.model('char2');
    const [na, nb] = [ctx.models.find((m) => m.role === 'char')!.name, ctx.models.find((m) => m.role === 'char2')!.name];
    const R = ctx.report;
    const prompts = ctx.quick ? ['The '] : ['The ', 'And then ', 'I shall '];
    const sum = await twoModelPoe(ctx, { key: 'm1', name: na, lm: a }, { key: 'm2', name: nb, lm: b }, { prompts, n: ctx.opts.n ?? (ctx.quick ? 2 : 30), maxTokens: ctx.quick ? 16 : 120, temperature: 0.8, unit: 'tokens' });
    const poe = sum.find((s) => s.source === 'poe')!;
    const m1 = sum.find((s) => s.source === 'm1')!;
    const m2 = sum.find((s) => s.source === 'm2')!;
    R.p(`m1 = ${na}, m2 = ${nb}.`);
    R.h2('What this can and cannot show');
    R.p(
      'With character-level models every token is one character, so the NLLs are in nats per character. ' +
        `A product of experts should produce text that both models find plausible: here the PoE samples average ${(poe.mean_m1 as number).toFixed(3)} nats/char under m1 and ${(poe.mean_m2 as number).toFixed(3)} under m2, against ${(m1.mean_m1 as number).toFixed(3)} / ${(m1.mean_m2 as number).toFixed(3)} for m1's own samples and ${(m2.mean_m1 as number).toFixed(3)} / ${(m2.mean_m2 as number).toFixed(3)} for m2's. ` +
        'The intervals are over samples for these few prompts; both models are small, so "plausible" means locally plausible spelling and rhythm, not meaning. ' +
        'The product favours the characters both corpora share (common English words, spaces, punctuation) and suppresses each corpus\'s peculiarities (archaic forms, names), which shows as the PoE cloud sitting between or below the two single-model clouds.',
    );
  },
};
