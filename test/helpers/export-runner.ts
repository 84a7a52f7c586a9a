// Test-only driver for exported decoder graphs: runs onnxruntime-node directly with the
// Optimum-style feeds (left-padded batches, attention_mask, position_ids, KV cache round trip).

import * as ort from 'onnxruntime-node';

export const SESSION_OPTIONS: ort.InferenceSession.SessionOptions = { intraOpNumThreads: 2, interOpNumThreads: 1 };

export interface StepResult {
  /** logits [B, S, V] row-major. */
  logits: Float32Array;
  vocab: number;
  /** All graph outputs by name. */
  outputs: ort.InferenceSession.OnnxValueMapType;
  /** present.{i}.* renamed to past_key_values.{i}.*, ready to feed back. */
  past: Record<string, ort.Tensor>;
}

export interface StepInput {
  /** [B][S] token ids. */
  ids: number[][];
  /** [B][P + S] attention mask (1 = real token, 0 = padding). */
  mask: number[][];
  /** [B][S] positions; default: (number of real tokens before) per row, as cumsum(mask) - 1 clamped at 0. */
  positions?: number[][];
  /** Past KV tensors by input name; default: empty (P = 0). */
  past?: Record<string, ort.Tensor>;
}

const i64 = (rows: number[][]): ort.Tensor =>
  new ort.Tensor('int64', BigInt64Array.from(rows.flat().map((v) => BigInt(v))), [rows.length, rows[0]?.length ?? 0]); // [B, N]

/** Positions of the last `seq` columns of `mask`: cumsum(mask) - 1, clamped at 0. */
export function positionsFromMask(mask: number[][], seq: number): number[][] {
  return mask.map((row) => {
    let c = 0;
    const cum = row.map((m) => (c += m) - 1);
    return cum.slice(row.length - seq).map((p) => Math.max(p, 0));
  });
}

/** Left-pads sequences to a batch: ids [B][S] (pad id 0) and mask [B][S]. */
export function leftPad(seqs: number[][]): { ids: number[][]; mask: number[][] } {
  const S = Math.max(...seqs.map((s) => s.length));
  return {
    ids: seqs.map((s) => [...new Array<number>(S - s.length).fill(0), ...s]),
    mask: seqs.map((s) => [...new Array<number>(S - s.length).fill(0), ...s.map(() => 1)]),
  };
}

export class DecoderRunner {
  private constructor(
    readonly session: ort.InferenceSession,
    readonly numLayers: number,
    readonly kvType: 'float32' | 'float16',
    readonly kvShape: [number, number], // [nKV, hd]
  ) {}

  static async load(model: Uint8Array | string): Promise<DecoderRunner> {
    const session =
      typeof model === 'string'
        ? await ort.InferenceSession.create(model, SESSION_OPTIONS)
        : await ort.InferenceSession.create(model, SESSION_OPTIONS);
    const meta = new Map(session.inputMetadata.map((m) => [m.name, m]));
    let numLayers = 0;
    while (meta.has(`past_key_values.${numLayers}.key`)) numLayers++;
    const kv = meta.get('past_key_values.0.key');
    if (!kv || !kv.isTensor) throw new Error('model has no past_key_values.0.key tensor input');
    const [, nKV, , hd] = kv.shape;
    if (typeof nKV !== 'number' || typeof hd !== 'number') throw new Error(`unexpected past shape ${kv.shape.join(',')}`);
    const kvType = kv.type === 'float16' ? 'float16' : 'float32';
    return new DecoderRunner(session, numLayers, kvType, [nKV, hd]);
  }

  has(input: string): boolean {
    return this.session.inputNames.includes(input);
  }

  /** Empty past tensors [B, nKV, 0, hd]. */
  emptyPast(batch: number): Record<string, ort.Tensor> {
    const past: Record<string, ort.Tensor> = {};
    const dims = [batch, this.kvShape[0], 0, this.kvShape[1]]; // [B, nKV, 0, hd]
    for (let i = 0; i < this.numLayers; i++) {
      for (const k of ['key', 'value']) {
        past[`past_key_values.${i}.${k}`] =
          this.kvType === 'float16' ? new ort.Tensor('float16', new Uint16Array(0), dims) : new ort.Tensor('float32', new Float32Array(0), dims);
      }
    }
    return past;
  }

  async step(input: StepInput): Promise<StepResult> {
    const B = input.ids.length;
    const S = input.ids[0]!.length;
    const past = input.past ?? this.emptyPast(B);
    const P = (past['past_key_values.0.key']!.dims[2] as number) ?? 0;
    if (input.mask[0]!.length !== P + S) throw new Error(`mask has ${input.mask[0]!.length} columns, want ${P + S}`);
    const feeds: Record<string, ort.Tensor> = { ...past, input_ids: i64(input.ids) };
    if (this.has('attention_mask')) feeds.attention_mask = i64(input.mask);
    if (this.has('position_ids')) feeds.position_ids = i64(input.positions ?? positionsFromMask(input.mask, S));
    if (this.has('use_cache_branch')) feeds.use_cache_branch = new ort.Tensor('bool', new Uint8Array([P > 0 ? 1 : 0]), [1]);
    const outputs = await this.session.run(feeds);
    const logits = outputs.logits!;
    const next: Record<string, ort.Tensor> = {};
    for (let i = 0; i < this.numLayers; i++) {
      for (const k of ['key', 'value']) next[`past_key_values.${i}.${k}`] = outputs[`present.${i}.${k}`]!;
    }
    return { logits: logits.data as Float32Array, vocab: logits.dims[2] as number, outputs, past: next };
  }

  /** Cached run of one sequence: prefill the first `prefill` tokens, then feed the rest one at a time. Returns logits [S, V]. */
  async runCached(ids: number[], prefill: number): Promise<Float32Array> {
    const first = await this.step({ ids: [ids.slice(0, prefill)], mask: [ids.slice(0, prefill).map(() => 1)] });
    const V = first.vocab;
    const out = new Float32Array(ids.length * V);
    out.set(first.logits);
    let past = first.past;
    for (let t = prefill; t < ids.length; t++) {
      const r = await this.step({ ids: [[ids[t]!]], mask: [new Array<number>(t + 1).fill(1)], past });
      out.set(r.logits, t * V);
      past = r.past;
    }
    return out;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/** max |a[i] - b[i]| (throws on length mismatch). */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length mismatch: ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

/** Row block [from, to) of a [rows, V] matrix. */
export function rows(m: ArrayLike<number>, V: number, from: number, to: number): number[] {
  return Array.from({ length: (to - from) * V }, (_, i) => m[from * V + i]!);
}
