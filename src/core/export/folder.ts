// Writes an exported model as a Hugging Face / transformers.js style folder:
//   <out>/onnx/model.onnx, <out>/config.json, <out>/tokenizer.json, <out>/tokenizer_config.json
//   (+ generation_config.json when the tokenizer dir has one).

import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { DecoderExportOptions, HeadCombine } from './decoder';
import type { Gpt2Weights } from './gpt2';
import { llamaHeadDim, type LlamaWeights } from './llama';

export interface ModelFolderContents {
  /** Serialised ONNX model, written to onnx/model.onnx. */
  onnx: Uint8Array;
  /** config.json contents (see llamaConfigJson / gpt2ConfigJson). */
  config: Record<string, unknown>;
  /** Folder holding tokenizer.json (required), tokenizer_config.json and generation_config.json (copied when present). */
  tokenizerDir: string;
}

export interface ModelFolderFiles {
  dir: string;
  onnxPath: string;
  configPath: string;
  /** Every file written, absolute paths. */
  files: string[];
}

const REQUIRED_TOKENIZER_FILES = ['tokenizer.json'];
const OPTIONAL_TOKENIZER_FILES = ['tokenizer_config.json', 'generation_config.json'];

/** Writes the model folder (creating it); existing files of the same names are overwritten. */
export function writeModelFolder(outDir: string, contents: ModelFolderContents): ModelFolderFiles {
  const dir = path.resolve(outDir);
  for (const f of REQUIRED_TOKENIZER_FILES) {
    if (!existsSync(path.join(contents.tokenizerDir, f))) {
      throw new Error(`tokenizer dir ${contents.tokenizerDir} has no ${f}`);
    }
  }
  mkdirSync(path.join(dir, 'onnx'), { recursive: true });
  const onnxPath = path.join(dir, 'onnx', 'model.onnx');
  const configPath = path.join(dir, 'config.json');
  writeFileSync(onnxPath, contents.onnx);
  writeFileSync(configPath, JSON.stringify(contents.config, null, 2) + '\n');
  const files = [onnxPath, configPath];
  for (const f of [...REQUIRED_TOKENIZER_FILES, ...OPTIONAL_TOKENIZER_FILES]) {
    const src = path.join(contents.tokenizerDir, f);
    if (!existsSync(src)) continue;
    const dst = path.join(dir, f);
    if (path.resolve(src) !== dst) {
      // Not copyFileSync: that keeps the source's mode, and sources are often read-only (../shared),
      // which would make the next export into this folder fail.
      const data = readFileSync(src);
      rmSync(dst, { force: true });
      writeFileSync(dst, data);
    }
    files.push(dst);
  }
  return { dir, onnxPath, configPath, files };
}

export interface SpecialTokenIds {
  bos: number | null;
  eos: number | null;
}

/**
 * Looks up the BOS / EOS ids of a tokenizer dir: the `bos_token` / `eos_token` of
 * tokenizer_config.json (or the `fallback` token strings when it does not name them or is absent),
 * resolved through tokenizer.json's added_tokens and model vocab. null = not found.
 */
export function readSpecialTokenIds(tokenizerDir: string, fallback: { bos?: string; eos?: string } = {}): SpecialTokenIds {
  const cfgPath = path.join(tokenizerDir, 'tokenizer_config.json');
  const cfg = existsSync(cfgPath) ? (JSON.parse(readFileSync(cfgPath, 'utf8')) as Record<string, unknown>) : {};
  const tok = JSON.parse(readFileSync(path.join(tokenizerDir, 'tokenizer.json'), 'utf8')) as {
    added_tokens?: { id: number; content: string }[];
    model?: { vocab?: Record<string, number> | [string, number][] };
  };
  const lookup = (entry: unknown): number | null => {
    const content = typeof entry === 'string' ? entry : (entry as { content?: unknown } | null)?.content;
    if (typeof content !== 'string') return null;
    const added = tok.added_tokens?.find((t) => t.content === content);
    if (added) return added.id;
    const vocab = tok.model?.vocab;
    if (vocab && !Array.isArray(vocab) && typeof vocab[content] === 'number') return vocab[content];
    return null;
  };
  return { bos: lookup(cfg.bos_token ?? fallback.bos), eos: lookup(cfg.eos_token ?? fallback.eos) };
}

/** Extra config.json facts that are not in the weights. */
export interface ConfigExtras {
  bosTokenId: number | null;
  eosTokenId: number | null;
  earlyExitLayers?: number[];
  /** Written as `lens_head_combine` when not 'standard' (see DecoderExportOptions.headCombine). */
  headCombine?: HeadCombine;
}

function earlyExitKeys(opts: Pick<DecoderExportOptions, 'earlyExitLayers'>): Record<string, unknown> {
  const layers = [...new Set(opts.earlyExitLayers ?? [])].sort((a, b) => a - b);
  return layers.length > 0 ? { lens_early_exit_layers: layers } : {};
}

/** HF LlamaConfig-style config.json for an exported Llama model. */
export function llamaConfigJson(w: LlamaWeights, extras: ConfigExtras): Record<string, unknown> {
  const c = w.config;
  return {
    model_type: 'llama',
    architectures: ['LlamaForCausalLM'],
    hidden_size: c.dim,
    intermediate_size: c.hiddenDim,
    num_hidden_layers: c.numLayers,
    num_attention_heads: c.numHeads,
    num_key_value_heads: c.numKvHeads,
    head_dim: llamaHeadDim(c),
    vocab_size: c.vocabSize,
    max_position_embeddings: c.maxSeqLen,
    rms_norm_eps: c.normEps,
    rope_theta: c.ropeTheta ?? 10000,
    hidden_act: 'silu',
    tie_word_embeddings: w.lmHead === null,
    bos_token_id: extras.bosTokenId,
    eos_token_id: extras.eosTokenId,
    torch_dtype: 'float32',
    lens_rope_style: c.ropeStyle,
    ...earlyExitKeys(extras),
    ...(extras.headCombine && extras.headCombine !== 'standard' ? { lens_head_combine: extras.headCombine } : {}),
  };
}

/** HF GPT2Config-style config.json for an exported GPT-2 model. */
export function gpt2ConfigJson(w: Gpt2Weights, extras: ConfigExtras): Record<string, unknown> {
  const c = w.config;
  return {
    model_type: 'gpt2',
    architectures: ['GPT2LMHeadModel'],
    n_layer: c.nLayer,
    n_head: c.nHead,
    n_embd: c.nEmbd,
    n_inner: c.nInner ?? null,
    n_positions: c.nPositions,
    n_ctx: c.nPositions,
    vocab_size: c.vocabSize,
    layer_norm_epsilon: c.layerNormEps,
    activation_function: 'gelu_new',
    tie_word_embeddings: true,
    bos_token_id: extras.bosTokenId,
    eos_token_id: extras.eosTokenId,
    torch_dtype: 'float32',
    ...earlyExitKeys(extras),
  };
}
