// llama2.c legacy checkpoints (Karpathy's `run.c` format) -> LlamaWeights -> ONNX model folder.
//
// Layout: 7 little-endian int32 header fields (dim, hidden_dim, n_layers, n_heads, n_kv_heads,
// vocab_size, seq_len; a negative vocab_size means an untied classifier follows the weights), then
// float32 arrays: token_embedding [vocab, dim], rms_att [L, dim], wq [L, dim, dim],
// wk [L, kv_dim, dim], wv [L, kv_dim, dim], wo [L, dim, dim], rms_ffn [L, dim], w1 [L, hidden, dim],
// w2 [L, dim, hidden], w3 [L, hidden, dim], rms_final [dim], freq_cis_real [seq_len, head/2],
// freq_cis_imag [seq_len, head/2] (both unused: RoPE is recomputed), then wcls [vocab, dim] if untied.
// Matrices are PyTorch Linear layout [out, in].

import { LensError } from '../errors';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { DecoderExportOptions } from './decoder';
import { llamaConfigJson, readSpecialTokenIds, writeModelFolder, type ModelFolderFiles } from './folder';
import { float16Initializers, type WeightsDtype } from './fp16';
import { buildLlamaOnnx, type LlamaLayerWeights, type LlamaWeights } from './llama';

const HEADER_BYTES = 7 * 4;

/** llama2.c's fixed hyper-parameters that are not in the header. */
export const LLAMA2C_NORM_EPS = 1e-5;
export const LLAMA2C_ROPE_THETA = 10000;

/** Parses a llama2.c legacy checkpoint into LlamaWeights (ropeStyle 'interleaved'). */
export function parseLlama2c(bytes: Uint8Array): LlamaWeights {
  if (bytes.byteLength < HEADER_BYTES) throw new LensError('bad-file', 'llama2.c checkpoint: file shorter than its header');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const [dim, hiddenDim, numLayers, numHeads, numKvHeads, rawVocab, seqLen] = Array.from({ length: 7 }, (_, i) =>
    view.getInt32(i * 4, true),
  ) as [number, number, number, number, number, number, number];
  const vocabSize = Math.abs(rawVocab);
  const tied = rawVocab > 0;
  for (const [k, v] of Object.entries({ dim, hiddenDim, numLayers, numHeads, numKvHeads, vocabSize, seqLen })) {
    if (!(v > 0)) throw new LensError('bad-file', `llama2.c checkpoint: header field ${k} = ${v} is not positive`);
  }
  if (dim % numHeads !== 0 || numHeads % numKvHeads !== 0) {
    throw new LensError('bad-file', `llama2.c checkpoint: dim ${dim}, n_heads ${numHeads}, n_kv_heads ${numKvHeads} are inconsistent`);
  }
  const headSize = dim / numHeads;
  const kvDim = (dim * numKvHeads) / numHeads;
  const L = numLayers;
  const floats =
    vocabSize * dim +
    L * (dim + dim * dim + 2 * kvDim * dim + dim * dim + dim + 3 * hiddenDim * dim) +
    dim +
    seqLen * headSize +
    (tied ? 0 : vocabSize * dim);
  const expected = HEADER_BYTES + floats * 4;
  if (bytes.byteLength !== expected) {
    throw new LensError('bad-file', `llama2.c checkpoint: ${bytes.byteLength} bytes, header implies ${expected}`);
  }

  let offset = HEADER_BYTES;
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new LensError('bad-file', 'llama2.c checkpoint: big-endian hosts are not supported');
  // Each array is copied into its own buffer (the file buffer need not be 4-byte aligned).
  const take = (n: number): Float32Array => {
    // (a Node Buffer's slice() is a view, so copy explicitly)
    const chunk = new Uint8Array(n * 4);
    chunk.set(bytes.subarray(offset, offset + n * 4));
    const out = new Float32Array(chunk.buffer);
    offset += n * 4;
    return out;
  };
  const perLayer = (n: number): Float32Array[] => Array.from({ length: L }, () => take(n));

  const tokEmbedding = take(vocabSize * dim); // [vocab, dim]
  const rmsAtt = perLayer(dim); // L x [dim]
  const wq = perLayer(dim * dim); // L x [dim, dim]
  const wk = perLayer(kvDim * dim); // L x [kv_dim, dim]
  const wv = perLayer(kvDim * dim); // L x [kv_dim, dim]
  const wo = perLayer(dim * dim); // L x [dim, dim]
  const rmsFfn = perLayer(dim); // L x [dim]
  const w1 = perLayer(hiddenDim * dim); // L x [hidden, dim]
  const w2 = perLayer(dim * hiddenDim); // L x [dim, hidden]
  const w3 = perLayer(hiddenDim * dim); // L x [hidden, dim]
  const finalNorm = take(dim); // [dim]
  offset += seqLen * headSize * 4; // freq_cis_real + freq_cis_imag, [seq_len, head/2] each
  const lmHead = tied ? null : take(vocabSize * dim); // [vocab, dim]

  const layers: LlamaLayerWeights[] = Array.from({ length: L }, (_, i) => ({
    attnNorm: rmsAtt[i]!,
    wq: wq[i]!,
    wk: wk[i]!,
    wv: wv[i]!,
    wo: wo[i]!,
    ffnNorm: rmsFfn[i]!,
    w1: w1[i]!,
    w2: w2[i]!,
    w3: w3[i]!,
  }));
  return {
    config: {
      dim,
      hiddenDim,
      numLayers,
      numHeads,
      numKvHeads,
      headDim: headSize,
      vocabSize,
      maxSeqLen: seqLen,
      normEps: LLAMA2C_NORM_EPS,
      ropeTheta: LLAMA2C_ROPE_THETA,
      ropeStyle: 'interleaved',
    },
    tokEmbedding,
    layers,
    finalNorm,
    lmHead,
  };
}

/** Reads and parses a llama2.c legacy checkpoint file. */
export function readLlama2c(file: string): LlamaWeights {
  if (!existsSync(file)) throw new LensError('missing-file', `llama2.c checkpoint not found: ${file}`);
  try {
    return parseLlama2c(readFileSync(file));
  } catch (e) {
    if (e instanceof LensError) throw new LensError(e.code, `${file}: ${e.message}`);
    throw e;
  }
}

export interface ExportLlama2cOptions extends DecoderExportOptions {
  /** Path of the llama2.c checkpoint (`*.bin`, legacy format). */
  weights: string;
  /** Folder with the model's tokenizer.json and tokenizer_config.json (+ generation_config.json), copied into the output. */
  tokenizerDir: string;
  /** Output model folder (created; files in it are overwritten). */
  outDir: string;
  /**
   * Storage type of the weight matrices in model.onnx (default float32). 'float16' halves the file:
   * matrices are stored as float16 and cast to float32 in the graph, which computes in float32.
   */
  weightsDtype?: WeightsDtype;
}

export interface ExportLlama2cResult extends ModelFolderFiles {
  /** The config.json written. */
  config: Record<string, unknown>;
}

/**
 * Exports a llama2.c checkpoint as a transformers.js-style model folder (onnx/model.onnx,
 * config.json, tokenizer files). BOS / EOS ids come from the tokenizer dir (tokenizer_config.json's
 * bos_token / eos_token, else `<s>` / `</s>`, else llama2.c's 1 / 2). Synchronous; throws on a
 * malformed checkpoint, a missing tokenizer.json, or a tokenizer larger than the model's vocab. This is what `lens export llama2c --weights FILE.bin --tokenizer DIR
 * --out DIR [--early-exit 2,3] [--weights-dtype fp16] [--head-combine product-all]` runs.
 */
export function exportLlama2c(opts: ExportLlama2cOptions): ExportLlama2cResult {
  const { weights: weightsPath, tokenizerDir, outDir, weightsDtype = 'float32', ...graphOpts } = opts;
  if (weightsDtype !== 'float32' && weightsDtype !== 'float16') throw new LensError('bad-argument', `weightsDtype must be float32 or float16, not ${JSON.stringify(weightsDtype)}`);
  if (!existsSync(path.join(tokenizerDir, 'tokenizer.json'))) throw new LensError('missing-file', `tokenizer dir ${tokenizerDir} has no tokenizer.json`);
  const weights = readLlama2c(weightsPath);
  const special = readSpecialTokenIds(tokenizerDir, { bos: '<s>', eos: '</s>' });
  const tokVocab = tokenizerVocabSize(tokenizerDir);
  if (tokVocab !== null && tokVocab > weights.config.vocabSize) {
    throw new LensError('vocab-mismatch', `tokenizer has ${tokVocab} tokens but the checkpoint's vocab_size is ${weights.config.vocabSize}`);
  }
  const config = llamaConfigJson(weights, {
    bosTokenId: special.bos ?? 1,
    eosTokenId: special.eos ?? 2,
    earlyExitLayers: graphOpts.earlyExitLayers,
    headCombine: graphOpts.headCombine,
  });
  let onnx = buildLlamaOnnx(weights, graphOpts);
  if (weightsDtype === 'float16') onnx = float16Initializers(onnx);
  return { ...writeModelFolder(outDir, { onnx, config, tokenizerDir }), config };
}

/** Number of ids a tokenizer.json can produce (max id + 1), or null when it cannot be read. */
function tokenizerVocabSize(tokenizerDir: string): number | null {
  try {
    const tok = JSON.parse(readFileSync(path.join(tokenizerDir, 'tokenizer.json'), 'utf8')) as {
      added_tokens?: { id: number }[];
      model?: { vocab?: Record<string, number> };
    };
    let max = -1;
    for (const id of Object.values(tok.model?.vocab ?? {})) max = Math.max(max, id);
    for (const t of tok.added_tokens ?? []) max = Math.max(max, t.id);
    return max >= 0 ? max + 1 : null;
  } catch {
    return null;
  }
}
