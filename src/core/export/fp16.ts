// float16 weight storage for exported ONNX graphs: large float32 initializers are stored as float16
// and a Cast back to float32 is put in front of the graph, so the file is about half the size while
// the graph still computes in float32 (ONNX Runtime folds the Casts into float32 constants when it
// loads the model, so speed is unchanged). Only storage precision changes: each weight is rounded to
// the nearest float16 (11 significant bits).

import onnxProto from 'onnx-proto';
import type { onnx as pb } from 'onnx-proto';
import { floatToHalf } from '../half';

const { onnx } = onnxProto;

export type WeightsDtype = 'float32' | 'float16';

export interface Float16Options {
  /** Initializers with fewer elements stay float32 (norm weights, scalar constants). Default 1024. */
  minElements?: number;
}

/**
 * Rewrites a serialised ONNX model so that every float32 initializer with at least `minElements`
 * elements is stored as float16 under the name `<name>.fp16`, followed by a Cast node (to float32)
 * that produces the original name. Returns the new serialised model.
 */
export function float16Initializers(model: Uint8Array, opts: Float16Options = {}): Uint8Array {
  const minElements = opts.minElements ?? 1024;
  const m = onnx.ModelProto.decode(model);
  const graph = m.graph;
  if (!graph) throw new Error('ONNX model has no graph');
  const FLOAT = onnx.TensorProto.DataType.FLOAT;
  const FLOAT16 = onnx.TensorProto.DataType.FLOAT16;
  const casts: pb.INodeProto[] = [];
  const inits = graph.initializer ?? [];
  const nodes = graph.node ?? [];
  const taken = new Set<string>([...inits.map((t) => t.name ?? ''), ...nodes.flatMap((n) => n.output ?? [])]);
  for (const t of inits) {
    if (t.dataType !== FLOAT) continue;
    const n = (t.dims ?? []).reduce<number>((a, d) => a * Number(d), 1);
    if (n < minElements) continue;
    const raw = t.rawData && t.rawData.length === n * 4 ? t.rawData : null;
    const src = raw
      ? new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength)) // [n], copied to be aligned
      : Float32Array.from(t.floatData ?? []);
    if (src.length !== n) throw new Error(`ONNX initializer "${t.name}": ${src.length} values for ${n} elements`);
    const half = floatToHalf(src); // [n] float16 bit patterns
    const name = t.name!;
    let stored = `${name}.fp16`;
    while (taken.has(stored)) stored += '_';
    taken.add(stored);
    t.name = stored;
    t.dataType = FLOAT16;
    t.floatData = [];
    t.rawData = new Uint8Array(half.buffer, half.byteOffset, half.byteLength);
    casts.push({
      name: `Cast_fp16_${casts.length}`,
      opType: 'Cast',
      input: [stored],
      output: [name],
      attribute: [{ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: FLOAT }],
    });
  }
  graph.node = [...casts.map((c) => onnx.NodeProto.create(c)), ...nodes];
  return onnx.ModelProto.encode(m).finish();
}
