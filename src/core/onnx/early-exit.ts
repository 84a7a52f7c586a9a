// Early-exit logits derived from a plain decoder graph, so DoLa and layer experts work on a model that
// was exported without `--early-exit` (the shipped zoo models): the final head (RMSNorm + LM head, the
// nodes between the last residual-stream tensor and `logits`) is cloned onto the residual stream after
// each earlier layer. ONNX Runtime runs every node of a graph whatever outputs are fetched, so these
// extra heads live in a second graph, used only when early exits are asked for; the plain graph keeps
// its speed. The weights are shared within the derived graph (the clones read the same initializers).
//
// The residual stream is found structurally in the layout `lens export` writes for Llama graphs:
//   h_0 = Gather(embedding, ids); per layer h ← Add(h, MatMul(attention)); h ← Add(h, MatMul(ffn));
//   logits = MatMul(Mul(Div(h_L, rms(h_L)), norm weight), head).
// Anything else gets a clear error asking for a re-export with --early-exit.
import onnxProto from 'onnx-proto';
import { LensError } from '../errors';

type NodeProto = onnxProto.onnx.INodeProto;

export interface DerivedEarlyExits {
  /** The derived model (ModelProto bytes) with outputs logits_layer_k for each k in `layers`. */
  bytes: Uint8Array;
  /** Layers 1..L−1 whose early-exit logits it outputs. */
  layers: number[];
}

function notDerivable(why: string): LensError {
  return new LensError(
    'bad-model',
    `This model has no early-exit logits and they cannot be derived from its graph (${why}); re-export it with --early-exit.`,
  );
}

/**
 * Residual-stream tensors after each layer (index k−1 → after layer k, k = 1..L) and the head's nodes
 * (in graph order) that turn the last of them into `logits`.
 */
export function residualStream(graph: onnxProto.onnx.IGraphProto, numLayers: number): { after: string[]; head: NodeProto[] } {
  const nodes = graph.node ?? [];
  const producer = new Map<string, NodeProto>();
  for (const n of nodes) for (const o of n.output ?? []) producer.set(o, n);
  const op = (t: string | undefined | null): string => (t ? (producer.get(t)?.opType ?? '') : '');

  const logitsNode = producer.get('logits');
  if (!logitsNode || logitsNode.opType !== 'MatMul') throw notDerivable('`logits` is not the output of a MatMul');
  const normed = logitsNode.input?.[0];
  const mul = normed ? producer.get(normed) : undefined;
  if (!mul || mul.opType !== 'Mul') throw notDerivable('no RMSNorm before the LM head');
  const div = producer.get(mul.input?.[0] ?? '');
  if (!div || div.opType !== 'Div') throw notDerivable('no RMSNorm before the LM head');
  const last = div.input?.[0];
  if (!last) throw notDerivable('no residual stream');

  // Walk the residual stream back to the embedding: two Adds per layer, residual as first input.
  const stream: string[] = [last];
  let t = last;
  while (op(t) === 'Add') {
    const add = producer.get(t)!;
    if (op(add.input?.[1]) !== 'MatMul') throw notDerivable('a residual Add without a MatMul branch');
    t = add.input![0];
    stream.unshift(t);
  }
  if (op(t) !== 'Gather') throw notDerivable('the residual stream does not start at the embedding');
  if (stream.length !== 2 * numLayers + 1) {
    throw notDerivable(`found ${(stream.length - 1) / 2} layers on the residual stream, config.json says ${numLayers}`);
  }
  const after = Array.from({ length: numLayers }, (_, k) => stream[2 * (k + 1)]);

  // The head: nodes that depend on h_L and feed logits.
  const downstream = new Set<string>([last]);
  const fromLast = new Set<NodeProto>();
  for (const n of nodes) {
    if ((n.input ?? []).some((i) => downstream.has(i))) {
      fromLast.add(n);
      for (const o of n.output ?? []) downstream.add(o);
    }
  }
  const upstream = new Set<NodeProto>();
  const stack = [logitsNode];
  while (stack.length) {
    const n = stack.pop()!;
    if (upstream.has(n) || !fromLast.has(n)) continue;
    upstream.add(n);
    for (const i of n.input ?? []) {
      const p = producer.get(i);
      if (p) stack.push(p);
    }
  }
  const head = nodes.filter((n) => upstream.has(n));
  return { after, head };
}

/** Decodes the model and finds its residual stream and head; a LensError when the layout is not ours. */
export function parseDecoder(modelBytes: Uint8Array, numLayers: number) {
  const model = onnxProto.onnx.ModelProto.decode(modelBytes);
  const graph = model.graph;
  if (!graph) throw notDerivable('the file has no graph');
  const kind = (model.metadataProps ?? []).find((p) => p.key === 'lens.model_type')?.value;
  if (kind !== 'llama') throw notDerivable('it was not written by `lens export` for a Llama model');
  return { model, graph, ...residualStream(graph, numLayers) };
}

/** The layers deriveEarlyExits would give (1..L−1), [] when the graph is not derivable; builds nothing. */
export function derivableLayers(modelBytes: Uint8Array, numLayers: number): number[] {
  try {
    parseDecoder(modelBytes, numLayers);
  } catch (e) {
    if (e instanceof LensError) return [];
    throw e;
  }
  return Array.from({ length: numLayers - 1 }, (_, i) => i + 1);
}

/** Derives a graph with logits_layer_k for k = 1..L−1 from a plain Llama decoder graph written by `lens export`. */
export function deriveEarlyExits(modelBytes: Uint8Array, numLayers: number): DerivedEarlyExits {
  const { model, graph, after, head } = parseDecoder(modelBytes, numLayers);
  const last = after[numLayers - 1];
  const logitsInfo = (graph.output ?? []).find((o) => o.name === 'logits');
  if (!logitsInfo) throw notDerivable('no logits output');
  const layers: number[] = [];
  for (let k = 1; k < numLayers; k++) {
    const suffix = `/early_exit_${k}`;
    const rename = new Map<string, string>([[last, after[k - 1]]]);
    for (const n of head) for (const o of n.output ?? []) rename.set(o, o === 'logits' ? `logits_layer_${k}` : `${o}${suffix}`);
    for (const n of head) {
      graph.node!.push(
        onnxProto.onnx.NodeProto.create({
          ...n,
          name: n.name ? `${n.name}${suffix}` : '',
          input: (n.input ?? []).map((i) => rename.get(i) ?? i),
          output: (n.output ?? []).map((o) => rename.get(o)!),
        }),
      );
    }
    graph.output!.push(onnxProto.onnx.ValueInfoProto.create({ ...logitsInfo, name: `logits_layer_${k}` }));
    layers.push(k);
  }
  return { bytes: onnxProto.onnx.ModelProto.encode(model).finish(), layers };
}
