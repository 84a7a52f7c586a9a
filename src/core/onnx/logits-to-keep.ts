// Logits for the last positions only, derived from a decoder graph written by `lens export` (Llama).
//
// A decoder graph computes the LM head at every input position: logits [batch, seq, vocab]. Scoring
// needs them all, but generation needs only each row's last position, so a prefill of a long
// context would spend most of its time (and memory) on rows it throws away: a 1000-token prompt with
// V = 32,000 is a [1000, 32000] MatMul and 128 MB of float32 output, where one row is needed. This is
// Hugging Face's `num_logits_to_keep` / llama.cpp's "logits only for the last token": the derived
// graph takes an extra input `num_logits_to_keep` (int64 [1], 1 ≤ k ≤ seq) and slices the residual
// stream to its last k positions before the final RMSNorm and the LM head:
//
//   logits = head(h_L)            becomes            logits = head(h_L[:, -k:, :])     // [batch, k, vocab]
//
// Same weights, same numbers at the kept positions (the head is per position). The residual stream
// and the head are found as for the derived early exits (src/core/onnx/early-exit.ts).
import onnxProto from 'onnx-proto';
import { parseDecoder } from './early-exit';
import { dtypeCode, valueInfo } from './graph';

const { onnx } = onnxProto;

/** Name of the input the derived graph adds: how many last positions get logits (int64 [1]). */
export const LOGITS_TO_KEEP = 'num_logits_to_keep';


/**
 * The graph of `modelBytes` with the `num_logits_to_keep` input, or null when the graph is not a
 * Llama decoder written by `lens export` (its layout is then unknown: every position gets logits).
 */
export function deriveLogitsToKeep(modelBytes: Uint8Array, numLayers: number): Uint8Array | null {
  let parsed: ReturnType<typeof parseDecoder>;
  try {
    parsed = parseDecoder(modelBytes, numLayers);
  } catch {
    // Not our layout (a LensError), or bytes protobuf cannot read (a corrupt file): leave the file to
    // ONNX Runtime, whose load error names the problem.
    return null;
  }
  const { model, graph, after, head } = parsed;
  const inputs = graph.input ?? [];
  if (inputs.some((i) => i.name === LOGITS_TO_KEEP)) return null;
  // Weights stored outside the file cannot be found from bytes (no base folder): leave such graphs alone.
  if ((graph.initializer ?? []).some((t) => t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL)) return null;
  const last = after[numLayers - 1];
  const names = new Set<string>([...inputs.map((i) => i.name ?? ''), ...(graph.initializer ?? []).map((t) => t.name ?? '')]);
  for (const n of graph.node ?? []) for (const o of n.output ?? []) names.add(o);
  const fresh = (base: string): string => {
    let name = `${base}/logits_to_keep`;
    for (let i = 1; names.has(name); i++) name = `${base}/logits_to_keep_${i}`;
    names.add(name);
    return name;
  };
  const int64 = (base: string, values: bigint[]) => {
    const name = fresh(base);
    const data = BigInt64Array.from(values);
    graph.initializer!.push(onnx.TensorProto.create({ name, dataType: dtypeCode('int64'), dims: [values.length], rawData: new Uint8Array(data.buffer) }));
    return name;
  };
  const starts = fresh('starts');
  const kept = fresh('hidden'); // [batch, k, D]
  const sliceNodes = [
    onnx.NodeProto.create({ name: fresh('neg'), opType: 'Neg', input: [LOGITS_TO_KEEP], output: [starts] }), // [1] = −k
    onnx.NodeProto.create({
      name: fresh('slice'),
      opType: 'Slice',
      input: [last, starts, int64('ends', [9223372036854775807n]), int64('axes', [1n])],
      output: [kept],
    }),
  ];
  for (const n of head) n.input = (n.input ?? []).map((i) => (i === last ? kept : i));
  // Insert the slice just before the first head node (the graph stays topologically sorted).
  const nodes = graph.node!;
  nodes.splice(nodes.indexOf(head[0]), 0, ...sliceNodes);
  inputs.push(valueInfo(LOGITS_TO_KEEP, 'int64', [1]));
  const logits = (graph.output ?? []).find((o) => o.name === 'logits');
  const seqDim = logits?.type?.tensorType?.shape?.dim?.[1];
  if (seqDim) {
    seqDim.dimParam = 'logits_sequence_length';
    seqDim.dimValue = undefined as unknown as number;
  }
  return onnx.ModelProto.encode(model).finish();
}
