import { DistSampler } from './dist';
import { GreedySampler } from './greedy';
import { MinPSampler } from './min-p';
import { RepetitionPenaltySampler } from './repetition-penalty';
import type { Seed } from './rng';
import { SamplerChain, type Sampler } from './sampler';
import { TemperatureSampler } from './temperature';
import { TopKSampler } from './top-k';
import { TopPSampler } from './top-p';

export interface SamplingOptions {
  /** Softmax temperature; 0 = greedy. Default 1. */
  temperature?: number;
  /** Keep the k best tokens; 0 = off (default). */
  topK?: number;
  /** Nucleus mass in (0, 1]; 1 = off (default). */
  topP?: number;
  /** Keep p ≥ minP · p_max, in [0, 1]; 0 = off (default). */
  minP?: number;
  /** CTRL/HF repetition penalty > 0; 1 = off (default). Feed prompt tokens through `accept` to match HF. */
  repetitionPenalty?: number;
  /** Seed of the `dist` sampler's RNG (xoshiro128**, see rng.ts). Default 0. */
  seed?: Seed;
}

/**
 * The standard chain. Order (disabled stages are left out):
 *
 *   repetition penalty → top-k → top-p → min-p → temperature → dist
 *
 * Temperature comes AFTER the truncation stages (llama.cpp's default order; the order argued for in the
 * min-p paper, Nguyen et al. 2024). HF `generate` does the opposite: its TemperatureLogitsWarper runs
 * before top-k / top-p / min-p, so there a high temperature flattens the row first and lets more of the
 * tail into the nucleus / over the min-p bar. We choose truncation-first because then the set of
 * admissible tokens is decided on the model's own (penalised) distribution and does not depend on T;
 * temperature only reshapes probabilities inside that trusted set. (top-k is unaffected by the choice;
 * top-p and min-p are not, for T ≠ 1.) To reproduce HF exactly, build a SamplerChain by hand with
 * TemperatureSampler first.
 *
 * temperature = 0 ⇒ repetition penalty → greedy (argmax, ties → lowest id). The truncation stages are
 * omitted there because none of them can remove the argmax (each keeps the best token, ties → lowest id).
 */
export function buildSamplerChain(opts: SamplingOptions = {}): SamplerChain {
  const { temperature = 1, topK = 0, topP = 1, minP = 0, repetitionPenalty = 1, seed = 0 } = opts;
  const stages: Sampler[] = [];
  // Constructing each stage validates its parameter even when the stage is a no-op.
  const rep = new RepetitionPenaltySampler(repetitionPenalty);
  const temp = new TemperatureSampler(temperature);
  const k = new TopKSampler(topK);
  const p = new TopPSampler(topP);
  const mp = new MinPSampler(minP);
  if (repetitionPenalty !== 1) stages.push(rep);
  if (temperature === 0) {
    stages.push(new GreedySampler());
    return new SamplerChain(stages);
  }
  if (topK > 0) stages.push(k);
  if (topP < 1) stages.push(p);
  if (minP > 0) stages.push(mp);
  if (temperature !== 1) stages.push(temp);
  stages.push(new DistSampler(seed));
  return new SamplerChain(stages);
}
