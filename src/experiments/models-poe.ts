// PoE of two different models sharing a vocabulary: samples from each alone and from their product,
// each scored under both models (per token). Used by char-models-poe and speculative.
import type { CausalLM } from '../core/model';
import { LensError } from '../core/errors';
import { sameVocabulary } from '../core/decoding/experts';
import { promptIds } from '../core/generate';
import type { ExperimentContext } from './framework';
import { cell, f, fci } from './framework';
import { sampleAndScore, scatterPlot, summarise } from './common';

export async function twoModelPoe(
  ctx: ExperimentContext,
  a: { key: string; name: string; lm: CausalLM },
  b: { key: string; name: string; lm: CausalLM },
  o: { prompts: string[]; n: number; maxTokens: number; temperature: number; unit: string },
) {
  if (!sameVocabulary(a.lm, b.lm)) {
    throw new LensError('vocab-mismatch', `${a.name} and ${b.name} do not share a tokenizer (same vocabulary and ids), so their next-token distributions cannot be combined or cross-scored.`);
  }
  const R = ctx.report;
  const sources = (prompt: string) => [
    { name: a.key, experts: [{ model: a.lm, context: prompt }] },
    { name: b.key, experts: [{ model: b.lm, context: prompt }] },
    { name: 'poe', experts: [{ model: a.lm, context: prompt }, { model: b.lm, context: prompt }] },
  ];
  const rows = [];
  for (const [pi, prompt] of o.prompts.entries()) {
    const scorers = [
      { name: a.key, lm: a.lm, prefix: promptIds(a.lm, prompt) },
      { name: b.key, lm: b.lm, prefix: promptIds(b.lm, prompt) },
    ];
    rows.push(...(await sampleAndScore(ctx, `poe prompt ${pi + 1}/${o.prompts.length}`, sources(prompt), scorers, { n: o.n, maxTokens: o.maxTokens, temperature: o.temperature, extra: { prompt } })));
  }
  const names = [a.key, b.key, 'poe'];
  const sum = summarise(ctx, 'two-model-poe', rows, names, [a.key, b.key]);
  R.p(
    `Prompts: ${o.prompts.map((p) => JSON.stringify(p)).join(', ')}. ${o.n} samples per source and prompt, temperature ${o.temperature}, ${o.maxTokens} ${o.unit} at most. ` +
      `Sources: ${a.name} alone (\`${a.key}\`), ${b.name} alone (\`${b.key}\`), and their product (\`poe\`: the two models' tempered log-probs summed at every step). Every sample is scored under both models at temperature 1.`,
  );
  R.table(
    ['source', 'samples', `NLL/${o.unit.replace(/s$/, '')} under ${a.key}`, `NLL/${o.unit.replace(/s$/, '')} under ${b.key}`],
    sum.map((s) => [s.source as string, s.n as number, fci({ mean: s[`mean_${a.key}`] as number, lo: s[`lo_${a.key}`] as number, hi: s[`hi_${a.key}`] as number }), fci({ mean: s[`mean_${b.key}`] as number, lo: s[`lo_${b.key}`] as number, hi: s[`hi_${b.key}`] as number })]),
  );
  R.data('samples', rows);
  R.data('means', sum);
  R.set('means', sum);
  scatterPlot(ctx, 'scatter', `Per-token NLL of each sample under ${a.key} (x) and ${b.key} (y); big dots are means`, rows, names, { key: `nll_tok_${a.key}`, label: `NLL/token under ${a.key}` }, { key: `nll_tok_${b.key}`, label: `NLL/token under ${b.key}` });
  R.h3('Samples (first two per source and prompt)');
  R.table(
    ['source', 'prompt', 'sample', `NLL/tok ${a.key}`, `NLL/tok ${b.key}`],
    rows.filter((r) => r.k < 2).map((r) => [r.source, cell(r.prompt as string, 20), cell(r.text, 70), f(r[`nll_tok_${a.key}`] as number), f(r[`nll_tok_${b.key}`] as number)]),
  );
  return sum;
}
