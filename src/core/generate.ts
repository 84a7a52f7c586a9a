// Generation from one model with the KV cache: an async generator of one event per token.
import type { CausalLM, KvState } from './model';
import { LensError, throwIfAborted } from './errors';
import { logSumExp } from './math';
import { NATIVE_ROW_MIN_VOCAB } from './scoring-head';
import type { Candidates, Sampler } from './sampling/sampler';
import { onlySelects } from './sampling/inspect';

export interface GenerateOptions {
  /** New tokens at most (default 64). */
  maxTokens?: number;
  /** Token choice; default greedy (argmax, ties → lowest id). */
  sampler?: Sampler;
  /** Stop after a string appears in the generated text (the stop string is kept out of the text). */
  stop?: string[];
  /** Stop at the model's EOS tokens (default true). */
  stopAtEos?: boolean;
  /** Prepend BOS (default: whenever the model has one). */
  bos?: boolean;
  signal?: AbortSignal;
}

export interface TokenEvent {
  /** Index of the generated token (0-based). */
  index: number;
  id: number;
  /** The text this token adds (held back while a UTF-8 character is incomplete, then released). */
  text: string;
  /** ln p(token) under the distribution it was drawn from (after processors), nats. */
  logprob: number;
  /** ln p(token) under the model's raw distribution (temperature 1), nats. */
  rawLogprob: number;
}

export type StopReason = 'max-tokens' | 'eos' | 'stop-string' | 'context-full';

export interface GenerateResult {
  text: string;
  ids: number[];
  tokens: TokenEvent[];
  stopReason: StopReason;
}

/** Greedy choice over a row: argmax, lowest id on ties. */
export function argmax(x: Float32Array, off = 0, n = x.length - off): number {
  let best = 0;
  let bv = -Infinity;
  for (let i = 0; i < n; i++) {
    if (x[off + i] > bv) {
      bv = x[off + i];
      best = i;
    }
  }
  return best;
}

/**
 * Incremental detokenizer (the prefix/read-offset scheme of text-generation-inference): each new
 * id's text is decode(ids[prefix..]) minus decode(ids[prefix..read]), so the cost per token is a
 * few tokens, not the whole sequence. Held back while the tail is an incomplete UTF-8 sequence ("�").
 */
export class TextStream {
  private ids: number[];
  private prefix: number;
  private read: number;
  private out = '';
  /** `prefixIds`: the prompt's tokens (without BOS), so the first new token keeps its leading space. */
  constructor(
    private decode: (ids: number[]) => string,
    prefixIds: number[] = [],
  ) {
    this.ids = [...prefixIds];
    this.prefix = Math.max(0, prefixIds.length - 5);
    this.read = prefixIds.length;
  }
  push(id: number): string {
    this.ids.push(id);
    const prev = this.prefix < this.read ? this.decode(this.ids.slice(this.prefix, this.read)) : '';
    const cur = this.decode(this.ids.slice(this.prefix));
    if (cur.length <= prev.length || cur.endsWith('\uFFFD')) return '';
    const piece = cur.startsWith(prev) ? cur.slice(prev.length) : cur.slice(commonPrefix(cur, prev));
    this.out += piece;
    this.prefix = this.read;
    this.read = this.ids.length;
    return piece;
  }
  /** The generated text (after the prompt). */
  get text(): string {
    return this.out;
  }
}

function commonPrefix(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

/** Encodes a prompt for generation: [BOS?] + tokens(prompt). An empty prompt needs a BOS. */
export function promptIds(lm: CausalLM, prompt: string, bos?: boolean): number[] {
  const head = bos === false || lm.bosId === null ? [] : [lm.bosId];
  const ids = [...head, ...(prompt.length ? lm.tokenizer.encode(prompt).map((s) => s.id) : [])];
  if (ids.length === 0) throw new LensError('empty-text', 'The prompt is empty and the model has no BOS token to start from.');
  return ids;
}

/** Generates from `prompt`, yielding one event per token. */
export async function* generate(lm: CausalLM, prompt: string, opts: GenerateOptions = {}): AsyncGenerator<TokenEvent, GenerateResult> {
  const ids = promptIds(lm, prompt, opts.bos);
  if (ids.length >= lm.maxPositions) {
    throw new LensError('bad-argument', `The prompt has ${ids.length} tokens, which leaves no room in the model's context of ${lm.maxPositions}: shorten it.`);
  }
  const max = opts.maxTokens ?? 64;
  const eos = opts.stopAtEos === false ? new Set<number>() : new Set(lm.eosIds);
  const sampler = opts.sampler;
  const selectOnly = sampler ? onlySelects(sampler) : true;
  sampler?.reset();
  for (const id of ids) sampler?.accept(id);
  const bosLen = ids[0] === lm.bosId ? 1 : 0;
  const stream = new TextStream((x) => lm.tokenizer.decode(x), ids.slice(bosLen));
  const out: number[] = [];
  const events: TokenEvent[] = [];
  let state: KvState | undefined;
  let feed = ids;
  let stopReason: StopReason = 'max-tokens';
  for (let step = 0; step < max; step++) {
    throwIfAborted(opts.signal);
    if ((state?.pastLen ?? 0) + feed.length > lm.maxPositions) {
      stopReason = 'context-full';
      break;
    }
    const r = await lm.forward([feed], { state, keepLast: 1, ragged: true }); // logits [1, 1, vocab]: the next token's
    state = r.state;
    const V = r.vocab;
    const row = r.logits.subarray((r.seq - 1) * V, r.seq * V); // [vocab] at the last position (this step's own buffer)
    // Native LogSoftmax pays off on large vocabularies, and gives the greedy argmax with the lse.
    const native = V >= NATIVE_ROW_MIN_VOCAB ? await lm.rowLseArgmax(row) : null;
    const rawLse = native ? native.lse : logSumExp(row);
    let id: number;
    let logprob: number;
    if (sampler) {
      const cand: Candidates = { logits: row.slice(), selected: -1 };
      sampler.apply(cand);
      id = cand.selected >= 0 ? cand.selected : argmax(cand.logits);
      logprob = cand.logits[id] - (selectOnly ? rawLse : (cand.lse ?? logSumExp(cand.logits)));
      sampler.accept(id);
    } else {
      id = native ? native.argmax : argmax(row);
      logprob = row[id] - rawLse;
    }
    const rawLogprob = row[id] - rawLse;
    if (eos.has(id)) {
      stopReason = 'eos';
      break;
    }
    out.push(id);
    const piece = stream.push(id);
    const ev: TokenEvent = { index: step, id, text: piece, logprob, rawLogprob };
    events.push(ev);
    if (opts.stop?.length) {
      const hit = opts.stop.map((s) => (s ? stream.text.indexOf(s) : -1)).filter((i) => i >= 0);
      if (hit.length) {
        yield ev;
        stopReason = 'stop-string';
        return { text: stream.text.slice(0, Math.min(...hit)), ids: out, tokens: events, stopReason };
      }
    }
    yield ev;
    feed = [id];
  }
  return { text: stream.text, ids: out, tokens: events, stopReason };
}

/** Runs `generate` to the end and returns the result. */
export async function generateAll(lm: CausalLM, prompt: string, opts: GenerateOptions = {}): Promise<GenerateResult> {
  const it = generate(lm, prompt, opts);
  for (;;) {
    const n = await it.next();
    if (n.done) return n.value;
  }
}
