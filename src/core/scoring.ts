// Scoring: the log-prob of every token of a text under a causal LM, with exact character ranges.
//
// The contract, written once: the log-probs at position i score token i+1. With a BOS token
// prepended (as the seed did), the first token of the text is scored too.
//
// Memory stays bounded: logits are produced and consumed one chunk at a time ([1, chunk, vocab]),
// never [tokens, vocab] for the whole text. Texts longer than the model's context are scored with
// a sliding window: each window starts with BOS (when the model has one), keeps `windowContext`
// already-scored tokens as context and scores the next tokens.
import type { CausalLM, KvState } from './model';
import { selectRows } from './model';
import type { TokenSpan } from './types';
import { LensError, throwIfAborted } from './errors';
import type { HeadStats } from './scoring-head';
import { topK } from './math';

export interface TopAlt {
  id: number;
  text: string;
  logprob: number;
}

export interface TokenScore {
  id: number;
  text: string;
  /** UTF-16 offsets into the scored text (not the context). */
  start: number;
  end: number;
  /** ln p(token | everything before), nats; null where there is no prediction. */
  logprob: number | null;
  /** 1 = the model's top choice. */
  rank: number | null;
  /** Entropy of the predictive distribution at this token, nats. */
  entropy: number | null;
  top: TopAlt[];
}

export interface BoundaryInfo {
  /** True when the tokenizer splits the joint text exactly where the context ends, so conditional = joint − marginal. */
  aligned: boolean;
  note?: string;
}

export interface ScoreResult {
  model: string;
  tokens: TokenScore[];
  /** Σ −logprob over scored tokens (conditional on the context when one is given), nats. */
  nll: number;
  /** Tokens that carry a log-prob. */
  n_tokens: number;
  mean_nll: number;
  perplexity: number;
  bits_per_char: number;
  context?: { text: string; separator: string; boundary: BoundaryInfo };
  windows: number;
}

export interface ScoreOptions {
  /** Condition on this text: score −log p(text | context + separator). */
  context?: string;
  /** Between context and text; default one space. */
  separator?: string;
  /** Alternatives per token (default 5; 0 for none). */
  topK?: number;
  /** Prepend the BOS token (default: whenever the model has one). */
  bos?: boolean;
  /** Tokens fed per forward (bounds memory: chunk × vocab floats). Default 256. */
  chunk?: number;
  /** Sliding window: context tokens kept when a new window starts. Default half the context length. */
  windowContext?: number;
  /** Window length override (default and maximum: the model's context). */
  windowSize?: number;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

/** Statistics of one row of logits against a target token. */
export interface RowStats {
  logprob: number;
  rank: number;
  entropy: number;
  top: { id: number; logprob: number }[];
}

/**
 * One row [vocab] of raw logits at `off`: log-prob of `target`, its rank, the entropy, top-k, in
 * float64 JavaScript. The reference for the scoring head (src/core/scoring-head.ts), which computes
 * the same in ONNX Runtime for every scored chunk.
 */
export function rowStats(x: Float32Array, off: number, V: number, target: number, k: number): RowStats {
  let m = -Infinity;
  for (let i = 0; i < V; i++) if (x[off + i] > m) m = x[off + i];
  const xt = x[off + target];
  let s = 0;
  let sx = 0;
  let greater = 0;
  for (let i = 0; i < V; i++) {
    const v = x[off + i];
    const e = Math.exp(v - m);
    s += e;
    if (e > 0) sx += e * (v - m);
    if (v > xt) greater++;
  }
  const lse = m + Math.log(s);
  const entropy = Math.log(s) - sx / s;
  const top = topK(x, k, off, V).map((id) => ({ id, logprob: x[off + id] - lse }));
  return { logprob: xt - lse, rank: greater + 1, entropy, top };
}

interface Plan {
  /** All ids fed to the model: [BOS?] + joint tokens. */
  ids: number[];
  /** Index into `ids` of the first scored token. */
  firstScored: number;
  /** Spans of the scored tokens (relative to the scored text), one per ids[firstScored..]. */
  spans: TokenSpan[];
  boundary?: BoundaryInfo;
}

function planScoring(lm: CausalLM, text: string, opts: ScoreOptions): Plan {
  const bos = opts.bos === false ? null : lm.bosId;
  const head = bos === null ? [] : [bos];
  if (opts.context === undefined) {
    if (text.length === 0) throw new LensError('empty-text', 'Nothing to score: the text is empty.');
    const spans = lm.tokenizer.encode(text);
    const ids = [...head, ...spans.map((s) => s.id)];
    return { ids, firstScored: head.length, spans };
  }
  if (text.length === 0) throw new LensError('empty-text', 'Nothing to score: the text to score after the context is empty.');
  const sep = opts.separator ?? ' ';
  const context = opts.context;
  const offset = context.length + sep.length; // where the scored text starts in the joint string
  const joint = lm.tokenizer.encode(context + sep + text);
  const ctxSpans = context.length ? lm.tokenizer.encode(context) : [];
  // The scored tokens start after the context's own tokens when the joint tokenization begins with
  // them (then conditional = joint − marginal exactly); otherwise at the first token that reaches
  // past the context, and the result says so.
  let n = 0;
  while (n < ctxSpans.length && n < joint.length && joint[n].id === ctxSpans[n].id && joint[n].end === ctxSpans[n].end) n++;
  let aligned = n === ctxSpans.length && (n === joint.length || joint[n].start >= context.length);
  let first = n;
  let note: string | undefined;
  if (!aligned) {
    first = joint.findIndex((s) => s.end > context.length);
    if (first < 0) first = joint.length;
    note =
      `The tokenizer does not split "context${JSON.stringify(sep).slice(1, -1)}text" where the context ends: ` +
      `the token ${JSON.stringify(joint[first]?.text ?? '')} spans the boundary, so it is scored with the text and ` +
      `the conditional NLL differs from joint − marginal.`;
  }
  if (first >= joint.length) throw new LensError('empty-text', 'Nothing to score: the text adds no token after the context.');
  const spans = joint.slice(first).map((s) => ({
    id: s.id,
    text: s.text,
    start: Math.max(0, s.start - offset),
    end: Math.max(0, s.end - offset),
  }));
  // A token holding the separator (GPT-2's " nice") keeps only its text part.
  for (const s of spans) s.text = text.slice(s.start, s.end) || s.text;
  const ids = [...head, ...joint.map((s) => s.id)];
  return { ids, firstScored: head.length + first, spans, boundary: { aligned, ...(note ? { note } : {}) } };
}

/** Scores `text` (optionally conditioned on a context). */
export async function scoreText(lm: CausalLM, text: string, opts: ScoreOptions = {}): Promise<ScoreResult> {
  const plan = planScoring(lm, text, opts);
  const k = opts.topK ?? 5;
  const out: TokenScore[] = plan.spans.map((s) => ({ ...s, logprob: null, rank: null, entropy: null, top: [] }));
  const setScore = (idx: number, st: RowStats) => {
    const t = out[idx - plan.firstScored];
    t.logprob = st.logprob;
    t.rank = st.rank;
    t.entropy = st.entropy;
    t.top = st.top.map((a) => ({ id: a.id, text: lm.tokenizer.tokenLabel(a.id), logprob: a.logprob }));
  };
  const windows = await scoreIds(lm, plan.ids, plan.firstScored, setScore, opts);
  return finish(lm, text, out, windows, opts, plan.boundary);
}

function finish(lm: CausalLM, text: string, tokens: TokenScore[], windows: number, opts: ScoreOptions, boundary?: BoundaryInfo): ScoreResult {
  let nll = 0;
  let n = 0;
  for (const t of tokens) {
    if (t.logprob !== null) {
      nll -= t.logprob;
      n++;
    }
  }
  if (n === 0) {
    throw new LensError('empty-text', 'Nothing to score: the text is a single token and the model has no BOS token to predict it from.');
  }
  return {
    model: lm.dir,
    tokens,
    nll,
    n_tokens: n,
    mean_nll: nll / n,
    perplexity: Math.exp(nll / n),
    bits_per_char: nll / Math.LN2 / Math.max(1, text.length),
    ...(opts.context !== undefined ? { context: { text: opts.context, separator: opts.separator ?? ' ', boundary: boundary! } } : {}),
    windows,
  };
}

/**
 * Runs `ids` through the model (chunked, windowed) and calls `onRow(j, stats)` for every index
 * j ≥ firstScored (j ≥ 1) with the statistics of ids[j] under the row at j−1. Returns the number of windows.
 */
export async function scoreIds(
  lm: CausalLM,
  ids: number[],
  firstScored: number,
  onRow: (j: number, st: RowStats) => void,
  opts: ScoreOptions = {},
): Promise<number> {
  const N = ids.length;
  const M = Math.min(opts.windowSize ?? lm.maxPositions, lm.maxPositions);
  const chunk = Math.max(1, opts.chunk ?? 256);
  const k = opts.topK ?? 5;
  const bos = opts.bos === false ? null : lm.bosId;
  const hasBos = bos !== null && ids[0] === bos ? 1 : 0;
  const from = Math.max(1, firstScored);
  const total = N - from;
  let done = 0;

  // Feed `input` (one row) chunk by chunk; score rows whose next token index (in `ids`) is in [lo, hi).
  const runWindow = async (input: number[], idsIndexOf: (pos: number) => number, lo: number, hi: number) => {
    let state: KvState | undefined;
    for (let p = 0; p < input.length; p += chunk) {
      throwIfAborted(opts.signal);
      const part = input.slice(p, Math.min(input.length, p + chunk));
      const r = await lm.forward([part], { state });
      state = r.state;
      // Rows q of this chunk whose next token ids[j] is to be scored form one contiguous range.
      let qa = -1;
      let qb = -1;
      for (let q = 0; q < part.length; q++) {
        const nextPos = p + q + 1;
        if (nextPos >= input.length) break;
        const j = idsIndexOf(nextPos);
        if (j < lo || j >= hi) continue;
        if (qa < 0) qa = q;
        qb = q + 1;
      }
      if (qa >= 0) {
        const targets: number[] = [];
        for (let q = qa; q < qb; q++) targets.push(ids[idsIndexOf(p + q + 1)]);
        const h = await lm.scoreRows(r.logits, r.vocab, qa, qb - qa, targets, k);
        for (let q = qa; q < qb; q++) {
          const i = q - qa;
          const top: { id: number; logprob: number }[] = [];
          for (let t = 0; t < h.k; t++) top.push({ id: Number(h.topIndices[i * h.k + t]), logprob: h.topValues[i * h.k + t] });
          onRow(idsIndexOf(p + q + 1), { logprob: h.logprob[i], rank: h.rank[i], entropy: h.entropy[i], top });
          done++;
        }
      }
      opts.onProgress?.(done, total);
    }
  };

  if (N <= M) {
    await runWindow(ids, (pos) => pos, from, N);
    return 1;
  }
  // Sliding window over a text longer than the context.
  const ctxKeep = Math.min(opts.windowContext ?? Math.floor(M / 2), M - hasBos - 1);
  if (ctxKeep < 0) throw new LensError('bad-argument', 'window too small');
  let windows = 0;
  let end = Math.min(M, N);
  await runWindow(ids.slice(0, end), (pos) => pos, from, end);
  windows++;
  while (end < N) {
    const step = M - hasBos - ctxKeep; // new tokens scored in this window
    const e = Math.min(end + step, N);
    const begin = Math.max(hasBos, end - ctxKeep); // input: [BOS?] + ids[begin..e), at most M long
    const head = hasBos ? [ids[0]] : [];
    const input = [...head, ...ids.slice(begin, e)];
    await runWindow(input, (pos) => (pos < hasBos ? -1 : begin + pos - hasBos), Math.max(end, from), e);
    windows++;
    end = e;
  }
  return windows;
}

export interface ContinuationsResult {
  /** One result per candidate, in input order. */
  results: ScoreResult[];
  /** Tokens of the shared prefix run once ([BOS] + context). */
  sharedPrefixTokens: number;
  /** Forward passes over the prefix (1: shared). */
  prefixForwards: number;
}

/**
 * Scores several continuations of one context, −log p(candidate | context + separator), running
 * the shared prefix once and all candidates as one right-padded batch on its KV cache.
 */
export async function scoreContinuations(
  lm: CausalLM,
  context: string,
  candidates: string[],
  opts: ScoreOptions = {},
): Promise<ContinuationsResult> {
  if (candidates.length === 0) throw new LensError('bad-argument', 'No candidates to score.');
  const plans = candidates.map((c) => planScoring(lm, c, { ...opts, context }));
  // Shared prefix: the longest common prefix of all plans' ids, capped so each keeps its first scored row.
  let shared = Math.min(...plans.map((p) => p.firstScored));
  for (const p of plans) {
    let i = 0;
    while (i < shared && p.ids[i] === plans[0].ids[i]) i++;
    shared = i;
  }
  const maxLen = Math.max(...plans.map((p) => p.ids.length));
  if (shared < 1 || maxLen > lm.maxPositions || (!lm.io.hasAttentionMask && candidates.length > 1)) {
    // No reusable prefix (no BOS and an empty context) or too long: score each on its own.
    const results: ScoreResult[] = [];
    for (const c of candidates) results.push(await scoreText(lm, c, { ...opts, context }));
    return { results, sharedPrefixTokens: 0, prefixForwards: candidates.length };
  }
  const k = opts.topK ?? 5;
  throwIfAborted(opts.signal);
  const prefix = plans[0].ids.slice(0, shared);
  const pre = await lm.forward([prefix], { keepLast: 1 }); // logits [1, 1, vocab]
  const V = pre.vocab;
  const lastRow = pre.logits.subarray(0, V); // [vocab] at the prefix's last position
  const B = plans.length;
  const tailLen = Math.max(...plans.map((p) => p.ids.length - shared));
  const rows: number[][] = [];
  const masks: Uint8Array[] = [];
  const pad = lm.tokenizer.padId ?? lm.eosIds[0] ?? 0;
  for (const p of plans) {
    const tail = p.ids.slice(shared);
    const m = new Uint8Array(tailLen);
    m.fill(1, 0, tail.length);
    rows.push([...tail, ...Array(tailLen - tail.length).fill(pad)]); // right padding: later pads cannot affect earlier tokens
    masks.push(m);
  }
  throwIfAborted(opts.signal);
  const r = await lm.forward(rows, { state: selectRows(pre.state, Array(B).fill(0)), newMask: masks });
  const toTop = (h: HeadStats, i: number) => {
    const top: TopAlt[] = [];
    for (let t = 0; t < h.k; t++) {
      const id = Number(h.topIndices[i * h.k + t]);
      top.push({ id, text: lm.tokenizer.tokenLabel(id), logprob: h.topValues[i * h.k + t] });
    }
    return top;
  };
  // The first scored token of every candidate is predicted by the prefix's last row.
  const firstStats = await lm.scoreRows(lastRow, V, 0, 1, [plans[0].ids[shared]], k);
  const results: ScoreResult[] = [];
  for (const [b, p] of plans.entries()) {
    const out: TokenScore[] = p.spans.map((s) => ({ ...s, logprob: null, rank: null, entropy: null, top: [] }));
    // Row scoring ids[j] sits at position j−1: the prefix's last row, or row (j−1−shared) of the tail.
    const tailRows = p.ids.length - 1 - shared; // rows of the tail that predict a token of this candidate
    const targets = p.ids.slice(shared + 1);
    const h = tailRows > 0 ? await lm.scoreRows(r.logits, V, b * tailLen, tailRows, targets, k) : null;
    const first = p.ids[shared] === plans[0].ids[shared] ? firstStats : await lm.scoreRows(lastRow, V, 0, 1, [p.ids[shared]], k);
    for (let j = p.firstScored; j < p.ids.length; j++) {
      const [hs, i] = j - 1 < shared ? [first, 0] : [h!, j - 1 - shared];
      const t = out[j - p.firstScored];
      t.logprob = hs.logprob[i];
      t.rank = hs.rank[i];
      t.entropy = hs.entropy[i];
      t.top = toTop(hs, i);
    }
    results.push(finish(lm, candidates[b], out, 1, { ...opts, context }, p.boundary));
  }
  return { results, sharedPrefixTokens: shared, prefixForwards: 1 };
}
