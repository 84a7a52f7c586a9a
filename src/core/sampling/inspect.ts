// What a sampler does to the scores: lets a caller skip re-normalising a row the sampler left alone.
import { SamplerChain, type Sampler } from './sampler';
import { GreedySampler } from './greedy';
import { DistSampler } from './dist';

/** True when `s` only selects a token (greedy / dist, possibly in chains) and never edits the scores. */
export function onlySelects(s: Sampler): boolean {
  if (s instanceof SamplerChain) return s.samplers.every(onlySelects);
  return s instanceof GreedySampler || s instanceof DistSampler;
}
