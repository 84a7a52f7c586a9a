// Reading a model folder's config.json (+ generation_config.json) into a normalised ModelConfig.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelConfig } from './types';
import { LensError } from './errors';

type Json = Record<string, unknown>;

export function readJsonFile(file: string, what: string): Json {
  if (!existsSync(file)) throw new LensError('missing-file', `${what} not found: ${file}`);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new LensError('bad-file', `${what} could not be read (${file}): ${(e as Error).message}`);
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new LensError('bad-file', `${what} is not valid JSON (${file}): ${(e as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new LensError('bad-file', `${what} must hold a JSON object (${file})`);
  }
  return v as Json;
}

function num(j: Json, ...keys: string[]): number | undefined {
  for (const k of keys) {
    const v = j[k];
    if (typeof v === 'number' && Number.isFinite(v)) return v;
  }
  return undefined;
}

function ids(v: unknown): number[] {
  if (typeof v === 'number') return [v];
  if (Array.isArray(v)) return v.filter((x): x is number => typeof x === 'number');
  return [];
}

/**
 * Normalises the usual key spellings: Llama-style (num_hidden_layers, num_attention_heads,
 * num_key_value_heads, head_dim, hidden_size) and GPT-2-style (n_layer, n_head, n_embd, n_positions).
 */
export function parseConfig(j: Json, gen: Json | null, file = 'config.json'): ModelConfig {
  const modelType = typeof j.model_type === 'string' ? j.model_type : 'unknown';
  const numLayers = num(j, 'num_hidden_layers', 'n_layer', 'num_layers');
  const numHeads = num(j, 'num_attention_heads', 'n_head', 'num_heads');
  const hiddenSize = num(j, 'hidden_size', 'n_embd', 'd_model');
  const vocabSize = num(j, 'vocab_size');
  const missing: string[] = [];
  if (numLayers === undefined) missing.push('num_hidden_layers (or n_layer)');
  if (numHeads === undefined) missing.push('num_attention_heads (or n_head)');
  if (hiddenSize === undefined && num(j, 'head_dim') === undefined) missing.push('hidden_size (or n_embd, or head_dim)');
  if (vocabSize === undefined) missing.push('vocab_size');
  if (missing.length) throw new LensError('bad-config', `${file} lacks ${missing.join(', ')}`);
  const multiQuery = j.multi_query === true;
  const numKvHeads = num(j, 'num_key_value_heads', 'n_head_kv', 'num_kv_heads') ?? (multiQuery ? 1 : numHeads!);
  const headDim = num(j, 'head_dim') ?? hiddenSize! / numHeads!;
  if (!Number.isInteger(headDim)) {
    throw new LensError('bad-config', `${file}: hidden_size ${hiddenSize} is not divisible by num_attention_heads ${numHeads}`);
  }
  if (numHeads! % numKvHeads !== 0) {
    throw new LensError('bad-config', `${file}: num_attention_heads ${numHeads} is not a multiple of num_key_value_heads ${numKvHeads}`);
  }
  const maxPositions = num(j, 'max_position_embeddings', 'n_positions', 'n_ctx', 'seq_length') ?? 2048;
  const eos = ids(gen?.eos_token_id ?? j.eos_token_id);
  const bos = ids(gen?.bos_token_id ?? j.bos_token_id);
  const early = Array.isArray(j.lens_early_exit_layers)
    ? (j.lens_early_exit_layers as unknown[]).filter((x): x is number => typeof x === 'number')
    : [];
  const combine = j.lens_head_combine ?? 'standard';
  if (combine !== 'standard' && combine !== 'product-all' && combine !== 'product-group') {
    throw new LensError('bad-config', `${file}: lens_head_combine ${JSON.stringify(combine)} is not one of standard, product-all, product-group`);
  }
  return {
    modelType,
    numLayers: numLayers!,
    numHeads: numHeads!,
    numKvHeads,
    headDim,
    hiddenSize: hiddenSize ?? headDim * numHeads!,
    vocabSize: vocabSize!,
    maxPositions,
    bosTokenId: bos.length ? bos[0] : null,
    eosTokenIds: eos,
    earlyExitLayers: early,
    headCombine: combine,
  };
}

export function readModelConfig(dir: string): ModelConfig {
  const j = readJsonFile(join(dir, 'config.json'), 'config.json');
  const genFile = join(dir, 'generation_config.json');
  const gen = existsSync(genFile) ? readJsonFile(genFile, 'generation_config.json') : null;
  return parseConfig(j, gen, join(dir, 'config.json'));
}
