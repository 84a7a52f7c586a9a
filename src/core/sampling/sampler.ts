// The one sampling interface (modelled on llama.cpp's llama_sampler_i): logits processors and final
// samplers are both `Sampler`s, and a `SamplerChain` of them is itself a `Sampler`.
// Scores are logits in nats (any per-row additive constant is irrelevant; log-probs are valid logits).

/** One step's candidates: a row of scores over the whole vocabulary. Processors edit `logits` in place (−Infinity removes a token); a final sampler sets `selected`. */
export interface Candidates {
  /** [vocab] scores (nats, up to an additive constant); −Infinity = removed. */
  logits: Float32Array;
  /** Chosen token id; −1 until a final sampler (greedy, dist) chooses. */
  selected: number;
  /** log Σ exp(logits) as the final sampler saw them, when it computed it (dist does), nats. */
  lse?: number;
}

export interface Sampler {
  readonly name: string;
  /** Transform scores and/or select a token. */
  apply(c: Candidates): void;
  /** The token actually appended to the sequence (stateful samplers such as the repetition penalty record it). */
  accept(token: number): void;
  /** Start over: forget every seen token (repetition penalty), rewind `dist`'s RNG to its starting state. */
  reset(): void;
  /** Independent copy including all state (accepted tokens, RNG position). */
  clone(): Sampler;
}

/** A chain is itself a Sampler: `apply` runs each member in order; accept/reset/clone forward to every member. */
export class SamplerChain implements Sampler {
  readonly samplers: readonly Sampler[];
  constructor(samplers: readonly Sampler[]) {
    this.samplers = [...samplers];
  }
  get name(): string {
    return `chain(${this.samplers.map((s) => s.name).join(' → ')})`;
  }
  apply(c: Candidates): void {
    for (const s of this.samplers) s.apply(c);
  }
  accept(token: number): void {
    for (const s of this.samplers) s.accept(token);
  }
  reset(): void {
    for (const s of this.samplers) s.reset();
  }
  clone(): SamplerChain {
    return new SamplerChain(this.samplers.map((s) => s.clone()));
  }
}

/** Fresh candidates over a COPY of `logits` ([vocab], nats), so the caller's row is never edited. */
export function makeCandidates(logits: Float32Array | Float64Array): Candidates {
  return { logits: Float32Array.from(logits), selected: -1 };
}

/**
 * One sampling step: copies `logits` ([vocab] nats), runs `sampler.apply`, then `sampler.accept(token)`
 * (pass `{ accept: false }` to skip that). Throws if the sampler selected nothing (a chain without a
 * final greedy/dist sampler).
 */
export function sampleToken(sampler: Sampler, logits: Float32Array | Float64Array, opts: { accept?: boolean } = {}): number {
  const c = makeCandidates(logits);
  sampler.apply(c);
  if (c.selected < 0) throw new Error(`sampler ${sampler.name} selected no token (does the chain end with greedy or dist?)`);
  if (opts.accept !== false) sampler.accept(c.selected);
  return c.selected;
}

/** Feeds already-present tokens (e.g. the prompt, as HF's repetition penalty sees all input_ids) through `accept`. */
export function acceptTokens(sampler: Sampler, tokens: Iterable<number>): void {
  for (const t of tokens) sampler.accept(t);
}

/** Index of the largest finite entry of `x`, ties → lowest id; −1 if every entry is −Infinity (or NaN). */
export function argmaxFinite(x: Float32Array | Float64Array): number {
  let best = -1;
  let bv = -Infinity;
  for (let i = 0; i < x.length; i++) {
    if (x[i] > bv) { bv = x[i]; best = i; }
  }
  return best;
}
