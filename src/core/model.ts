// A causal LM loaded from a model folder (Hugging Face / Optimum / transformers.js layout) and run
// with ONNX Runtime. The graph's inputs and outputs are discovered from the session, not assumed.
//
// Scoring contract (written once, here): the log-probs at position i score token i+1.
import * as ort from 'onnxruntime-node';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { ModelConfig } from './types';
import { readModelConfig } from './config';
import { LensError } from './errors';
import { LensTokenizer } from './tokenizer';
import { halfToFloat } from './half';
import { ScoringHead, type HeadStats } from './scoring-head';
import { countParameters } from './onnx/inspect';
import { deriveEarlyExits, derivableLayers } from './onnx/early-exit';
import { deriveLogitsToKeep, LOGITS_TO_KEEP } from './onnx/logits-to-keep';
import onnxProto from 'onnx-proto';
import { inPlaceCacheModel, newKeyValueName, ATTN_BIAS, ATTN_BIAS_NEW, ATTN_BIAS_PAST, type CacheAttention } from './onnx/in-place-cache';

export type Provider = 'cpu' | 'cuda' | 'webgpu';

export interface LoadOptions {
  /** Intra-op threads (default 2; spinning is turned off). */
  threads?: number;
  /**
   * Intra-op threads of the session that runs small steps (at most DECODE_STEP_MAX_TOKENS new
   * tokens: generation's decode steps, speculative verification) when it differs from `threads`.
   * Default: 1 for a small model on the CPU (about DECODE_SESSION_MAX_PARAMS parameters or fewer,
   * estimated from config.json), else `threads` (one session for everything). A decode step of a
   * small model is a chain of small kernels: handing each to a second, sleeping thread costs more
   * than it saves (english-base, 3.6M: 1.3× faster per token on 1 thread; a random 11M Llama with
   * V = 32,000: 6–9% slower; docs/performance.md). The second session holds another copy of the
   * weights, which the size limit keeps small.
   */
  decodeThreads?: number;
  /** Execution provider; falls back to CPU with a note when it cannot load. */
  provider?: Provider;
  /** ONNX file relative to the folder; default: first of ONNX_CANDIDATES present. */
  onnxFile?: string;
  /**
   * Give a graph that `lens export` wrote the `num_logits_to_keep` input at load (default true; see
   * ForwardOptions.keepLast). false runs the file's graph as it is (benchmarks compare the two).
   */
  logitsToKeep?: boolean;
  /**
   * Let decoding loops use the ragged in-place KV cache where the model has one (default true; CPU
   * only; see ForwardOptions.ragged). false keeps every step on the padded cache.
   */
  raggedCache?: boolean;
  /**
   * How the ragged cache's graph attends over the cache buffer (src/core/onnx/in-place-cache.ts,
   * CacheAttention): 'fused' (default) or 'plain', which is faster once rows hold several hundred
   * cached positions of a model with wide keys.
   */
  cacheAttention?: CacheAttention;
}

/** Graphs up to this size get num_logits_to_keep at load (the file is read and re-encoded once). */
const DERIVE_MAX_BYTES = 1 << 30;

/** Whether a model file is one the engine derives graphs from (a Llama file small enough to re-encode). */
function derivesGraphs(config: ModelConfig, onnxPath: string): boolean {
  return config.modelType === 'llama' && statSync(onnxPath).size < DERIVE_MAX_BYTES;
}
/** Steps with at most this many new tokens (batch × sequence) run on the decode session. */
export const DECODE_STEP_MAX_TOKENS = 8;
/** Models up to about this many parameters get a single-threaded decode session by default. */
export const DECODE_SESSION_MAX_PARAMS = 6_000_000;

/**
 * Rough parameter count from config.json alone (no file read): embedding V·D plus, per layer, the
 * attention projections D·hd·(2H + 2·KV) and a feed-forward block of ~8·D² (SwiGLU with F ≈ 8D/3, or
 * GPT-2's 4D MLP). english-base: 3.7M (actual 3.57M); the random 11M Llama: 11.1M.
 */
export function estimateParameters(c: ModelConfig): number {
  const D = c.hiddenSize;
  return c.vocabSize * D + c.numLayers * (D * c.headDim * (2 * c.numHeads + 2 * c.numKvHeads) + 8 * D * D);
}

/** Where an ONNX decoder may sit in a model folder, in order of preference. */
export const ONNX_CANDIDATES = ['onnx/model.onnx', 'model.onnx', 'onnx/decoder_model_merged.onnx', 'onnx/decoder_model.onnx'];

type KvType = 'float32' | 'float16';

/** What the graph takes and gives, discovered from the inference session. */
export interface GraphIO {
  inputIdsType: 'int64' | 'int32';
  hasAttentionMask: boolean;
  hasPositionIds: boolean;
  hasUseCacheBranch: boolean;
  kvType: KvType;
  numLayers: number; // number of past_key_values.{i}.key inputs
  logitsType: 'float32' | 'float16';
  /** Early-exit outputs `logits_layer_{k}` present in the graph, by layer k. */
  earlyExit: number[];
  /**
   * The session's graph takes `num_logits_to_keep` (derived at load for graphs `lens export` wrote,
   * src/core/onnx/logits-to-keep.ts), so a step that needs only the last position's logits computes
   * the LM head there alone.
   */
  logitsToKeep: boolean;
  inputs: { name: string; type: string; shape: (number | string)[] }[];
  outputs: { name: string; type: string; shape: (number | string)[] }[];
}

/**
 * The KV cache of a batch of rows. Two kinds:
 * - padded (the graph's own cache): every row has pastLen positions, shorter rows left-padded;
 *   tensors[2*i] / tensors[2*i+1]: layer i key / value, each [batch, kvHeads, pastLen, headDim], and
 *   mask[b][p] = 1 for a real token at cached position p, 0 for padding. A value: forwarding on it
 *   makes a new state and leaves it as it was.
 * - ragged (`ragged` set; tensors and mask empty): each row has its own length and no padding, in
 *   buffers the engine appends to in place (src/core/onnx/in-place-cache.ts). pastLen is the longest
 *   row. Forwarding on it (or truncating it) supersedes it: only the newest state of a store can be
 *   used again, an older one gets a clear error (branch with selectRows, which copies).
 */
export interface KvState {
  batch: number;
  pastLen: number;
  tensors: ort.Tensor[];
  mask: Uint8Array[];
  ragged?: RaggedState;
}

/** Buffers of a ragged cache: per layer and kind, [batch, kvHeads, capacity, headDim] float32. */
class RaggedStore {
  /** Bumped by every step and truncation; a state made at an older version is stale. */
  version = 0;
  constructor(
    readonly batch: number,
    readonly kvHeads: number,
    readonly headDim: number,
    public capacity: number,
    public bufs: Float32Array[],
  ) {}

  /**
   * Grows every buffer to hold `need` positions per row, at most `max`. A step reads a row's whole
   * capacity (the slack is masked), so the buffer grows by an eighth (at least 16 positions), in
   * multiples of 16: the slack stays small, and the copies cost a few positions per step amortised.
   */
  ensure(need: number, max: number): void {
    if (need <= this.capacity) return;
    const grown = Math.max(need, this.capacity + Math.max(16, this.capacity >> 3));
    const cap = Math.min(max, Math.ceil(grown / 16) * 16); // ≥ need, as need ≤ max
    const { batch, kvHeads: KV, headDim: hd } = this;
    this.bufs = this.bufs.map((old) => {
      const b = new Float32Array(batch * KV * cap * hd); // [batch, kvHeads, capacity, headDim]
      for (let r = 0; r < batch * KV; r++) b.set(old.subarray(r * this.capacity * hd, (r + 1) * this.capacity * hd), r * cap * hd);
      return b;
    });
    this.capacity = cap;
  }
}

export interface RaggedState {
  store: RaggedStore;
  /** [batch] each row's cached positions. */
  lengths: number[];
  /** The store's version when this state was made. */
  version: number;
}

export interface ForwardResult {
  batch: number;
  /** Positions that have logits: the new tokens' count, or `keepLast`. */
  seq: number;
  vocab: number;
  /** Raw logits, [batch, seq, vocab] row-major (float32 even when the graph gives float16). */
  logits: Float32Array;
  /** Early-exit logits by layer, each [batch, seq, vocab]; only when requested. */
  early: Map<number, Float32Array>;
  /** The cache after this step (pastLen + seq positions). */
  state: KvState;
}

export interface ForwardOptions {
  state?: KvState;
  /** Per row, 1 for a real token and 0 for padding in the new tokens; default all 1. */
  newMask?: Uint8Array[];
  /** Early-exit layers to fetch (must exist in the graph). */
  earlyExit?: number[];
  /**
   * Start a ragged in-place cache when no state is given (decoding loops ask for it; see KvState):
   * no padding in the cache, and each step writes only its new positions. Taken where the model has
   * the graph for it (a fused Llama export on the CPU, LoadOptions.raggedCache), else the padded cache
   * serves. Not with early exits.
   */
  ragged?: boolean;
  /**
   * Logits (and early-exit logits) for each row's last `keepLast` positions only: [batch, keepLast,
   * vocab] (default: every new position). Generation needs 1, speculative verification k + 1. On graphs
   * with `num_logits_to_keep` the LM head then runs on those positions alone (a prefill of S tokens
   * saves S − 1 rows of the head), elsewhere they are copied out of the full logits.
   */
  keepLast?: number;
}

/** The ONNX file of a model folder: `onnxFile` (relative to it) when given, else the first of the usual places. */
export function findOnnx(dir: string, onnxFile?: string): string {
  if (onnxFile) {
    const p = join(dir, onnxFile);
    if (!existsSync(p)) throw new LensError('missing-file', `ONNX file not found: ${p}`);
    return p;
  }
  for (const c of ONNX_CANDIDATES) {
    const p = join(dir, c);
    if (existsSync(p)) return p;
  }
  throw new LensError('missing-file', `No ONNX model in ${dir}: looked for ${ONNX_CANDIDATES.join(', ')}`);
}

function sessionOptions(threads: number, provider: Provider): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: [provider],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
  };
}

interface RaggedSessions {
  /** Prefill and larger steps (`threads`). */
  main: ort.InferenceSession;
  /** Steps of at most DECODE_STEP_MAX_TOKENS new tokens (`decodeThreads`; the same session when equal). */
  decode: ort.InferenceSession;
  /** The graph takes num_logits_to_keep. */
  keep: boolean;
}

/** A session from a file path or from graph bytes. */
function createSession(src: string | Uint8Array, opts: ort.InferenceSession.SessionOptions): Promise<ort.InferenceSession> {
  return typeof src === 'string' ? ort.InferenceSession.create(src, opts) : ort.InferenceSession.create(src, opts);
}

function meta(m: readonly ort.InferenceSession.ValueMetadata[]): GraphIO['inputs'] {
  return m.map((v) => ({
    name: v.name,
    type: v.isTensor ? v.type : 'non-tensor',
    shape: v.isTensor ? [...v.shape] : [],
  }));
}

export class CausalLM {
  /** Time spent inside ONNX Runtime's session.run (for benchmarks: the share of time outside it is our overhead). */
  readonly runStats = { runs: 0, runMs: 0 };
  private readonly head: ScoringHead;
  /** The graph with early-exit heads derived from the plain one (src/core/onnx/early-exit.ts), made on first use. */
  private derived: Promise<{ session: ort.InferenceSession; layers: number[] }> | null = null;
  /** The session for small steps (LoadOptions.decodeThreads), made on first use; null: the main session runs them. */
  private decodeSession: Promise<ort.InferenceSession> | null = null;
  /** Sessions of the ragged in-place cache graph, made on first use; null inside: the model has none. */
  private ragged: Promise<RaggedSessions | null> | null = null;

  private constructor(
    readonly dir: string,
    readonly onnxPath: string,
    readonly config: ModelConfig,
    readonly tokenizer: LensTokenizer,
    readonly io: GraphIO,
    /** Vocabulary size of the logits (may exceed the tokenizer's when the model pads it). */
    readonly vocab: number,
    readonly provider: Provider,
    /** Set when the requested provider could not be used. */
    readonly providerNote: string | null,
    private session: ort.InferenceSession,
    /** What the sessions were made from: the file, or the graph derived from it with num_logits_to_keep. */
    private readonly graphSource: string | Uint8Array,
    private readonly threads: number,
    /** Intra-op threads of small steps (LoadOptions.decodeThreads); equal to `threads` when one session runs everything. */
    readonly decodeThreads: number = threads,
    private readonly raggedAllowed = false,
    /** The ragged cache graph's attention (LoadOptions.cacheAttention). */
    readonly cacheAttention: CacheAttention = 'fused',
  ) {
    this.head = new ScoringHead(threads);
  }

  /** The session a step of `tokens` new tokens (batch × sequence) runs on. */
  private async sessionFor(tokens: number): Promise<ort.InferenceSession> {
    if (this.decodeThreads === this.threads || tokens > DECODE_STEP_MAX_TOKENS) return this.session;
    this.decodeSession ??= createSession(this.graphSource, sessionOptions(this.decodeThreads, this.provider));
    return this.decodeSession;
  }

  /**
   * The layers whose early-exit logits `forward` can give: the graph's own outputs, else (for a plain
   * Llama graph written by `lens export`, such as the zoo's models) layers 1..L−1 through a second
   * session whose graph clones the final head onto each earlier layer. [] when neither is possible.
   */
  async earlyExitLayers(): Promise<number[]> {
    if (this.io.earlyExit.length) return this.io.earlyExit;
    try {
      return (await this.derivedSession()).layers;
    } catch (e) {
      if (e instanceof LensError) return [];
      throw e;
    }
  }

  /**
   * The ragged in-place cache's sessions (prefill on `threads`, small steps on `decodeThreads`), or null
   * when this model has no such graph (not a fused Llama export, another provider, or turned off).
   */
  private raggedSessions(): Promise<RaggedSessions | null> {
    this.ragged ??= (async () => {
      if (!this.raggedAllowed || !derivesGraphs(this.config, this.onnxPath)) return null;
      const model = this.inPlaceCacheModel();
      if (model instanceof LensError) return null;
      let bytes = onnxProto.onnx.ModelProto.encode(model).finish();
      if (this.io.logitsToKeep) bytes = deriveLogitsToKeep(bytes, this.config.numLayers) ?? bytes; // as the main graph (LoadOptions.logitsToKeep)
      const main = await createSession(bytes, sessionOptions(this.threads, this.provider));
      const decode = this.decodeThreads === this.threads ? main : await createSession(bytes, sessionOptions(this.decodeThreads, this.provider));
      return { main, decode, keep: main.inputNames.includes(LOGITS_TO_KEEP) };
    })();
    this.ragged.catch(() => undefined);
    return this.ragged;
  }

  /**
   * What decoding loops run on, for `lens info`: 'ragged (plain|fused attention)' (the in-place cache), or 'padded: <why>'.
   * Reads the file (no session is made).
   */
  private decodeCacheKind(): string {
    if (!this.raggedAllowed) return this.provider === 'cpu' ? 'padded: turned off (raggedCache: false)' : `padded: the ragged cache is CPU-only (${this.provider})`;
    const model = this.inPlaceCacheModel();
    return model instanceof LensError ? `padded: ${model.message}` : `ragged (${this.cacheAttention} attention)`;
  }

  /** The ragged cache's graph derived from this model's file (not encoded), or the LensError saying why there is none. */
  private inPlaceCacheModel(): onnxProto.onnx.ModelProto | LensError {
    try {
      return inPlaceCacheModel(readFileSync(this.onnxPath), this.config.numLayers, this.config.headDim, this.cacheAttention);
    } catch (e) {
      if (e instanceof LensError) return e;
      throw e;
    }
  }

  /** Whether decoding loops get the ragged in-place cache on this model (builds it on first call). */
  async hasRaggedCache(): Promise<boolean> {
    return (await this.raggedSessions()) !== null;
  }

  private derivedSession(): Promise<{ session: ort.InferenceSession; layers: number[] }> {
    this.derived ??= (async () => {
      const { bytes, layers } = deriveEarlyExits(readFileSync(this.onnxPath), this.config.numLayers);
      const session = await ort.InferenceSession.create(bytes, sessionOptions(this.threads, this.provider));
      return { session, layers };
    })();
    this.derived.catch(() => undefined); // a failure reaches every caller, not the unhandled-rejection hook
    return this.derived;
  }

  /**
   * log Σ exp(row) and the argmax (lowest id on ties) of one [vocab] row, computed by ONNX Runtime
   * (worth the call from NATIVE_ROW_MIN_VOCAB entries on; src/core/scoring-head.ts).
   */
  async rowLseArgmax(row: Float32Array): Promise<{ lse: number; argmax: number }> {
    return this.head.lseArgmax(row);
  }

  /**
   * Per-row statistics (log-prob of the target, rank, entropy, top-k) of `rows` logits rows starting
   * at row `first` of a [*, vocab] block, computed by ONNX Runtime (src/core/scoring-head.ts).
   */
  async scoreRows(logits: Float32Array, vocab: number, first: number, rows: number, targets: number[], k: number): Promise<HeadStats> {
    const t0 = performance.now();
    const r = await this.head.run(logits, vocab, first, rows, targets, k);
    this.runStats.runMs += performance.now() - t0;
    return r;
  }

  static async load(dirIn: string, opts: LoadOptions = {}): Promise<CausalLM> {
    const dir = resolve(dirIn);
    if (!existsSync(dir)) throw new LensError('missing-file', `Model folder not found: ${dir}`);
    if (!statSync(dir).isDirectory()) throw new LensError('bad-argument', `Model path is not a folder: ${dir}`);
    const config = readModelConfig(dir);
    const tokenizer = await LensTokenizer.load(dir);
    const onnxPath = findOnnx(dir, opts.onnxFile);
    // Graphs `lens export` wrote get the num_logits_to_keep input (null: any other graph, used as it is).
    const derived = opts.logitsToKeep !== false && derivesGraphs(config, onnxPath) ? deriveLogitsToKeep(readFileSync(onnxPath), config.numLayers) : null;
    const graphSource: string | Uint8Array = derived ?? onnxPath;
    const threads = opts.threads ?? 2;
    const wanted = opts.provider ?? 'cpu';
    let provider: Provider = wanted;
    let providerNote: string | null = null;
    let session: ort.InferenceSession;
    try {
      session = await createSession(graphSource, sessionOptions(threads, wanted));
    } catch (e) {
      if (wanted === 'cpu') throw badModel(onnxPath, e);
      providerNote = `The ${wanted} execution provider could not be used (${firstLine(e)}); running on CPU instead.`;
      provider = 'cpu';
      try {
        session = await createSession(graphSource, sessionOptions(threads, 'cpu'));
      } catch (e2) {
        throw badModel(onnxPath, e2);
      }
    }
    try {
      const io = discover(session, config, onnxPath);
      const vocab = logitsVocab(session, config);
      if (tokenizer.vocabSize > vocab) {
        throw new LensError(
          'vocab-mismatch',
          `The tokenizer has ${tokenizer.vocabSize} tokens but the model's logits have ${vocab}: tokenizer.json does not belong to this model (${dir}).`,
        );
      }
      const small = provider === 'cpu' && estimateParameters(config) <= DECODE_SESSION_MAX_PARAMS;
      const decodeThreads = opts.decodeThreads ?? (small ? 1 : threads);
      if (!(Number.isInteger(decodeThreads) && decodeThreads >= 1)) throw new LensError('bad-argument', `decodeThreads must be a positive integer, got ${decodeThreads}`);
      const ragged = (opts.raggedCache ?? true) && provider === 'cpu';
      const cacheAttention = opts.cacheAttention ?? 'fused';
      if (cacheAttention !== 'plain' && cacheAttention !== 'fused') throw new LensError('bad-argument', `cacheAttention must be plain or fused, got ${String(cacheAttention)}`);
      return new CausalLM(dir, onnxPath, config, tokenizer, io, vocab, provider, providerNote, session, graphSource, threads, decodeThreads, ragged, cacheAttention);
    } catch (e) {
      await session.release().catch(() => undefined);
      throw e;
    }
  }

  /**
   * The BOS id, prepended to every scored or generated string (as the seed did: `bos_token + text`),
   * from tokenizer_config.json's bos_token, else config.json's bos_token_id; null when there is none.
   */
  get bosId(): number | null {
    return this.tokenizer.bosId ?? this.config.bosTokenId;
  }

  get eosIds(): number[] {
    const s = new Set(this.config.eosTokenIds);
    if (this.tokenizer.eosId !== null) s.add(this.tokenizer.eosId);
    return [...s];
  }

  get maxPositions(): number {
    return this.config.maxPositions;
  }

  /** An empty cache for `batch` rows. */
  emptyState(batch: number): KvState {
    const { numKvHeads, headDim } = this.config;
    const tensors: ort.Tensor[] = [];
    for (let i = 0; i < 2 * this.io.numLayers; i++) {
      const data = this.io.kvType === 'float16' ? new Uint16Array(0) : new Float32Array(0);
      tensors.push(new ort.Tensor(this.io.kvType, data, [batch, numKvHeads, 0, headDim])); // [batch, kvHeads, 0, headDim]
    }
    return { batch, pastLen: 0, tensors, mask: Array.from({ length: batch }, () => new Uint8Array(0)) };
  }

  /**
   * One forward over `rows` (each the same length `seq`; pad yourself and say so in newMask) on top
   * of `state`. Returns [batch, seq, vocab] logits and the grown cache.
   */
  async forward(rows: number[][], opts: ForwardOptions = {}): Promise<ForwardResult> {
    const batch = rows.length;
    if (batch === 0) throw new LensError('bad-argument', 'forward: no rows');
    const seq = rows[0].length;
    if (seq === 0) throw new LensError('bad-argument', 'forward: empty rows');
    for (const r of rows) if (r.length !== seq) throw new LensError('bad-argument', 'forward: rows must have equal length (pad them)');
    const state = opts.state ?? this.emptyState(batch);
    if (state.batch !== batch) throw new LensError('bad-argument', `forward: cache has ${state.batch} rows, input has ${batch}`);
    const P = state.pastLen;
    const T = P + seq;
    if (T > this.config.maxPositions) {
      throw new LensError('bad-argument', `forward: ${T} positions exceed the model's context of ${this.config.maxPositions}`);
    }
    const keep = opts.keepLast ?? seq;
    if (!(Number.isInteger(keep) && keep >= 1 && keep <= seq)) throw new LensError('bad-argument', `forward: keepLast must be an integer in 1..${seq}, got ${keep}`);
    if (opts.state?.ragged || (!opts.state && opts.ragged)) {
      const r = await this.forwardRagged(rows, keep, opts);
      if (r) return r; // null: this model has no ragged graph; the padded cache serves
    }
    const newMask = opts.newMask ?? rows.map(() => new Uint8Array(seq).fill(1));

    // Full mask [batch, past + seq] and position ids [batch, seq] = (real tokens before) per row.
    const mask: Uint8Array[] = [];
    const maskData = new BigInt64Array(batch * T).fill(1n);
    const posData = new BigInt64Array(batch * seq);
    let anyPad = false;
    for (let b = 0; b < batch; b++) {
      const m = new Uint8Array(T);
      m.set(state.mask[b], 0);
      m.set(newMask[b], P);
      mask.push(m);
      let count = 0;
      for (let t = 0; t < P; t++) {
        if (!m[t]) {
          maskData[b * T + t] = 0n;
          anyPad = true;
        } else count++;
      }
      for (let t = P; t < T; t++) {
        if (m[t]) posData[b * seq + (t - P)] = BigInt(count++);
        else {
          maskData[b * T + t] = 0n;
          anyPad = true;
        }
      }
    }
    if (anyPad && !this.io.hasAttentionMask) {
      throw new LensError('bad-model', `${this.onnxPath} has no attention_mask input, so it cannot run padded batches; run rows one at a time.`);
    }

    const feeds: Record<string, ort.Tensor> = {};
    const idsFlat = rows.flat();
    feeds.input_ids =
      this.io.inputIdsType === 'int32'
        ? new ort.Tensor('int32', Int32Array.from(idsFlat), [batch, seq]) // [batch, seq]
        : new ort.Tensor('int64', BigInt64Array.from(idsFlat, (x) => BigInt(x)), [batch, seq]); // [batch, seq]
    if (this.io.hasAttentionMask) feeds.attention_mask = new ort.Tensor('int64', maskData, [batch, T]); // [batch, past+seq]
    if (this.io.hasPositionIds) feeds.position_ids = new ort.Tensor('int64', posData, [batch, seq]); // [batch, seq]
    if (this.io.hasUseCacheBranch) feeds.use_cache_branch = new ort.Tensor('bool', new Uint8Array([P > 0 ? 1 : 0]), [1]);
    for (let i = 0; i < this.io.numLayers; i++) {
      feeds[`past_key_values.${i}.key`] = state.tensors[2 * i];
      feeds[`past_key_values.${i}.value`] = state.tensors[2 * i + 1];
    }
    const early = opts.earlyExit ?? [];
    let session = early.length ? this.session : await this.sessionFor(batch * seq);
    let keepInput = this.io.logitsToKeep;
    if (early.some((k) => !this.io.earlyExit.includes(k))) {
      const native = this.io.earlyExit;
      const derived = native.length ? null : await this.derivedSession();
      const have = derived ? derived.layers : native;
      for (const k of early) {
        if (!have.includes(k)) {
          throw new LensError('bad-argument', `This model has no early-exit logits for layer ${k} (it has: ${have.join(', ') || 'none'}); re-export with --early-exit.`);
        }
      }
      if (derived) {
        session = derived.session;
        keepInput = false;
      }
    }
    if (keepInput) feeds[LOGITS_TO_KEEP] = new ort.Tensor('int64', BigInt64Array.from([BigInt(keep)]), [1]); // [1]
    const fetches = ['logits'];
    for (let i = 0; i < this.io.numLayers; i++) fetches.push(`present.${i}.key`, `present.${i}.value`);
    for (const k of early) fetches.push(`logits_layer_${k}`);

    const t0 = performance.now();
    const out = await session.run(feeds, fetches);
    this.runStats.runs++;
    this.runStats.runMs += performance.now() - t0;
    const logitsT = out.logits;
    const given = keepInput ? keep : seq; // positions the graph gave logits for
    if (logitsT.dims.length !== 3 || logitsT.dims[0] !== batch || logitsT.dims[1] !== given) {
      throw new LensError('bad-model', `logits has shape [${logitsT.dims.join(', ')}], expected [${batch}, ${given}, vocab]`);
    }
    const V = logitsT.dims[2];
    const tensors: ort.Tensor[] = [];
    for (let i = 0; i < this.io.numLayers; i++) tensors.push(out[`present.${i}.key`], out[`present.${i}.value`]);
    const earlyMap = new Map<number, Float32Array>();
    for (const k of early) {
      const e = toFloat32(out[`logits_layer_${k}`]); // [batch, seq, vocab]: early exits are not sliced by the graph
      earlyMap.set(k, lastPositions(e, batch, seq, keep, V));
    }
    return {
      batch,
      seq: keep,
      vocab: V,
      logits: lastPositions(toFloat32(logitsT), batch, given, keep, V),
      early: earlyMap,
      state: { batch, pastLen: T, tensors, mask },
    };
  }

  /**
   * forward() on the ragged in-place cache (src/core/onnx/in-place-cache.ts): rows need no padding
   * in the cache, each keeps its own length. Left padding in `newMask` is allowed with keepLast 1 (each
   * row's last real token); padded tokens are computed but never enter the cache. One batched run, or
   * one run per row when left padding would be more than an eighth of the batch's new tokens (a prefill
   * of a long context next to a short one). A new cache (no state) is prefilled by the padded graph and
   * copied in. null when the model has no ragged graph and no ragged state was given.
   */
  private async forwardRagged(rows: number[][], keep: number, opts: ForwardOptions): Promise<ForwardResult | null> {
    const ses = await this.raggedSessions();
    if (!ses) {
      if (opts.state?.ragged) throw new LensError('bad-argument', 'forward: a ragged cache state from another model (this one has no ragged graph)');
      return null;
    }
    if (opts.earlyExit?.length) throw new LensError('bad-argument', 'forward: early exits need the padded cache (leave out `ragged`)');
    // forward() has checked the rows (equal lengths S), the cache's batch and keep (1..S).
    const batch = rows.length;
    const S = rows[0].length;
    // Real (unpadded) new tokens per row: padding, if any, comes first.
    const real = rows.map((_, b) => {
      const m = opts.newMask?.[b];
      if (!m) return S;
      if (m.length !== S) throw new LensError('bad-argument', `forward: newMask row ${b} has ${m.length} entries for ${S} tokens`);
      let z = 0;
      while (z < S && !m[z]) z++;
      for (let t = z; t < S; t++) if (!m[t]) throw new LensError('bad-argument', 'forward: on a ragged cache, padding must come before the tokens (left padding)');
      return S - z;
    });
    if (real.some((r) => r === 0)) throw new LensError('bad-argument', 'forward: a row has no tokens');
    if (real.some((r) => r < S) && keep !== 1) throw new LensError('bad-argument', 'forward: padded rows on a ragged cache take keepLast 1');
    const { numKvHeads: KV, headDim: hd, numLayers: L } = this.config;
    let rs = opts.state?.ragged;
    if (!rs) rs = { store: new RaggedStore(batch, KV, hd, 0, Array.from({ length: 2 * L }, () => new Float32Array(0))), lengths: new Array(batch).fill(0), version: 0 };
    const store = rs.store;
    if (rs.version !== store.version) {
      throw new LensError('bad-argument', 'forward: this KV cache state was superseded by a later step or truncation of the same cache (a ragged cache grows in place; copy it with selectRows to branch)');
    }
    const lengths = [...rs.lengths];
    for (let b = 0; b < batch; b++) {
      if (lengths[b] + real[b] > this.config.maxPositions) {
        throw new LensError('bad-argument', `forward: ${lengths[b] + real[b]} positions exceed the model's context of ${this.config.maxPositions}`);
      }
    }
    store.ensure(Math.max(...lengths.map((l, b) => l + real[b])), this.config.maxPositions);
    const cap = store.capacity;
    const V = this.vocab;
    const logits = new Float32Array(batch * keep * V); // [batch, keep, vocab]

    const G = this.config.numHeads / KV;
    const realTotal = real.reduce((a, r) => a + r, 0);
    // Left padding over an eighth of the new tokens: each row runs alone, unpadded (a padded prefill pays
    // for its padding in every layer, and its attention grows with S²).
    const groups = 8 * realTotal >= 7 * batch * S ? [rows.map((_, b) => b)] : rows.map((_, b) => [b]);

    /**
     * A new cache: a prompt reads no cache, so the padded graph prefills `idx`'s rows, its Attention being
     * faster there than the cache-reading graphs (english-base, 192 tokens: 9–10 ms against 13 with
     * either). Its cache, [rows, kvHeads, S, headDim] with the left padding first, is copied into the
     * ragged buffers.
     */
    const prefill = async (idx: number[]) => {
      const Sg = Math.max(...idx.map((b) => real[b]));
      const p = await this.forward(
        idx.map((b) => rows[b].slice(S - Sg)),
        { newMask: opts.newMask && idx.map((b) => opts.newMask![b].subarray(S - Sg)), keepLast: keep },
      );
      for (let i = 0; i < 2 * L; i++) {
        const src = p.state.tensors[i].data as Float32Array; // [rows, kvHeads, Sg, headDim]
        const dst = store.bufs[i];
        idx.forEach((b, bi) => {
          for (let h = 0; h < KV; h++) {
            const from = ((bi * KV + h) * Sg + Sg - real[b]) * hd;
            dst.set(src.subarray(from, from + real[b] * hd), (b * KV + h) * cap * hd);
          }
        });
      }
      idx.forEach((b, bi) => {
        logits.set(p.logits.subarray(bi * keep * V, (bi + 1) * keep * V), b * keep * V);
        lengths[b] = real[b];
      });
    };

    /** One run over `idx` rows (all rows, or one), each with `ids` [Sx] of which its last real[b] are tokens; writes their new keys / values and logits. */
    const run = async (idx: number[], ids: number[][], Sx: number) => {
      const n = idx.length;
      const all = n === batch;
      const session = n * Sx <= DECODE_STEP_MAX_TOKENS ? ses.decode : ses.main;
      const pad = idx.map((b) => Sx - real[b]); // left padding per row of this run
      // Rows that start empty (a prompt) read no cache: a zero-capacity past, so that the first step
      // does not score its queries against a whole buffer of masked slack.
      const C = idx.some((b) => lengths[b] > 0) ? cap : 0;
      // Masks (src/core/onnx/in-place-cache.ts): every query of row b sees its cached positions 0..len_b − 1
      // and the step's real tokens up to itself (and always itself, so a padded query has a finite row).
      // plain: two blocks, each query row repeated for the G heads that share a KV head; fused: one
      // block [cache ‖ new] per query row.
      const plain = this.cacheAttention === 'plain';
      const reps = plain ? G : 1;
      const widthPast = plain ? C : C + Sx; // a row of biasPast; fused: the whole row, new block at C
      const biasPast = new Float32Array(n * reps * Sx * widthPast).fill(-Infinity); // plain [n, 1, G·Sx, C]; fused [n, 1, Sx, C + Sx]
      const biasNew = plain ? new Float32Array(n * G * Sx * Sx).fill(-Infinity) : biasPast; // plain [n, 1, G·Sx, Sx]
      idx.forEach((b, bi) => {
        for (let r = 0; r < reps * Sx; r++) {
          biasPast.fill(0, (bi * reps * Sx + r) * widthPast, (bi * reps * Sx + r) * widthPast + lengths[b]);
          const s = r % Sx;
          const row = plain ? (bi * G * Sx + r) * Sx : (bi * Sx + r) * widthPast + C;
          biasNew.fill(0, row + Math.min(pad[bi], s), row + s + 1); // a padded query (s < pad) sees itself only
        }
      });
      const feeds: Record<string, ort.Tensor> = {
        input_ids: new ort.Tensor('int64', BigInt64Array.from(ids.flat(), (x) => BigInt(x)), [n, Sx]), // [n, Sx]
        // Real token t of row b sits at position len_b + (t − pad_b); padding takes len_b (never cached).
        position_ids: new ort.Tensor('int64', BigInt64Array.from(idx.flatMap((b, bi) => ids[bi].map((_, t) => BigInt(lengths[b] + Math.max(0, t - pad[bi]))))), [n, Sx]), // [n, Sx]
      };
      if (plain) {
        feeds[ATTN_BIAS_PAST] = new ort.Tensor('float32', biasPast, [n, 1, G * Sx, C]);
        feeds[ATTN_BIAS_NEW] = new ort.Tensor('float32', biasNew, [n, 1, G * Sx, Sx]);
      } else feeds[ATTN_BIAS] = new ort.Tensor('float32', biasPast, [n, 1, Sx, C + Sx]);
      if (this.io.hasUseCacheBranch) feeds.use_cache_branch = new ort.Tensor('bool', new Uint8Array([C > 0 ? 1 : 0]), [1]);
      const k = Math.min(keep, Sx);
      if (ses.keep) feeds[LOGITS_TO_KEEP] = new ort.Tensor('int64', BigInt64Array.from([BigInt(k)]), [1]); // [1]
      const per = KV * cap * hd;
      for (let i = 0; i < L; i++) {
        for (const [j, kind] of [[0, 'key'], [1, 'value']] as const) {
          const buf = store.bufs[2 * i + j];
          feeds[`past_key_values.${i}.${kind}`] =
            C === 0
              ? new ort.Tensor('float32', new Float32Array(0), [n, KV, 0, hd])
              : all
                ? new ort.Tensor('float32', buf, [batch, KV, cap, hd]) // [batch, kvHeads, capacity, headDim]
                : new ort.Tensor('float32', buf.subarray(idx[0] * per, (idx[0] + 1) * per), [1, KV, cap, hd]); // row idx[0]'s part
        }
      }
      const t0 = performance.now();
      const out = await session.run(feeds);
      this.runStats.runs++;
      this.runStats.runMs += performance.now() - t0;
      for (let i = 0; i < L; i++) {
        for (const [j, kind] of [[0, 'key'], [1, 'value']] as const) {
          const src = out[newKeyValueName(i, kind)].data as Float32Array; // [n, Sx, kvHeads*headDim]
          const dst = store.bufs[2 * i + j];
          idx.forEach((b, bi) => {
            for (let t = pad[bi]; t < Sx; t++) {
              for (let h = 0; h < KV; h++) {
                const from = ((bi * Sx + t) * KV + h) * hd;
                dst.set(src.subarray(from, from + hd), ((b * KV + h) * cap + lengths[b] + t - pad[bi]) * hd);
              }
            }
          });
        }
      }
      const lt = out.logits;
      const given = ses.keep ? k : Sx;
      if (lt.dims[0] !== n || lt.dims[1] !== given) throw new LensError('bad-model', `logits has shape [${lt.dims.join(', ')}], expected [${n}, ${given}, vocab]`);
      const got = lastPositions(toFloat32(lt), n, given, k, V); // [n, k, vocab]
      idx.forEach((b, bi) => logits.set(got.subarray(bi * k * V, (bi + 1) * k * V), (b * keep + keep - k) * V));
      idx.forEach((b, bi) => (lengths[b] += Sx - pad[bi]));
    };

    for (const idx of groups) {
      if (!opts.state) await prefill(idx);
      else if (idx.length === batch) await run(idx, rows, S);
      else await run(idx, [rows[idx[0]].slice(S - real[idx[0]])], real[idx[0]]); // one row, unpadded
    }
    store.version++;
    return {
      batch,
      seq: keep,
      vocab: V,
      logits,
      early: new Map(),
      state: { batch, pastLen: Math.max(...lengths), tensors: [], mask: [], ragged: { store, lengths, version: store.version } },
    };
  }

  async dispose(): Promise<void> {
    await this.head.dispose();
    await this.session.release();
    if (this.decodeSession) await this.decodeSession.then((d) => d.release(), () => undefined);
    if (this.derived) await this.derived.then((d) => d.session.release(), () => undefined);
    if (this.ragged) {
      await this.ragged.then(
        async (r) => {
          if (!r) return;
          await r.main.release();
          if (r.decode !== r.main) await r.decode.release();
        },
        () => undefined,
      );
    }
  }

  /** What `lens info` prints. The parameter count is read off the ONNX file's initializers. */
  describe(opts: { parameters?: boolean } = {}): Record<string, unknown> {
    return {
      dir: this.dir,
      onnx: this.onnxPath,
      modelType: this.config.modelType,
      ...(opts.parameters ? { parameters: countParameters(this.onnxPath) } : {}),
      layers: this.config.numLayers,
      heads: this.config.numHeads,
      kvHeads: this.config.numKvHeads,
      headDim: this.config.headDim,
      hiddenSize: this.config.hiddenSize,
      vocab: this.vocab,
      tokenizerVocab: this.tokenizer.vocabSize,
      tokenizer: this.tokenizer.kind,
      context: this.config.maxPositions,
      bos: this.bosId,
      eos: this.eosIds,
      provider: this.provider,
      providerNote: this.providerNote,
      threads: this.threads,
      decodeThreads: this.decodeThreads,
      earlyExitLayers: this.io.earlyExit,
      ...(opts.parameters && !this.io.earlyExit.length ? { earlyExitDerivable: derivableLayers(readFileSync(this.onnxPath), this.config.numLayers) } : {}),
      /** Generation computes the LM head on the positions it reads only (num_logits_to_keep). */
      logitsToKeep: this.io.logitsToKeep,
      ...(opts.parameters ? { decodeCache: this.decodeCacheKind() } : {}),
      headCombine: this.config.headCombine ?? 'standard',
      inputs: this.io.inputs,
      outputs: this.io.outputs,
    };
  }
}

/** Repeat / select batch rows of a cache: out row j = in row rowsIdx[j] (a copy: the input stays usable). */
export function selectRows(state: KvState, rowsIdx: number[]): KvState {
  for (const r of rowsIdx) if (r < 0 || r >= state.batch) throw new LensError('bad-argument', `selectRows: row ${r} out of range`);
  if (state.ragged) {
    const { store, lengths } = state.ragged;
    const per = store.kvHeads * store.capacity * store.headDim;
    const bufs = store.bufs.map((src) => {
      const dst = new Float32Array(rowsIdx.length * per); // [batch', kvHeads, capacity, headDim]
      rowsIdx.forEach((r, j) => dst.set(src.subarray(r * per, (r + 1) * per), j * per));
      return dst;
    });
    const copy = new RaggedStore(rowsIdx.length, store.kvHeads, store.headDim, store.capacity, bufs);
    const picked = rowsIdx.map((r) => lengths[r]);
    return { batch: rowsIdx.length, pastLen: Math.max(0, ...picked), tensors: [], mask: [], ragged: { store: copy, lengths: picked, version: 0 } };
  }
  const tensors = state.tensors.map((t) => {
    const [B, H, P, D] = t.dims;
    const per = H * P * D;
    const src = t.data as Float32Array | Uint16Array;
    const dst = new (src.constructor as Float32ArrayConstructor | Uint16ArrayConstructor)(rowsIdx.length * per);
    rowsIdx.forEach((r, j) => {
      if (r < 0 || r >= B) throw new LensError('bad-argument', `selectRows: row ${r} out of range`);
      dst.set(src.subarray(r * per, (r + 1) * per), j * per);
    });
    return new ort.Tensor(t.type as 'float32', dst as Float32Array, [rowsIdx.length, H, P, D]); // [batch', kvHeads, past, headDim]
  });
  return { batch: rowsIdx.length, pastLen: state.pastLen, tensors, mask: rowsIdx.map((r) => state.mask[r].slice()) };
}

/** Each row's last `keep` positions of a [batch, seq, vocab] block: [batch, keep, vocab] (x itself when keep = seq). */
function lastPositions(x: Float32Array, batch: number, seq: number, keep: number, vocab: number): Float32Array {
  if (keep === seq) return x;
  const out = new Float32Array(batch * keep * vocab);
  for (let b = 0; b < batch; b++) out.set(x.subarray((b * seq + seq - keep) * vocab, (b * seq + seq) * vocab), b * keep * vocab);
  return out;
}

function toFloat32(t: ort.Tensor): Float32Array {
  if (t.type === 'float32') return t.data as Float32Array;
  if (t.type === 'float16') return halfToFloat(t.data as Uint16Array);
  throw new LensError('bad-model', `unsupported logits type ${t.type}`);
}

function firstLine(e: unknown): string {
  return String((e as Error)?.message ?? e).split('\n')[0];
}

function badModel(path: string, e: unknown): LensError {
  return new LensError('bad-model', `ONNX Runtime could not load ${path}: ${firstLine(e)}`);
}

function discover(session: ort.InferenceSession, config: ModelConfig, path: string): GraphIO {
  const inputs = meta(session.inputMetadata);
  const outputs = meta(session.outputMetadata);
  const byName = new Map(inputs.map((i) => [i.name, i]));
  const ids = byName.get('input_ids');
  if (!ids) throw new LensError('bad-model', `${path} has no input_ids input (inputs: ${inputs.map((i) => i.name).join(', ')})`);
  if (!outputs.some((o) => o.name === 'logits')) throw new LensError('bad-model', `${path} has no logits output`);
  let numLayers = 0;
  while (byName.has(`past_key_values.${numLayers}.key`)) numLayers++;
  if (numLayers === 0) throw new LensError('bad-model', `${path} has no past_key_values.{i}.key inputs: a decoder with a KV cache is required`);
  if (numLayers !== config.numLayers) {
    throw new LensError('bad-config', `config.json says ${config.numLayers} layers but ${path} has ${numLayers} past_key_values inputs`);
  }
  const kv = byName.get('past_key_values.0.key')!;
  const kvType = kv.type === 'float16' ? 'float16' : kv.type === 'float32' ? 'float32' : null;
  if (!kvType) throw new LensError('bad-model', `unsupported KV cache type ${kv.type}`);
  const [, h, , d] = kv.shape;
  if (typeof h === 'number' && h !== config.numKvHeads) {
    throw new LensError('bad-config', `config.json implies ${config.numKvHeads} key/value heads but the graph's cache has ${h}`);
  }
  if (typeof d === 'number' && d !== config.headDim) {
    throw new LensError('bad-config', `config.json implies head size ${config.headDim} but the graph's cache has ${d}`);
  }
  for (let i = 0; i < numLayers; i++) {
    if (!outputs.some((o) => o.name === `present.${i}.key`) || !outputs.some((o) => o.name === `present.${i}.value`)) {
      throw new LensError('bad-model', `${path} lacks present.${i}.key/value outputs`);
    }
  }
  const logits = outputs.find((o) => o.name === 'logits')!;
  const earlyExit = outputs
    .map((o) => /^logits_layer_(\d+)$/.exec(o.name))
    .filter((m): m is RegExpExecArray => !!m)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
  return {
    inputIdsType: ids.type === 'int32' ? 'int32' : 'int64',
    hasAttentionMask: byName.has('attention_mask'),
    hasPositionIds: byName.has('position_ids'),
    hasUseCacheBranch: byName.has('use_cache_branch'),
    kvType,
    numLayers,
    logitsType: logits.type === 'float16' ? 'float16' : 'float32',
    earlyExit,
    logitsToKeep: byName.has(LOGITS_TO_KEEP),
    inputs,
    outputs,
  };
}

function logitsVocab(session: ort.InferenceSession, config: ModelConfig): number {
  const m = session.outputMetadata.find((o) => o.name === 'logits');
  const v = m && m.isTensor ? m.shape[2] : undefined;
  if (typeof v === 'number') {
    if (v !== config.vocabSize) {
      throw new LensError('bad-config', `config.json says vocab_size ${config.vocabSize} but the graph's logits have ${v}`);
    }
    return v;
  }
  return config.vocabSize;
}

/**
 * Keeps the first `len` cached positions of every row (drops rejected speculative tokens); on a ragged
 * cache each row keeps min(its length, len), without copying (the input state is superseded).
 */
export function truncateState(state: KvState, len: number): KvState {
  if (len > state.pastLen || len < 0) throw new LensError('bad-argument', `truncateState: ${len} outside 0..${state.pastLen}`);
  if (len === state.pastLen) return state;
  if (state.ragged) {
    const { store, lengths, version } = state.ragged;
    if (version !== store.version) throw new LensError('bad-argument', 'truncateState: this KV cache state was superseded by a later step of the same cache');
    const kept = lengths.map((l) => Math.min(l, len));
    store.version++;
    return { ...state, pastLen: Math.max(0, ...kept), ragged: { store, lengths: kept, version: store.version } };
  }
  const tensors = state.tensors.map((t) => {
    const [B, H, P, D] = t.dims;
    const src = t.data as Float32Array | Uint16Array;
    const dst = new (src.constructor as Float32ArrayConstructor | Uint16ArrayConstructor)(B * H * len * D);
    for (let bh = 0; bh < B * H; bh++) dst.set(src.subarray(bh * P * D, bh * P * D + len * D), bh * len * D);
    return new ort.Tensor(t.type as 'float32', dst as Float32Array, [B, H, len, D]); // [batch, kvHeads, len, headDim]
  });
  return { batch: state.batch, pastLen: len, tensors, mask: state.mask.map((m) => m.slice(0, len)) };
}
