// Sampling: one Sampler interface for logits processors and final samplers (see sampler.ts).
export { type Candidates, type Sampler, SamplerChain, makeCandidates, sampleToken, acceptTokens, argmaxFinite } from './sampler';
export { Rng, type Seed, type RngState, fnv1a32, seedToUint32, splitmix32State } from './rng';
export { TemperatureSampler } from './temperature';
export { TopKSampler } from './top-k';
export { TopPSampler } from './top-p';
export { MinPSampler } from './min-p';
export { RepetitionPenaltySampler } from './repetition-penalty';
export { GreedySampler } from './greedy';
export { DistSampler } from './dist';
export { buildSamplerChain, type SamplingOptions } from './factory';
