// Hub repos made from the tiny fixture models, laid out as the real ONNX repos are
// (onnx-community / Xenova): config.json, tokenizer.json, tokenizer_config.json at the top,
// variants under onnx/, external data beside a graph.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { makeTinyGpt2, makeTinyLlama, type TinyGpt2Options, type TinyLlamaOptions } from './fixtures';
import { tempDir } from './shared';

const { onnx } = onnxProto;

/** All files of a folder as repo paths → bytes. */
export function folderFiles(dir: string, prefix = ''): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) Object.assign(out, folderFiles(p, `${prefix}${e}/`));
    else out[`${prefix}${e}`] = readFileSync(p);
  }
  return out;
}

/**
 * Moves the float initializers of 1 kB or more of an ONNX model into one external-data file named
 * `location` (as large exports do: model.onnx + model.onnx_data; small and integer tensors, which
 * shape inference reads, stay inline as with onnx's convert_model_to_external_data), returning both.
 */
export function withExternalData(model: Uint8Array, location: string): { onnx: Buffer; data: Buffer } {
  const m = onnx.ModelProto.decode(model);
  const parts: Buffer[] = [];
  let offset = 0;
  for (const t of m.graph!.initializer!) {
    const raw = t.rawData;
    if (!raw || raw.length < 1024 || t.dataType !== onnx.TensorProto.DataType.FLOAT) continue;
    parts.push(Buffer.from(raw));
    t.externalData = [
      { key: 'location', value: location },
      { key: 'offset', value: String(offset) },
      { key: 'length', value: String(raw.length) },
    ];
    t.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
    t.rawData = new Uint8Array(0);
    offset += raw.length;
  }
  return { onnx: Buffer.from(onnx.ModelProto.encode(m).finish()), data: Buffer.concat(parts) };
}

export interface TinyRepo {
  /** Repo path → bytes, to serve. */
  files: Record<string, Buffer>;
  /** The fixture folder the variants came from (load it to compare scores). */
  dir: string;
}

/**
 * An onnx-community-style Llama repo: onnx/model.onnx (float32 KV) and onnx/model_fp16.onnx (a
 * float16-KV, merged-decoder graph without position_ids: the signature of the real fp16 exports).
 */
export function tinyLlamaRepo(opts: TinyLlamaOptions = {}): TinyRepo {
  const base = makeTinyLlama(join(tempDir('lens-hubfix-'), 'llama'), { seed: 7, ...opts });
  const v16 = makeTinyLlama(join(tempDir('lens-hubfix-'), 'llama16'), { seed: 7, ...opts, kvDtype: 'float16', mergedDecoder: true, positionIds: false });
  const files = folderFiles(base.dir);
  files['onnx/model_fp16.onnx'] = Buffer.from(v16.onnx);
  return { files, dir: base.dir };
}

/** A Xenova-style GPT-2 repo: only onnx/decoder_model_merged.onnx (use_cache_branch). */
export function tinyGpt2Repo(opts: TinyGpt2Options = {}): TinyRepo {
  const g = makeTinyGpt2(join(tempDir('lens-hubfix-'), 'gpt2'), { seed: 5, mergedDecoder: true, ...opts });
  const files = folderFiles(g.dir);
  files['onnx/decoder_model_merged.onnx'] = files['onnx/model.onnx']!;
  delete files['onnx/model.onnx'];
  return { files, dir: g.dir };
}

/** A repo whose onnx/model.onnx keeps its weights in onnx/model.onnx_data. */
export function tinyExternalDataRepo(): TinyRepo {
  const base = makeTinyLlama(join(tempDir('lens-hubfix-'), 'llama-ext'), { seed: 9 });
  const files = folderFiles(base.dir);
  const { onnx: graph, data } = withExternalData(base.onnx, 'model.onnx_data');
  files['onnx/model.onnx'] = graph;
  files['onnx/model.onnx_data'] = data;
  return { files, dir: base.dir };
}
