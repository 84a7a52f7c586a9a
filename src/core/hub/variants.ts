// Which ONNX file of a Hub repo to use, and which files travel with it.
//
// Repos exported by Optimum / transformers.js (onnx-community/*, Xenova/*) hold several variants of
// one decoder: onnx/model.onnx (float32), onnx/model_fp16.onnx, onnx/model_quantized.onnx (int8),
// onnx/model_q4.onnx, onnx/model_q4f16.onnx, …; older exports name it decoder_model_merged*.onnx.
// Large graphs keep their weights beside them in external-data files (model.onnx_data,
// model.onnx_data_1, …, or model.onnx.data).
import { LensError } from '../errors';
import { checkRepoPath } from './spec';

/**
 * The default choice, best first: full precision, then half precision, then 8-bit, then 4-bit.
 * decoder_model.onnx (no cache inputs) and decoder_with_past_model.onnx (cache required) are left
 * out: the loader needs one graph that takes an empty or a filled cache; name them with --onnx-file
 * to try anyway.
 */
export const HUB_ONNX_PREFERENCE: readonly string[] = [
  'onnx/model.onnx',
  'model.onnx',
  'onnx/decoder_model_merged.onnx',
  'decoder_model_merged.onnx',
  'onnx/model_fp16.onnx',
  'onnx/decoder_model_merged_fp16.onnx',
  'onnx/model_quantized.onnx',
  'onnx/decoder_model_merged_quantized.onnx',
  'onnx/model_int8.onnx',
  'onnx/model_uint8.onnx',
  'onnx/model_q4.onnx',
  'onnx/decoder_model_merged_q4.onnx',
  'onnx/model_q4f16.onnx',
  'onnx/decoder_model_merged_q4f16.onnx',
  'onnx/model_bnb4.onnx',
];

/** Short names for variants, as transformers.js calls its dtypes: `--onnx-file q4`. */
export const ONNX_DTYPE_SUFFIX: Readonly<Record<string, string>> = {
  fp32: '',
  fp16: '_fp16',
  q8: '_quantized',
  quantized: '_quantized',
  int8: '_int8',
  uint8: '_uint8',
  q4: '_q4',
  q4f16: '_q4f16',
  bnb4: '_bnb4',
};

/** Files a model folder needs (required) or uses when present (optional). */
export const REQUIRED_MODEL_FILES = ['config.json', 'tokenizer.json'] as const;
export const OPTIONAL_MODEL_FILES = ['tokenizer_config.json', 'generation_config.json'] as const;

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The external-data files of `onnx` among `files`: `X.onnx_data`, `X.onnx_data_N`, `X.onnx.data`. */
export function externalDataFiles(onnx: string, files: readonly string[]): string[] {
  const re = new RegExp(`^${escapeRe(onnx)}(?:_data|\\.data)(?:_\\d+)?$`);
  return files.filter((f) => re.test(f)).sort();
}

/**
 * Picks the ONNX file among the repo's `files`: `wanted` may be a path in the repo
 * (onnx/model_fp16.onnx), a dtype name (fp16, q4, …: onnx/model_{dtype}.onnx or
 * onnx/decoder_model_merged_{dtype}.onnx), or undefined for the first of HUB_ONNX_PREFERENCE present.
 */
export function chooseOnnxFile(files: readonly string[], wanted: string | undefined, where: string): string {
  const onnx = files.filter((f) => f.endsWith('.onnx'));
  const have = new Set(files);
  const listing = onnx.length ? `ONNX files there: ${onnx.join(', ')}` : 'it holds no .onnx file';
  if (wanted !== undefined) {
    const suffix = ONNX_DTYPE_SUFFIX[wanted];
    if (suffix !== undefined) {
      const c = [`onnx/model${suffix}.onnx`, `onnx/decoder_model_merged${suffix}.onnx`, ...(suffix ? [] : ['model.onnx', 'decoder_model_merged.onnx'])];
      const hit = c.find((f) => have.has(f));
      if (hit) return hit;
      throw new LensError('hub-not-found', `${where} has no ${wanted} variant (looked for ${c.join(', ')}); ${listing}. Pick one with --onnx-file.`);
    }
    checkRepoPath(wanted, '--onnx-file');
    if (have.has(wanted)) return wanted;
    throw new LensError('hub-not-found', `${wanted} is not in ${where}: check --onnx-file; ${listing}.`);
  }
  const hit = HUB_ONNX_PREFERENCE.find((f) => have.has(f));
  if (hit) return hit;
  throw new LensError(
    'bad-model',
    `${where} has no ONNX decoder Likelihood Lens knows to pick (looked for ${HUB_ONNX_PREFERENCE.slice(0, 4).join(', ')}, …); ${listing}. ` +
      (onnx.length ? 'Name one with --onnx-file.' : 'Look for an ONNX export of this model (e.g. under onnx-community/).'),
  );
}

/** The repo files a model folder for `onnx` needs, required first; throws when a required one is missing. */
export function modelFiles(files: readonly string[], onnx: string, where: string): string[] {
  const have = new Set(files);
  const missing = REQUIRED_MODEL_FILES.filter((f) => !have.has(f));
  if (missing.length) {
    throw new LensError(
      'bad-model',
      `${where} has no ${missing.join(' or ')} at its top level: Likelihood Lens needs config.json and a Hugging Face tokenizer.json beside the ONNX file.`,
    );
  }
  return [...REQUIRED_MODEL_FILES, ...OPTIONAL_MODEL_FILES.filter((f) => have.has(f)), onnx, ...externalDataFiles(onnx, files)];
}
