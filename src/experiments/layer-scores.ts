// Token log-probs of a sequence under the final layer, under premature (early-exit) layers, and
// under DoLa's contrast of the two (Chuang et al. 2023), for scoring rather than generation.
import type { CausalLM } from '../core/model';
import { LensError } from '../core/errors';
import { logProbsAt } from '../core/decoding/rows';
import { combineDola } from '../core/decoding/dola';

export interface LayerTokenScores {
  /** ln p(token) under the final layer, per scored token (nats). */
  final: number[];
  /** ln p(token) under each premature layer read out alone. */
  premature: Map<number, number[]>;
  /** ln p(token) under DoLa (dynamic premature layer, relative-top α); −Infinity where α masks it. */
  dola: number[];
  /** The premature layer DoLa chose at each token. */
  dolaLayer: number[];
}

/** Ids of [BOS?] + tokens(context + separator + text) and the index of the first token of `text`. */
export function continuationIds(lm: CausalLM, context: string, separator: string, text: string): { ids: number[]; first: number } {
  const head = lm.bosId === null ? [] : [lm.bosId];
  if (!context.length) {
    const ids = [...head, ...lm.tokenizer.encode(text).map((s) => s.id)];
    return { ids, first: head.length };
  }
  const joint = lm.tokenizer.encode(context + separator + text);
  const ctx = lm.tokenizer.encode(context);
  // As src/core/scoring.ts: the text starts after the context's own tokens when the joint tokenization
  // begins with them; otherwise at the first token reaching past the context.
  let n = 0;
  while (n < ctx.length && n < joint.length && joint[n].id === ctx[n].id && joint[n].end === ctx[n].end) n++;
  let first = n;
  if (!(n === ctx.length && (n === joint.length || joint[n].start >= context.length))) first = Math.max(0, joint.findIndex((s) => s.end > context.length));
  return { ids: [...head, ...joint.map((s) => s.id)], first: head.length + first };
}

/**
 * Scores ids[first..] (first ≥ 1) with one forward over the whole sequence (it must fit the
 * model's context), reading the final logits and the early-exit logits of `layers`.
 */
export async function layerScores(lm: CausalLM, ids: number[], first: number, layers: number[], alpha = 0): Promise<LayerTokenScores> {
  if (first < 1) throw new LensError('bad-argument', 'layerScores: the first scored token needs a token before it (BOS)');
  if (ids.length > lm.maxPositions) throw new LensError('bad-argument', `layerScores: ${ids.length} tokens exceed the model's context of ${lm.maxPositions}`);
  const r = await lm.forward([ids], { earlyExit: layers }); // logits [1, S, V]; early: layer → [1, S, V]
  const V = r.vocab;
  const out: LayerTokenScores = { final: [], premature: new Map(layers.map((k) => [k, []])), dola: [], dolaLayer: [] };
  for (let j = first; j < ids.length; j++) {
    const at = (x: Float32Array) => x.subarray((j - 1) * V, j * V); // the row at position j−1 predicts ids[j]
    const fin = at(r.logits);
    out.final.push(logProbsAt('final', fin)[ids[j]]);
    const pre = layers.map((k) => at(r.early.get(k)!));
    pre.forEach((row, i) => out.premature.get(layers[i])!.push(logProbsAt('premature', row)[ids[j]]));
    if (layers.length) {
      const d = combineDola([fin, ...pre], { alpha, layers });
      out.dola.push(d.logProbs[ids[j]]);
      out.dolaLayer.push(d.premature!.layer);
    }
  }
  return out;
}

/** The early-exit layers DoLa can contrast with (all but the final layer). */
export async function prematureLayers(lm: CausalLM): Promise<number[]> {
  return (await lm.earlyExitLayers()).filter((k) => k !== lm.config.numLayers);
}
