// Speculative decoding (Leviathan, Kalman & Matias 2023, "Fast Inference from Transformers via
// Speculative Decoding"): a draft model proposes k tokens x_1..x_k from q; the target scores them
// all in ONE forward, giving p_1..p_{k+1}. Token x_i is accepted with probability
// min(1, p_i(x_i) / q_i(x_i)); at the first rejection a token is drawn from
// norm(max(0, p_i − q_i)) and the round ends; when all k are accepted, one more is drawn from
// p_{k+1}. The output is distributed exactly as sampling from the target alone. At temperature 0
// both distributions are one-hot, so the output equals the target's greedy output.
import type { CausalLM, KvState } from '../model';
import { truncateState } from '../model';
import { LensError, throwIfAborted } from '../errors';
import { Rng } from '../sampling/rng';
import { SamplerChain, type Sampler } from '../sampling/sampler';
import { TemperatureSampler } from '../sampling/temperature';
import { TopKSampler } from '../sampling/top-k';
import { TopPSampler } from '../sampling/top-p';
import { MinPSampler } from '../sampling/min-p';
import { sameVocabulary } from './experts';
import { argmax, promptIds, TextStream, type StopReason } from '../generate';

export interface SpeculativeOptions {
  /** Draft tokens per round (default 4). */
  k?: number;
  maxTokens?: number;
  /** temperature 0 = greedy; top-k / top-p / min-p shape both p and q alike. */
  sampling?: { temperature?: number; topK?: number; topP?: number; minP?: number; seed?: number | string };
  stop?: string[];
  stopAtEos?: boolean;
  signal?: AbortSignal;
}

export interface SpeculativeStats {
  rounds: number;
  proposed: number;
  accepted: number;
  /** accepted / proposed. */
  acceptanceRate: number;
  targetForwards: number;
  draftForwards: number;
  /** Generated tokens per target forward (1 without speculation). */
  tokensPerTargetForward: number;
}

export interface SpeculativeResult {
  text: string;
  ids: number[];
  stopReason: StopReason;
  stats: SpeculativeStats;
}

export interface SpeculativeEvent {
  index: number;
  id: number;
  text: string;
  /** Whether the draft proposed this token (false: drawn from the target's residual or bonus row). */
  drafted: boolean;
}

/** Probabilities [vocab] of the processed distribution (the chain's processors, no selection); `row` is not modified. */
function distribution(chain: Sampler | null, row: Float32Array): Float64Array {
  const V = row.length;
  const p = new Float64Array(V);
  const c = { logits: row.slice(), selected: -1 };
  chain?.apply(c);
  let m = -Infinity;
  for (let i = 0; i < V; i++) if (c.logits[i] > m) m = c.logits[i];
  let s = 0;
  for (let i = 0; i < V; i++) {
    const e = c.logits[i] === -Infinity ? 0 : Math.exp(c.logits[i] - m);
    p[i] = e;
    s += e;
  }
  for (let i = 0; i < V; i++) p[i] /= s;
  return p;
}

/** Inverse-CDF draw from unnormalised non-negative weights. */
function draw(w: Float64Array, u: number): number {
  let s = 0;
  for (let i = 0; i < w.length; i++) s += w[i];
  let acc = 0;
  const target = u * s;
  let last = -1;
  for (let i = 0; i < w.length; i++) {
    if (w[i] <= 0) continue;
    last = i;
    acc += w[i];
    if (target < acc) return i;
  }
  return last;
}

export async function* speculativeGenerate(draft: CausalLM, target: CausalLM, prompt: string, opts: SpeculativeOptions = {}): AsyncGenerator<SpeculativeEvent, SpeculativeResult> {
  if (!sameVocabulary(draft, target)) {
    throw new LensError('vocab-mismatch', `The draft (${draft.dir}) and the target (${target.dir}) do not share a tokenizer, so the draft's tokens cannot be verified by the target.`);
  }
  const k = opts.k ?? 4;
  if (!Number.isInteger(k) || k < 1) throw new LensError('bad-argument', `k must be a positive integer, got ${k}`);
  const s = opts.sampling ?? {};
  const T = s.temperature ?? 0;
  const greedy = T === 0;
  const stages: Sampler[] = [];
  if (!greedy) {
    if (s.topK) stages.push(new TopKSampler(s.topK));
    if (s.topP !== undefined && s.topP < 1) stages.push(new TopPSampler(s.topP));
    if (s.minP) stages.push(new MinPSampler(s.minP));
    if (T !== 1) stages.push(new TemperatureSampler(T));
  }
  const chain = new SamplerChain(stages);
  const rng = new Rng(s.seed ?? 0);
  const max = opts.maxTokens ?? 64;
  const eos = opts.stopAtEos === false ? new Set<number>() : new Set(target.eosIds);
  const seq = promptIds(target, prompt);
  const bos = seq[0] === target.bosId ? 1 : 0;
  const stream = new TextStream((x) => target.tokenizer.decode(x), seq.slice(bos));
  const out: number[] = [];
  const stats = { rounds: 0, proposed: 0, accepted: 0, targetForwards: 0, draftForwards: 0 };
  let dState: KvState | undefined;
  let tState: KvState | undefined;
  let dLen = 0; // seq[0..dLen) is in the draft's cache
  let tLen = 0; // seq[0..tLen) is in the target's cache
  let stopReason: StopReason = 'max-tokens';
  const ctx = Math.min(draft.maxPositions, target.maxPositions);

  outer: while (out.length < max) {
    throwIfAborted(opts.signal);
    const kk = Math.min(k, max - out.length, ctx - seq.length - 1);
    if (kk < 0 || seq.length >= ctx) {
      stopReason = 'context-full';
      break;
    }
    stats.rounds++;
    // Draft: feed what it has not seen, then propose kk tokens.
    const drafted: number[] = [];
    const qs: Float64Array[] = [];
    let feed = seq.slice(dLen);
    for (let i = 0; i < kk; i++) {
      const r = await draft.forward([feed], { state: dState, keepLast: 1, ragged: true }); // logits [1, 1, vocab]
      stats.draftForwards++;
      dState = r.state;
      dLen += feed.length;
      const row = r.logits.subarray((r.seq - 1) * r.vocab, r.seq * r.vocab);
      let x: number;
      if (greedy) x = argmax(row); // a one-hot q needs no array
      else {
        const q = distribution(chain, row);
        x = draw(q, rng.nextFloat());
        qs.push(q);
      }
      drafted.push(x);
      feed = [x];
    }
    // Target: one forward over the unseen accepted tokens + all drafted ones.
    const tFeed = [...seq.slice(tLen), ...drafted];
    // Logits for the last drafted + 1 positions only: row i is p(· | seq + drafted[0..i)), [1, kk + 1, vocab].
    const tr = await target.forward([tFeed], { state: tState, keepLast: drafted.length + 1, ragged: true });
    stats.targetForwards++;
    const V = tr.vocab;
    const row = (i: number) => tr.logits.subarray(i * V, (i + 1) * V); // p_{i+1}
    let j = 0;
    let next = -1;
    for (; j < drafted.length; j++) {
      const x = drafted[j];
      if (greedy) {
        // One-hot p and q: accept iff the target's argmax is the drafted token, else take that argmax.
        const best = argmax(row(j));
        if (best !== x) {
          next = best;
          break;
        }
        continue;
      }
      const p = distribution(chain, row(j));
      const q = qs[j];
      if (!(rng.nextFloat() < Math.min(1, p[x] / q[x]))) {
        const resid = new Float64Array(V);
        for (let v = 0; v < V; v++) resid[v] = Math.max(0, p[v] - q[v]);
        next = draw(resid, rng.nextFloat());
        break;
      }
    }
    stats.proposed += drafted.length;
    stats.accepted += j;
    if (next < 0) next = greedy ? argmax(row(drafted.length)) : draw(distribution(chain, row(drafted.length)), rng.nextFloat());
    // Caches keep only accepted tokens.
    const prevLen = seq.length;
    tState = truncateState(tr.state, prevLen + j);
    tLen = prevLen + j;
    const keepDraft = Math.min(dLen, prevLen + j);
    dState = truncateState(dState!, keepDraft);
    dLen = keepDraft;
    const newTokens = [...drafted.slice(0, j), next];
    for (const [n, id] of newTokens.entries()) {
      if (eos.has(id)) {
        stopReason = 'eos';
        break outer;
      }
      seq.push(id);
      out.push(id);
      yield { index: out.length - 1, id, text: stream.push(id), drafted: n < j };
      if (opts.stop?.some((st) => st && stream.text.includes(st))) {
        stopReason = 'stop-string';
        break outer;
      }
      if (out.length >= max) break outer;
    }
  }
  let text = stream.text;
  if (stopReason === 'stop-string') text = text.slice(0, Math.min(...opts.stop!.map((st) => (st ? text.indexOf(st) : -1)).filter((i) => i >= 0)));
  return {
    text,
    ids: out,
    stopReason,
    stats: {
      ...stats,
      acceptanceRate: stats.proposed ? stats.accepted / stats.proposed : 0,
      tokensPerTargetForward: stats.targetForwards ? out.length / stats.targetForwards : 0,
    },
  };
}

export async function speculativeAll(draft: CausalLM, target: CausalLM, prompt: string, opts: SpeculativeOptions = {}): Promise<SpeculativeResult> {
  const it = speculativeGenerate(draft, target, prompt, opts);
  for (;;) {
    const n = await it.next();
    if (n.done) return n.value;
  }
}
