// DoLa (Chuang et al. 2023): contrast the final layer with a premature layer. Measured on held-out
// perplexity (per layer read out alone, final, DoLa) and on TruthfulQA-MC (final vs DoLa).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Experiment } from './framework';
import { f } from './framework';
import { layerScores, prematureLayers } from './layer-scores';
import { chance, evaluateMc, mcPlot, mcTable, pickQuestions, summariseMc } from './truthfulqa-mc';
import { loadTruthfulqa } from './truthfulqa-data';
import { sharedDir } from './models';
import { Plot } from './plot';

/** A short story in the style of TinyStories, written for this report (in-domain for story models). */
export const STORY =
  'Once upon a time, there was a little girl named Mia. She had a red kite that she loved very much. ' +
  'One windy day, Mia took her kite to the park. The kite flew high in the sky, and Mia laughed. ' +
  'Then the wind pulled the kite into a tall tree. Mia was sad. Her friend Sam saw her and said, "Do not be sad, I will help you." ' +
  'Sam climbed the tree and got the kite. Mia hugged Sam and said, "Thank you!" They played with the kite until the sun went down.';

export const dola: Experiment = {
  name: 'dola',
  title: 'DoLa: contrasting the final layer with a premature layer',
  summary: 'held-out perplexity of each layer, the final layer and DoLa; TruthfulQA-MC final vs DoLa',
  async run(ctx) {
    const lm = await ctx.model('english', { earlyExit: true });
    const layers = await prematureLayers(lm);
    const R = ctx.report;
    const texts: { name: string; text: string }[] = [{ name: 'story (written for this report)', text: STORY }];
    // Not in the training data of any zoo model (they train on Brown, Austen, Shakespeare).
    const devil = join(sharedDir(), 'corpora/devils-dictionary.txt');
    if (existsSync(devil) && !ctx.quick) {
      const t = readFileSync(devil, 'utf8');
      const mid = Math.floor(t.length / 2);
      texts.push({ name: "The Devil's Dictionary, 3000 characters from the middle (../shared corpora)", text: t.slice(mid, mid + 3000).replace(/\s+/g, ' ').trim() });
    }
    const win = Math.min(lm.maxPositions, 256);
    const bar = ctx.progress('dola perplexity', texts.length);
    const rows: Record<string, unknown>[] = [];
    const tokRows: Record<string, unknown>[] = [];
    for (const { name, text } of texts) {
      const all = lm.tokenizer.encode(text).map((s) => s.id);
      const acc: Record<string, number[]> = { final: [], dola: [], ...Object.fromEntries(layers.map((k) => [`layer ${k}`, []])) };
      let masked = 0;
      let n = 0;
      const chosen = new Map<number, number>();
      const head = lm.bosId === null ? [] : [lm.bosId];
      const step = win - head.length;
      for (let s = 0; s < all.length; s += step) {
        const ids = [...head, ...all.slice(s, s + step)];
        const first = 1; // with BOS every token of the window is scored; without, all but its first
        const sc = await layerScores(lm, ids, first, layers, 0);
        const strict = await layerScores(lm, ids, first, layers, 0.1);
        acc.final.push(...sc.final);
        acc.dola.push(...sc.dola);
        for (const k of layers) acc[`layer ${k}`].push(...sc.premature.get(k)!);
        masked += strict.dola.filter((x) => x === -Infinity).length;
        n += sc.final.length;
        for (const l of sc.dolaLayer) chosen.set(l, (chosen.get(l) ?? 0) + 1);
        if (text === STORY && s === 0) sc.final.forEach((x, i) => tokRows.push({ i, token: lm.tokenizer.tokenLabel(ids[i + first]), final: -x, dola: -sc.dola[i], layer: sc.dolaLayer[i] }));
      }
      for (const [method, lps] of Object.entries(acc)) {
        const nll = -lps.reduce((a, b) => a + b, 0) / lps.length;
        rows.push({ text: name, method, tokens: lps.length, nll_per_token: nll, perplexity: Math.exp(nll) });
      }
      rows.push({ text: name, method: 'DoLa α=0.1: tokens masked', tokens: n, nll_per_token: NaN, perplexity: NaN, masked_fraction: masked / n });
      R.set(`dola_layer_choice_${name.split(' ')[0]}`, Object.fromEntries([...chosen.entries()].sort((a, b) => a[0] - b[0])));
      bar.tick();
    }
    bar.done();
    R.p(
      `Premature layers: ${layers.join(', ')} (of ${lm.config.numLayers}); each is the hidden state after that many layers, read out through the final norm and the LM head. ` +
        'DoLa picks, at every token, the premature layer with the largest Jensen–Shannon divergence from the final layer and scores with log softmax(log q_final − log q_premature). ' +
        'For perplexity no relative-top mask is used (α = 0: every token keeps a finite probability); the row "α=0.1" gives the fraction of true tokens the paper\'s mask would set to probability 0 (infinite perplexity).',
    );
    R.h2('Held-out perplexity');
    R.table(
      ['text', 'scoring', 'tokens', 'NLL / token', 'perplexity'],
      rows.map((r) => [r.text as string, r.method as string, r.tokens as number, r.masked_fraction === undefined ? f(r.nll_per_token as number) : `masked: ${f((r.masked_fraction as number) * 100, 1)}%`, r.masked_fraction === undefined ? f(r.perplexity as number, 2) : '∞ where masked']),
    );
    R.data('perplexity', rows.map((r) => ({ masked_fraction: null, ...r })));
    R.set('perplexity', rows.filter((r) => r.masked_fraction === undefined).map((r) => ({ text: r.text, method: r.method, perplexity: r.perplexity })));
    R.plot('perplexity', 'Perplexity (log scale) of the story under each premature layer alone, the final layer and DoLa', {
      width: 560,
      height: 300,
      marginLeft: 60,
      x: { label: null, domain: [...layers.map((k) => `layer ${k}`), 'final', 'dola'] },
      y: { label: 'perplexity', type: 'log', grid: true },
      marks: [Plot.barY(rows.filter((r) => r.text === texts[0].name && r.masked_fraction === undefined), { x: 'method', y: 'perplexity', fill: '#1f77b4' })],
    });
    R.data('story_tokens', tokRows);
    R.h2('TruthfulQA multiple choice: final layer vs DoLa');
    const all = loadTruthfulqa(ctx.opts.data);
    const qs = pickQuestions(ctx, all, ctx.opts.n ?? (ctx.quick ? 4 : all.length));
    const mc = await evaluateMc(ctx, lm, qs, ['qa'], true, 'dola truthfulqa');
    const sum = summariseMc(ctx, mc);
    const ch = chance(qs);
    R.p(`${qs.length} questions, prompt \`Q: {question}\\nA:\`, chance MC1 ${f(ch.mc1)}, MC2 ${f(ch.mc2)}.`);
    mcTable(ctx, sum);
    mcPlot(ctx, 'truthfulqa', sum, ch);
    R.data('truthfulqa_per_question', mc);
    R.data('truthfulqa_summary', sum);
    R.set('truthfulqa', sum.map((s) => ({ method: s.method, norm: s.norm, mc1: s.mc1, mc2: s.mc2 })));
    R.h2('What this can and cannot show');
    R.p(
      'DoLa rests on the observation that, in large models, factual knowledge sharpens in the late layers, so subtracting an early layer\'s prediction amplifies it. ' +
        'A small model has few layers and little factual knowledge; its early layers mostly predict frequent tokens. ' +
        'Perplexity is expected to get worse under DoLa (it is a different distribution from the one the model was trained to match); the question is only whether the TruthfulQA ranking changes, and with the chance levels above a difference within the intervals is no evidence either way. ' +
        'The per-layer perplexities show how much each layer adds — a useful picture of the model even where DoLa does not help.',
    );
  },
};
