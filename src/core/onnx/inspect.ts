// Reading facts off an ONNX file that ONNX Runtime does not expose: the parameter count.
import { readFileSync } from 'node:fs';
import onnxProto from 'onnx-proto';

/**
 * Number of weights in the graph's initializers (Σ over initializers of Π dims), skipping scalar
 * and tiny constants (< 16 elements: shapes, epsilons). Works for external-data models too (the
 * dims live in the protobuf).
 */
export function countParameters(onnxPath: string): number {
  const model = onnxProto.onnx.ModelProto.decode(readFileSync(onnxPath));
  let n = 0;
  for (const t of model.graph?.initializer ?? []) {
    const size = (t.dims ?? []).reduce((a: number, d) => a * Number(d), 1);
    if (size >= 16) n += size;
  }
  return n;
}
