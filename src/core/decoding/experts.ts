// Experts: a model under a context (optionally at an early-exit layer, with a weight and its own
// temperature). Experts that share a model run as ONE batched forward per step, each expert owning its
// row of the KV cache: on the ragged in-place cache each row keeps its own length (a short context next
// to a long one costs its own positions only), else inputs are left-padded with an attention mask.
import type { CausalLM, KvState } from '../model';
import { LensError, throwIfAborted } from '../errors';

export interface Expert {
  model: CausalLM;
  /** Text this expert conditions on (the prompt follows it after the separator). */
  context: string;
  /** Exponent of this expert in the product (default 1). */
  weight?: number;
  /** This expert's own temperature (default: the sampling temperature). */
  temperature?: number;
  /** Read this early-exit layer's logits instead of the final ones (needs an export with --early-exit). */
  layer?: number;
  label?: string;
}

/** Same vocabulary and ids: the precondition for combining different models token by token. */
export function sameVocabulary(a: CausalLM, b: CausalLM): boolean {
  if (a === b) return true;
  if (a.vocab !== b.vocab || a.tokenizer.vocabSize !== b.tokenizer.vocabSize) return false;
  for (let id = 0; id < a.tokenizer.vocabSize; id++) {
    const x = a.tokenizer.tokenBytes(id);
    const y = b.tokenizer.tokenBytes(id);
    if ((x === null) !== (y === null)) return false;
    if (x && y && (x.length !== y.length || x.some((v, i) => v !== y[i]))) return false;
    if (!x && a.tokenizer.tokenLabel(id) !== b.tokenizer.tokenLabel(id)) return false;
  }
  return true;
}

/** The ids an expert starts from: [BOS?] + tokens(context + separator + prompt). */
export function expertPromptIds(lm: CausalLM, context: string, prompt: string, separator: string): number[] {
  const text = context.length && prompt.length ? context + separator + prompt : context + prompt;
  const head = lm.bosId === null ? [] : [lm.bosId];
  const ids = [...head, ...(text.length ? lm.tokenizer.encode(text).map((s) => s.id) : [])];
  if (ids.length === 0) throw new LensError('empty-text', 'An expert has an empty context and prompt, and the model has no BOS token to start from.');
  return ids;
}

interface Group {
  model: CausalLM;
  /** Expert indices in this group, in row order. */
  experts: number[];
  state?: KvState;
  layers: number[];
}

/**
 * Runs a set of experts step by step. `start()` prefills every expert's prompt; `step(token)`
 * appends the same token to every expert. Both return each expert's next-token logits row.
 */
export class ExpertRunner {
  private groups: Group[] = [];
  private lengths: number[];
  /** Forward calls made (one per model group per step). */
  forwards = 0;

  constructor(
    readonly experts: Expert[],
    private readonly startIds: number[][],
    /** Extra early-exit layers to fetch per model (DoLa's premature candidates). */
    private readonly extraLayers: Map<CausalLM, number[]> = new Map(),
  ) {
    if (experts.length === 0) throw new LensError('bad-argument', 'At least one expert is needed.');
    const first = experts[0].model;
    for (const e of experts) {
      if (!sameVocabulary(first, e.model)) {
        throw new LensError(
          'vocab-mismatch',
          `Experts ${JSON.stringify(first.dir)} and ${JSON.stringify(e.model.dir)} do not share a tokenizer (same vocabulary and ids), so their next-token distributions cannot be combined.`,
        );
      }
    }
    const byModel = new Map<CausalLM, Group>();
    experts.forEach((e, i) => {
      let g = byModel.get(e.model);
      if (!g) {
        g = { model: e.model, experts: [], layers: [...(extraLayers.get(e.model) ?? [])] };
        byModel.set(e.model, g);
        this.groups.push(g);
      }
      g.experts.push(i);
      if (e.layer !== undefined && e.layer !== e.model.config.numLayers && !g.layers.includes(e.layer)) g.layers.push(e.layer);
    });
    this.lengths = startIds.map((s) => s.length);
  }

  /** Longest expert sequence so far. */
  get maxLength(): number {
    return Math.max(...this.lengths);
  }

  /** Fits one more token in every expert's context? */
  canStep(): boolean {
    return this.groups.every((g) => g.experts.every((i) => this.lengths[i] + 1 <= g.model.maxPositions));
  }

  /** rows[i]: expert i's logits ([vocab]); early[i]: the extra layers' rows for its model (by layer). */
  private async run(feed: (g: Group) => { rows: number[][]; mask?: Uint8Array[] }, signal?: AbortSignal) {
    let V = 0;
    let packed = new Float32Array(0); // [experts, vocab]: every expert's row, in expert order
    const rows: Float32Array[] = new Array(this.experts.length);
    const early: Map<number, Float32Array>[] = new Array(this.experts.length);
    for (const g of this.groups) {
      throwIfAborted(signal);
      const f = feed(g);
      // Rows of different lengths keep them on a ragged cache (no padding); early exits need the padded one.
      const r = await g.model.forward(f.rows, { state: g.state, newMask: f.mask, earlyExit: g.layers, keepLast: 1, ragged: g.layers.length === 0 }); // logits [rows, 1, vocab]
      this.forwards++;
      g.state = r.state;
      if (!V) {
        V = r.vocab;
        packed = new Float32Array(this.experts.length * V);
      }
      const S = r.seq;
      g.experts.forEach((ei, b) => {
        const off = (b * S + S - 1) * V; // last position of row b: [batch, seq, vocab]
        const e = this.experts[ei];
        const layerRows = new Map<number, Float32Array>();
        for (const k of g.layers) layerRows.set(k, r.early.get(k)!.slice(off, off + V));
        early[ei] = layerRows;
        const src = e.layer !== undefined && e.layer !== e.model.config.numLayers ? layerRows.get(e.layer)! : r.logits.subarray(off, off + V);
        packed.set(src, ei * V);
        rows[ei] = packed.subarray(ei * V, (ei + 1) * V);
      });
    }
    return { rows, early, packed, vocab: V };
  }

  /** Prefills every expert's prompt (left-padded within each model group). */
  async start(signal?: AbortSignal) {
    for (const g of this.groups) {
      for (const i of g.experts) {
        if (this.startIds[i].length > g.model.maxPositions) {
          throw new LensError('bad-argument', `Expert ${i + 1}'s context (${this.startIds[i].length} tokens) exceeds the model's context of ${g.model.maxPositions}.`);
        }
      }
    }
    return this.run((g) => {
      const L = Math.max(...g.experts.map((i) => this.startIds[i].length));
      const pad = g.model.tokenizer.padId ?? g.model.eosIds[0] ?? 0;
      const rows = g.experts.map((i) => [...Array(L - this.startIds[i].length).fill(pad), ...this.startIds[i]]);
      const mask = g.experts.map((i) => {
        const m = new Uint8Array(L);
        m.fill(1, L - this.startIds[i].length);
        return m;
      });
      return { rows, mask };
    }, signal);
  }

  /** Appends `token` to every expert and returns the next rows. */
  async step(token: number, signal?: AbortSignal) {
    for (let i = 0; i < this.lengths.length; i++) this.lengths[i]++;
    return this.run((g) => ({ rows: g.experts.map(() => [token]) }), signal);
  }
}
