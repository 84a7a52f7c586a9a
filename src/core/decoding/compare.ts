// The seed's extra study: samples from context A alone, B alone, their Product of Experts and the
// concatenated prompt "A B", each with its conditional NLL under A and under B.
import type { CausalLM } from '../model';
import { scoreIds } from '../scoring';
import { expertPromptIds } from './experts';
import { generatePoeAll, type PoePreset } from './poe-generate';
import type { SamplingOptions } from '../sampling/factory';
import { throwIfAborted } from '../errors';

export interface CompareOptions {
  prompt?: string;
  separator?: string;
  samples?: number;
  maxTokens?: number;
  sampling?: SamplingOptions;
  signal?: AbortSignal;
  onSample?: (method: string, index: number) => void;
}

export interface CompareSample {
  text: string;
  ids: number[];
  /** −ln p(sample | A), −ln p(sample | B) over the sampled tokens, nats. */
  nll_under: [number, number];
}

export type CompareMethod = 'A' | 'B' | 'poe' | 'concat';

/** −Σ ln p(ids | prefix) under `lm`, token by token (the sampled tokens, not a re-tokenization). */
export async function nllOfIdsAfter(lm: CausalLM, prefix: number[], ids: number[], signal?: AbortSignal): Promise<number> {
  if (ids.length === 0) return 0;
  let nll = 0;
  await scoreIds(lm, [...prefix, ...ids], prefix.length, (_j, st) => (nll -= st.logprob), { topK: 0, signal });
  return nll;
}

export async function compareContinuations(lm: CausalLM, a: string, b: string, opts: CompareOptions = {}) {
  const n = opts.samples ?? 4;
  const sep = opts.separator ?? ' ';
  const prompt = opts.prompt ?? '';
  const prefA = expertPromptIds(lm, a, prompt, sep);
  const prefB = expertPromptIds(lm, b, prompt, sep);
  const plan: { name: CompareMethod; contexts: string[]; preset: PoePreset }[] = [
    { name: 'A', contexts: [a], preset: 'poe' },
    { name: 'B', contexts: [b], preset: 'poe' },
    { name: 'poe', contexts: [a, b], preset: 'poe' },
    { name: 'concat', contexts: [a, b], preset: 'concat' },
  ];
  const baseSeed = Number(opts.sampling?.seed ?? 0);
  const methods: { name: CompareMethod; samples: CompareSample[] }[] = [];
  for (const m of plan) {
    const samples: CompareSample[] = [];
    for (let k = 0; k < n; k++) {
      throwIfAborted(opts.signal);
      const r = await generatePoeAll(
        m.contexts.map((context) => ({ model: lm, context })),
        { preset: m.preset, prompt, separator: sep, maxTokens: opts.maxTokens ?? 10, sampling: { temperature: 0.7, ...opts.sampling, seed: baseSeed + k }, signal: opts.signal },
      );
      const na = await nllOfIdsAfter(lm, prefA, r.ids, opts.signal);
      const nb = await nllOfIdsAfter(lm, prefB, r.ids, opts.signal);
      samples.push({ text: r.text, ids: r.ids, nll_under: [na, nb] });
      opts.onSample?.(m.name, k);
    }
    methods.push({ name: m.name, samples });
  }
  return { methods };
}
