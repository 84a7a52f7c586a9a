// A small, typed ONNX graph builder over onnx-proto (protobufjs). It knows just enough ONNX to
// write the decoder graphs in src/core/export: typed graph inputs/outputs with symbolic dims,
// float32 / int64 initializers, nodes with typed attributes, and serialisation to bytes.
// The protobuf encoding itself is onnx-proto's; nothing here hand-writes wire format.

import onnxProto from 'onnx-proto';
import type { onnx as pb } from 'onnx-proto';

const { onnx } = onnxProto;

/** Opset of the default ("ai.onnx") domain the graphs target unless a builder asks for another. */
export const OPSET = 17;
/** IR version 8 is the one that goes with opset 17 (ONNX 1.12/1.13). */
export const IR_VERSION = 8;
/**
 * Opset of graphs that use ONNX's fused transformer ops (Attention, RotaryEmbedding: opset 23, ONNX
 * 1.18), written with IR version 11. Reduce ops take `axes` as an input from opset 18 on.
 */
export const FUSED_OPSET = 23;
const IR_FOR_OPSET = (opset: number): number => (opset >= 23 ? 11 : opset >= 21 ? 10 : opset >= 19 ? 9 : IR_VERSION);

export type DType = 'float32' | 'float16' | 'int64' | 'int32' | 'bool';
/** A tensor dimension: a fixed size, or a symbolic name such as "batch_size". */
export type Dim = number | string;

const DTYPE_CODE: Record<DType, number> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  float16: onnx.TensorProto.DataType.FLOAT16,
  int64: onnx.TensorProto.DataType.INT64,
  int32: onnx.TensorProto.DataType.INT32,
  bool: onnx.TensorProto.DataType.BOOL,
};

/** ONNX TensorProto.DataType code of a dtype (what the `to` attribute of Cast wants). */
export function dtypeCode(dtype: DType): number {
  return DTYPE_CODE[dtype];
}

/** A node attribute, tagged with its ONNX attribute type (ints and floats differ on the wire). */
export type Attr =
  | { kind: 'int'; value: number }
  | { kind: 'float'; value: number }
  | { kind: 'ints'; value: number[] }
  | { kind: 'floats'; value: number[] }
  | { kind: 'string'; value: string };

/** Attribute constructors: `attr.int(1)`, `attr.ints([0, 2, 1, 3])`, `attr.float(1e-5)`. */
export const attr = {
  int: (value: number): Attr => ({ kind: 'int', value }),
  float: (value: number): Attr => ({ kind: 'float', value }),
  ints: (value: number[]): Attr => ({ kind: 'ints', value }),
  floats: (value: number[]): Attr => ({ kind: 'floats', value }),
  string: (value: string): Attr => ({ kind: 'string', value }),
};

/** An attribute as an AttributeProto (for graphs edited outside a GraphBuilder). */
export function encodeAttr(name: string, a: Attr): pb.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  switch (a.kind) {
    case 'int':
      return { name, type: T.INT, i: a.value };
    case 'float':
      return { name, type: T.FLOAT, f: a.value };
    case 'ints':
      return { name, type: T.INTS, ints: a.value };
    case 'floats':
      return { name, type: T.FLOATS, floats: a.value };
    case 'string':
      return { name, type: T.STRING, s: new TextEncoder().encode(a.value) };
  }
}

/** A typed graph input/output: dtype and dims (fixed sizes or symbolic names). */
export function valueInfo(name: string, dtype: DType, dims: readonly Dim[]): pb.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: DTYPE_CODE[dtype],
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function bytesOf(view: ArrayBufferView): Uint8Array {
  // Copy: the TypedArray may be a view into a larger buffer (e.g. a slice of a checkpoint file).
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength).slice();
}

function product(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

export interface NodeOptions {
  /** Names for the node's outputs; default: generated unique names. Its length sets the output count. */
  outputs?: string[];
  /** Number of outputs when `outputs` is not given (default 1). */
  numOutputs?: number;
}

/**
 * Builds one ONNX graph. Values are referred to by name (strings); `op` returns the names of the
 * outputs it created, so graphs read as straight-line code:
 *
 *   const h = g.op('MatMul', [x, g.initFloat('w', w, [d, n])]); // [B, S, n]
 */
export class GraphBuilder {
  private readonly nodes: pb.INodeProto[] = [];
  private readonly initializers: pb.ITensorProto[] = [];
  private readonly inputs: pb.IValueInfoProto[] = [];
  private readonly outputs: pb.IValueInfoProto[] = [];
  private readonly names = new Set<string>();
  private readonly constCache = new Map<string, string>();
  private counter = 0;
  /** Opset of the default domain this graph is written for. */
  readonly opset: number;

  constructor(
    private readonly graphName: string,
    opts: { opset?: number } = {},
  ) {
    this.opset = opts.opset ?? OPSET;
  }

  private claim(name: string): string {
    if (this.names.has(name)) throw new Error(`ONNX graph: duplicate value name "${name}"`);
    this.names.add(name);
    return name;
  }

  /** A fresh value name with the given prefix. */
  fresh(prefix: string): string {
    let name: string;
    do name = `${prefix}_${this.counter++}`;
    while (this.names.has(name));
    return name;
  }

  /** Declares a graph input; returns its name. */
  input(name: string, dtype: DType, dims: readonly Dim[]): string {
    this.inputs.push(valueInfo(this.claim(name), dtype, dims));
    return name;
  }

  /**
   * Declares the value `value` as the graph output `name`. If the value has another name, an
   * Identity node gives it the output name.
   */
  output(name: string, value: string, dtype: DType, dims: readonly Dim[]): void {
    if (value !== name) this.op('Identity', [value], {}, { outputs: [name] });
    else if (!this.names.has(name)) throw new Error(`ONNX graph: output "${name}" is not a value of the graph`);
    this.outputs.push(valueInfo(name, dtype, dims));
  }

  /** A float32 initializer (stored as raw little-endian bytes). */
  initFloat(name: string, data: Float32Array, dims: readonly number[]): string {
    if (data.length !== product(dims)) {
      throw new Error(`ONNX initializer "${name}": ${data.length} values for shape [${dims.join(', ')}]`);
    }
    this.initializers.push({ name: this.claim(name), dataType: DTYPE_CODE.float32, dims: [...dims], rawData: bytesOf(data) });
    return name;
  }

  /** An int64 initializer. */
  initInt64(name: string, values: readonly number[], dims: readonly number[] = [values.length]): string {
    if (values.length !== product(dims)) {
      throw new Error(`ONNX initializer "${name}": ${values.length} values for shape [${dims.join(', ')}]`);
    }
    const data = BigInt64Array.from(values, (v) => BigInt(v));
    this.initializers.push({ name: this.claim(name), dataType: DTYPE_CODE.int64, dims: [...dims], rawData: bytesOf(data) });
    return name;
  }

  /** A shared int64 constant (1-D unless `scalar`), deduplicated by value. */
  i64(values: number | readonly number[], scalar = false): string {
    const arr = typeof values === 'number' ? [values] : [...values];
    const dims = scalar ? [] : [arr.length];
    const key = `i64:${scalar ? 's' : 'v'}:${arr.join(',')}`;
    let name = this.constCache.get(key);
    if (!name) {
      name = this.initInt64(this.fresh(scalar ? 'const_i64_s' : 'const_i64'), arr, dims);
      this.constCache.set(key, name);
    }
    return name;
  }

  /** A shared float32 scalar constant (shape []), deduplicated by value. */
  f32(value: number): string {
    const f = Math.fround(value);
    const key = `f32:${Object.is(f, -0) ? '-0' : String(f)}`;
    let name = this.constCache.get(key);
    if (!name) {
      name = this.initFloat(this.fresh('const_f32'), new Float32Array([f]), []);
      this.constCache.set(key, name);
    }
    return name;
  }

  /** Adds a node; returns its output names. Pass '' in `inputs` for an omitted optional input. */
  node(opType: string, inputs: readonly string[], attrs: Record<string, Attr> = {}, opts: NodeOptions = {}): string[] {
    for (const i of inputs) {
      if (i !== '' && !this.names.has(i)) throw new Error(`ONNX graph: ${opType} reads unknown value "${i}"`);
    }
    const outputs = opts.outputs
      ? opts.outputs.map((o) => this.claim(o))
      : Array.from({ length: opts.numOutputs ?? 1 }, () => this.claim(this.fresh(opType)));
    this.nodes.push({
      name: `${opType}_node_${this.nodes.length}`,
      opType,
      input: [...inputs],
      output: outputs,
      attribute: Object.entries(attrs).map(([k, a]) => encodeAttr(k, a)),
    });
    return outputs;
  }

  /** Adds a single-output node; returns the output name. */
  op(opType: string, inputs: readonly string[], attrs: Record<string, Attr> = {}, opts: { outputs?: [string] } = {}): string {
    return this.node(opType, inputs, attrs, opts)[0]!;
  }

  /** The ModelProto object (for inspection); `toBytes` serialises it. */
  toModel(meta: Record<string, string> = {}): pb.ModelProto {
    return onnx.ModelProto.create({
      irVersion: IR_FOR_OPSET(this.opset),
      producerName: 'likelihood-lens',
      opsetImport: [{ domain: '', version: this.opset }],
      metadataProps: Object.entries(meta).map(([key, value]) => ({ key, value })),
      graph: {
        name: this.graphName,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
    });
  }

  /** Serialised ONNX model (protobuf bytes). */
  toBytes(meta: Record<string, string> = {}): Uint8Array {
    return onnx.ModelProto.encode(this.toModel(meta)).finish();
  }
}
