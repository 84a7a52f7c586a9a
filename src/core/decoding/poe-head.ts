// The Product-of-Experts combination run by ONNX Runtime (a tiny graph from our ONNX writer), so a
// step over a large vocabulary costs native kernels instead of several JavaScript passes:
//   rows [experts, vocab] raw logits, inv_t [experts] (1/T_i), w [experts] →
//   combined [vocab] = log_softmax(Σ_i w_i · log_softmax(rows_i · inv_t_i))      ('logprobs')
//                   or log_softmax(Σ_i w_i · rows_i · inv_t_i)                    ('logits', the seed)
//   lse [experts] = logsumexp(rows_i)  (each expert's own log-prob of a token is rows_i[x] − lse_i)
// Same numbers as combinePoe() in float32 precision (tested). Rows of a small vocabulary
// (V ≤ JS_MAX_VOCAB) are combined in JavaScript instead: there one ONNX Runtime call costs more than
// the arithmetic (measured at V = 512: 65–90 µs per step through ORT, 30–47 µs in JS, E = 2–4;
// at V = 32000 ORT is several times faster). Each row's lse comes from its LogSoftmax (see
// lseFromLogSoftmax), not from ReduceLogSumExp, which is 3× slower.
import * as ort from 'onnxruntime-node';
import { GraphBuilder, attr } from '../onnx/graph';
import { NATIVE_ROW_MIN_VOCAB, lseFromLogSoftmax } from '../scoring-head';
import { logSumExp } from '../math';

/**
 * The head's graph. `unitTemps`: every 1/T_i is 1, so in 'logprobs' mode the one LogSoftmax of the
 * rows gives both the terms and each row's lse (a pass over [E, V] less).
 */
export function buildPoeHead(mode: 'logprobs' | 'logits', unitTemps = false): Uint8Array {
  const g = new GraphBuilder(`lens_poe_head_${mode}${unitTemps ? '_t1' : ''}`);
  const rows = g.input('rows', 'float32', ['experts', 'vocab']); // [E, V]
  const invT = g.input('inv_t', 'float32', ['experts']); // [E]
  const w = g.input('w', 'float32', ['experts']); // [E]
  const col = (x: string) => g.op('Unsqueeze', [x, g.i64([1])]); // [E, 1]
  const lsmRows = g.op('LogSoftmax', [rows], { axis: attr.int(1) }); // [E, V]
  let terms: string; // [E, V]
  if (mode === 'logits') terms = g.op('Mul', [rows, col(invT)]);
  else if (unitTemps) terms = lsmRows;
  else terms = g.op('LogSoftmax', [g.op('Mul', [rows, col(invT)])], { axis: attr.int(1) });
  const sum = g.op('ReduceSum', [g.op('Mul', [terms, col(w)]), g.i64([0])], { keepdims: attr.int(1) }); // [1, V]
  const combined = g.op('LogSoftmax', [sum], { axis: attr.int(1) }); // [1, V]
  g.output('combined', g.op('Squeeze', [combined, g.i64([0])]), 'float32', ['vocab']);
  g.output('lse', lseFromLogSoftmax(g, rows, lsmRows).lse, 'float32', ['experts']);
  return g.toBytes();
}

/** Largest vocabulary combined in JavaScript rather than by ONNX Runtime. */
export const JS_MAX_VOCAB = NATIVE_ROW_MIN_VOCAB - 1;

/**
 * The head's arithmetic in JavaScript (float64 accumulation, float32 results), for small vocabularies:
 * rows [E, V] raw logits → combined [V] log-probs, lse [E] = logsumexp of each raw row.
 */
export function poeHeadJs(rows: Float32Array, E: number, V: number, temps: readonly number[], weights: readonly number[], mode: 'logprobs' | 'logits') {
  const lse = new Float32Array(E);
  const acc = new Float64Array(V); // Σ_i w_i · term_i, [V]
  for (let e = 0; e < E; e++) {
    const off = e * V;
    const inv = 1 / temps[e];
    const rawLse = logSumExp(rows, off, V);
    lse[e] = rawLse;
    const w = weights[e];
    if (w === 0) continue;
    // logprobs: term = rows·inv − logsumexp(rows·inv); logits: term = rows·inv.
    let c = 0;
    if (mode === 'logprobs') {
      if (inv === 1) c = rawLse;
      else {
        let m = -Infinity;
        for (let v = 0; v < V; v++) if (rows[off + v] > m) m = rows[off + v];
        let st = 0;
        for (let v = 0; v < V; v++) st += Math.exp((rows[off + v] - m) * inv);
        c = m * inv + Math.log(st);
      }
    }
    for (let v = 0; v < V; v++) acc[v] += w * (rows[off + v] * inv - c);
  }
  const z = logSumExp(acc);
  const combined = new Float32Array(V);
  for (let v = 0; v < V; v++) combined[v] = acc[v] - z;
  return { combined, lse };
}

export class PoeHead {
  private sessions = new Map<string, Promise<ort.InferenceSession>>();
  constructor(private readonly threads = 2) {}

  /** rows: [E, V] packed; returns the combined log-probs [V] and each row's logsumexp [E]. */
  async run(rows: Float32Array, E: number, V: number, temps: number[], weights: number[], mode: 'logprobs' | 'logits') {
    if (V <= JS_MAX_VOCAB) return poeHeadJs(rows, E, V, temps, weights, mode);
    return this.runOrt(rows, E, V, temps, weights, mode);
  }

  /** The ONNX Runtime graph, whatever the vocabulary size. */
  async runOrt(rows: Float32Array, E: number, V: number, temps: number[], weights: number[], mode: 'logprobs' | 'logits') {
    const unit = temps.every((t) => t === 1);
    const key = `${mode}:${unit}`;
    let s = this.sessions.get(key);
    if (!s) {
      s = ort.InferenceSession.create(buildPoeHead(mode, unit), { intraOpNumThreads: this.threads, interOpNumThreads: 1, extra: { session: { intra_op: { allow_spinning: '0' } } } });
      this.sessions.set(key, s);
    }
    const out = await (await s).run({
      rows: new ort.Tensor('float32', rows, [E, V]), // [E, V]
      inv_t: new ort.Tensor('float32', Float32Array.from(temps, (t) => 1 / t), [E]), // [E]
      w: new ort.Tensor('float32', Float32Array.from(weights), [E]), // [E]
    });
    return { combined: out.combined.data as Float32Array, lse: out.lse.data as Float32Array };
  }

  async dispose(): Promise<void> {
    for (const s of this.sessions.values()) await (await s).release();
    this.sessions.clear();
  }
}
