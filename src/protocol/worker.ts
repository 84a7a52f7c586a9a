// The typed request/response protocol between a host (extension, CLI, tests) and the inference
// worker. Every request carries an id; the worker answers with exactly one `result` or `error` for
// it, possibly preceded by `progress` and `event` messages with the same id.
import type { LoadOptions } from '../core/model';
import type { ScoreResult, ContinuationsResult } from '../core/scoring';
import type { GenerateResult, TokenEvent } from '../core/generate';
import type { LensErrorCode } from '../core/errors';

export interface ModelInfo {
  handle: string;
  dir: string;
  provider: string;
  providerNote: string | null;
  vocab: number;
  context: number;
  describe: Record<string, unknown>;
}

/** Plain-data options (no functions, no AbortSignal: cancellation is its own message). */
export interface ScoreParams {
  model: string;
  text: string;
  context?: string;
  separator?: string;
  topK?: number;
  bos?: boolean;
  chunk?: number;
  windowContext?: number;
}

export interface SamplingParams {
  temperature?: number;
  topK?: number;
  topP?: number;
  minP?: number;
  repetitionPenalty?: number;
  seed?: number;
}

export interface GenerateParams {
  model: string;
  prompt: string;
  maxTokens?: number;
  stop?: string[];
  sampling?: SamplingParams;
}

export type PresetName = 'poe' | 'concat' | 'cfg' | 'dexperts' | 'contrastive' | 'dola';

/** Product-of-Experts generation: each expert sees its context + separator + prompt. */
export interface PoeParams {
  model: string;
  /** One context per expert (for cfg: [with context, without]; dexperts: [base, expert, anti]; contrastive: [expert, amateur]). */
  contexts: string[];
  /** Text to continue (appended after each context); may be empty. */
  prompt?: string;
  separator?: string;
  weights?: number[];
  preset?: PresetName;
  combine?: 'logprobs' | 'logits';
  /** Preset strength (cfg/dexperts α, contrastive λ). */
  alpha?: number;
  maxTokens?: number;
  stop?: string[];
  sampling?: SamplingParams;
}

export interface PoeToken {
  id: number;
  text: string;
  /** ln p under the combined distribution, nats. */
  logprob: number;
  /** ln p under each expert (its own context, temperature 1), nats. */
  expert_logprobs: number[];
}

export interface PoeResult {
  text: string;
  tokens: PoeToken[];
  /** Conditional NLL of the generated text under each expert's context, nats. */
  nll_under: number[];
  /** A label per expert. */
  experts: string[];
  stopReason: string;
}

/** The seed's study: A alone, B alone, PoE(A, B) and "A B" concatenated, N samples each. */
export interface CompareParams {
  model: string;
  contexts: [string, string];
  prompt?: string;
  separator?: string;
  samples?: number;
  maxTokens?: number;
  sampling?: SamplingParams;
}

export interface CompareSample {
  text: string;
  /** −ln p(text | A), −ln p(text | B), nats. */
  nll_under: [number, number];
}

export interface CompareResult {
  methods: { name: 'A' | 'B' | 'poe' | 'concat'; samples: CompareSample[] }[];
}

/** kind → params and result. */
export interface WorkerMethods {
  load: { params: { dir: string; options?: LoadOptions }; result: ModelInfo };
  unload: { params: { model: string }; result: { unloaded: boolean } };
  score: { params: ScoreParams; result: ScoreResult };
  scoreContinuations: {
    params: { model: string; context: string; candidates: string[]; separator?: string; topK?: number };
    result: ContinuationsResult;
  };
  generate: { params: GenerateParams; result: GenerateResult };
  poe: { params: PoeParams; result: PoeResult };
  compare: { params: CompareParams; result: CompareResult };
  ping: { params: Record<string, never>; result: { pong: true; models: string[] } };
  /** Test hook: crash the worker thread (to exercise restart). */
  crash: { params: Record<string, never>; result: never };
}

export type MethodName = keyof WorkerMethods;

export type WorkerRequest = {
  [K in MethodName]: { type: 'request'; id: number; method: K; params: WorkerMethods[K]['params'] };
}[MethodName];

export type CancelMessage = { type: 'cancel'; id: number };

export type HostToWorker = WorkerRequest | CancelMessage;

export type WorkerToHost =
  | { type: 'result'; id: number; result: unknown }
  | { type: 'error'; id: number; code: LensErrorCode | 'internal'; message: string }
  | { type: 'progress'; id: number; done: number; total: number }
  | { type: 'event'; id: number; event: TokenEvent | PoeToken };

/** Runtime check of a message from the host (the worker validates everything it receives). */
export function isHostToWorker(m: unknown): m is HostToWorker {
  if (typeof m !== 'object' || m === null) return false;
  const o = m as Record<string, unknown>;
  if (typeof o.id !== 'number') return false;
  if (o.type === 'cancel') return true;
  return o.type === 'request' && typeof o.method === 'string' && typeof o.params === 'object' && o.params !== null;
}
