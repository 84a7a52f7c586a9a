// Tokenizer wrapper for Likelihood Lens: encoding/decoding by @huggingface/tokenizers, plus what the
// library lacks — the exact UTF-16 range of every token in the original text, the bytes a token
// stands for, and readable labels. Never imports `vscode`.

import { LensError } from './errors';
import { readFile, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import type { TokenSpan } from './types.js';
import { type AddedInfo, type AlignContext, alignTokens, Splitter } from './tokenizer/align.js';
import { byteFallbackValue, byteLevelToBytes, bytesToLabel, decodeUtf8Lenient, utf8 } from './tokenizer/bytes.js';
import { compileNormalizer, compilePreTokenizer } from './tokenizer/pipeline.js';

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

export type TokenizerKind = 'byte-level' | 'metaspace' | 'other';

/** Result of {@link LensTokenizer.encodeWithInfo}. */
export interface EncodeInfo {
  spans: TokenSpan[];
  /** True when every range came from the exact byte walk (false: approximate alignment was used for part of the text). */
  exact: boolean;
}

/** A token given in tokenizer_config as a string or as `{content: string}`. */
function configToken(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (isObj(v) && typeof v.content === 'string') return v.content;
  return null;
}

/** Walk a (possibly Sequence) component config. */
function flatten(cfg: unknown, listKey: string): Json[] {
  if (!isObj(cfg)) return [];
  if (cfg.type === 'Sequence' && Array.isArray(cfg[listKey])) return (cfg[listKey] as unknown[]).flatMap((c) => flatten(c, listKey));
  return [cfg];
}

/** The single-sequence template of a TemplateProcessing post-processor (also inside a Sequence). */
function singleTemplate(postProcessor: unknown): { specials: Json; single: unknown[] } | null {
  for (const p of flatten(postProcessor, 'processors')) {
    if (p.type === 'TemplateProcessing' && Array.isArray(p.single)) return { specials: isObj(p.special_tokens) ? p.special_tokens : {}, single: p.single };
  }
  return null;
}

function templateSpecialId(tpl: { specials: Json }, item: unknown, resolve: (s: string) => number | null): number | null {
  if (!isObj(item) || !isObj(item.SpecialToken)) return null;
  const name = item.SpecialToken.id;
  if (typeof name !== 'string') return null;
  const entry = tpl.specials[name];
  if (isObj(entry) && Array.isArray(entry.ids) && typeof entry.ids[0] === 'number') return entry.ids[0];
  return resolve(name);
}

export class LensTokenizer {
  readonly vocabSize: number;
  readonly bosId: number | null;
  readonly eosId: number | null;
  readonly padId: number | null;
  readonly addBos: boolean;
  readonly kind: TokenizerKind;

  private readonly tok: Tokenizer;
  private readonly ctx: AlignContext;
  private readonly idToPiece: Array<string | undefined>;
  private readonly addedById = new Map<number, AddedInfo>();
  private readonly metaspaceChar: string;
  private readonly byteFallback: boolean;
  private readonly bytesCache = new Map<number, Uint8Array | null>();

  private constructor(tokenizerJson: Json, tokenizerConfig: Json, source: string) {
    if (!isObj(tokenizerJson.model)) throw new LensError('bad-file', `${source}: not a Hugging Face tokenizer.json: missing "model" object`);
    const json: Json = { normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null, ...tokenizerJson };
    json.added_tokens = Array.isArray(tokenizerJson.added_tokens) ? tokenizerJson.added_tokens : [];
    try {
      this.tok = new Tokenizer(json, tokenizerConfig);
    } catch (err) {
      throw new LensError('bad-file', `${source}: unsupported tokenizer: ${(err as Error).message}`);
    }
    patchByteFallbackBom(this.tok.decoder);

    const model = json.model as Json;
    const cfg = tokenizerConfig;

    // Vocabulary: id -> piece, over the model vocab and the added tokens.
    this.idToPiece = [];
    if (Array.isArray(model.vocab)) {
      model.vocab.forEach((entry, id) => {
        const piece = Array.isArray(entry) ? entry[0] : entry;
        if (typeof piece === 'string') this.idToPiece[id] = piece;
      });
    } else if (isObj(model.vocab)) {
      for (const [piece, id] of Object.entries(model.vocab)) if (typeof id === 'number') this.idToPiece[id] = piece;
    }
    const added = new Map<string, AddedInfo>();
    const unnormalized: string[] = [];
    const normalizedContents: string[] = [];
    for (const t of json.added_tokens as unknown[]) {
      if (!isObj(t) || typeof t.content !== 'string' || typeof t.id !== 'number') continue;
      const special = t.special === true;
      const info: AddedInfo = {
        id: t.id,
        content: t.content,
        lstrip: t.lstrip === true,
        rstrip: t.rstrip === true,
        special,
        normalized: typeof t.normalized === 'boolean' ? t.normalized : !special,
      };
      this.idToPiece[t.id] = t.content;
      this.addedById.set(t.id, info);
      added.set(info.content, info);
      if (info.normalized && this.tok.normalizer !== null) {
        const n = this.tok.normalizer.normalize(info.content);
        normalizedContents.push(n);
        added.set(n, info);
      } else {
        unnormalized.push(info.content);
      }
    }
    this.vocabSize = this.idToPiece.length;

    // Special ids: tokenizer_config first, then the post-processor template, then well-known names.
    const resolve = (s: string | null): number | null => (s === null ? null : (this.tok.token_to_id(s) ?? null));
    const firstKnown = (names: string[]): number | null => {
      for (const n of names) {
        const id = resolve(n);
        if (id !== null) return id;
      }
      return null;
    };
    const tpl = singleTemplate(json.post_processor);
    const tplFirst = tpl && tpl.single.length > 0 ? templateSpecialId(tpl, tpl.single[0], resolve) : null;
    const tplLast = tpl && tpl.single.length > 1 ? templateSpecialId(tpl, tpl.single[tpl.single.length - 1], resolve) : null;
    this.bosId = 'bos_token' in cfg ? resolve(configToken(cfg.bos_token)) : (tplFirst ?? firstKnown(['<s>', '<|begin_of_text|>', '<bos>', '<|startoftext|>', '<|endoftext|>']));
    this.eosId = 'eos_token' in cfg ? resolve(configToken(cfg.eos_token)) : (tplLast ?? firstKnown(['</s>', '<|end_of_text|>', '<eos>', '<|endoftext|>']));
    const padding = isObj(json.padding) ? json.padding : null;
    this.padId = 'pad_token' in cfg ? resolve(configToken(cfg.pad_token)) : padding && typeof padding.pad_id === 'number' ? padding.pad_id : null;
    this.addBos = typeof cfg.add_bos_token === 'boolean' ? cfg.add_bos_token : tplFirst !== null;

    // Kind and the alignment context.
    const normalizerCfgs = flatten(json.normalizer, 'normalizers');
    const preCfgs = flatten(json.pre_tokenizer, 'pretokenizers');
    const normalize = compileNormalizer(json.normalizer);
    const pre = compilePreTokenizer(json.pre_tokenizer);
    const unsupportedConfig = cfg.do_lowercase_and_remove_accent === true;
    const metaPre = preCfgs.find((c) => c.type === 'Metaspace');
    const metaNorm = normalizerCfgs.find((c) => c.type === 'Replace' && typeof c.content === 'string' && c.content.length === 1 && isObj(c.pattern) && c.pattern.String === ' ');
    this.metaspaceChar = metaPre ? (typeof metaPre.replacement === 'string' ? metaPre.replacement : '\u2581') : metaNorm ? (metaNorm.content as string) : '\u2581';
    const supported = normalize !== null && pre !== null && !unsupportedConfig;
    this.kind = !supported ? 'other' : pre.byteLevel ? 'byte-level' : metaPre || metaNorm ? 'metaspace' : 'other';
    this.byteFallback = model.byte_fallback === true;

    const unk = typeof model.unk_token === 'string' ? model.unk_token : null;
    const strip = (v: unknown): string[] => (typeof v === 'string' && v.length > 0 ? [v] : []);
    this.ctx = {
      added,
      unnormalizedSplitter: new Splitter(unnormalized),
      normalizedSplitter: new Splitter(normalizedContents),
      normalize: supported ? normalize : null,
      removeSpace: cfg.remove_space === true,
      pre: supported ? pre : null,
      byteFallback: this.byteFallback,
      unkToken: unk,
      stripPrefixes: model.type === 'WordPiece' ? strip(model.continuing_subword_prefix ?? '##') : [],
      stripSuffixes: [...strip(model.end_of_word_suffix), ...strip(model.continuing_subword_suffix)],
      weight: (piece) => this.pieceDisplayLength(piece),
    };
  }

  /**
   * Load `dir/tokenizer.json` and, when present, `dir/tokenizer_config.json`. `dir` may also be the
   * path of a tokenizer.json file. Errors name the file and what is wrong with it.
   */
  static async load(dir: string): Promise<LensTokenizer> {
    let tokPath = path.join(dir, 'tokenizer.json');
    try {
      if ((await stat(dir)).isFile()) tokPath = dir;
    } catch {
      throw new LensError('missing-file', `tokenizer folder not found: ${dir} (expected ${tokPath})`);
    }
    const cfgPath = path.join(path.dirname(tokPath), 'tokenizer_config.json');
    const tokJson = await readJson(tokPath, true);
    const cfgJson = await readJson(cfgPath, false);
    return new LensTokenizer(tokJson!, cfgJson ?? {}, tokPath);
  }

  /** Build from already-parsed tokenizer.json and (optional) tokenizer_config.json objects. */
  static fromObjects(tokenizerJson: object, tokenizerConfig?: object): LensTokenizer {
    if (!isObj(tokenizerJson)) throw new LensError('bad-file', 'tokenizer.json: expected a JSON object');
    if (tokenizerConfig !== undefined && !isObj(tokenizerConfig)) throw new LensError('bad-file', 'tokenizer_config.json: expected a JSON object');
    return new LensTokenizer(tokenizerJson, (tokenizerConfig as Json | undefined) ?? {}, 'tokenizer.json');
  }

  /**
   * Tokens of `text` WITHOUT special tokens (no BOS), each with its range in `text`.
   *
   * Ranges tile the text: spans[0].start = 0, spans[i].end = spans[i + 1].start, the last end is
   * text.length (for non-empty text with at least one token). They are exact: a token's range is
   * the characters whose UTF-8 bytes it holds. Text the tokenizer adds (Llama's dummy-prefix "▁",
   * a ByteLevel prefix space) has no characters, so a token made only of it gets an empty range.
   * Partial characters (a code point split over several tokens, e.g. byte-fallback `<0xF0>…`): the
   * token holding the code point's first byte gets the whole code point; tokens starting inside it
   * start at its end (so a token lying wholly inside it gets the empty range at its end). Text that
   * yields no token (removed by a normalizer) goes to the previous token. `text` of a span is
   * `original.slice(start, end)`.
   */
  encode(text: string): TokenSpan[] {
    return this.encodeWithInfo(text).spans;
  }

  /** {@link encode}, also telling whether the alignment was exact. */
  encodeWithInfo(text: string): EncodeInfo {
    if (text.length === 0) return { spans: [], exact: true };
    const enc = this.tok.encode(text, { add_special_tokens: false });
    const { ranges, exact } = alignTokens(this.ctx, text, enc.tokens);
    const spans = enc.ids.map((id, i) => {
      const [start, end] = ranges[i]!;
      return { id, text: text.slice(start, end), start, end };
    });
    return { spans, exact };
  }

  /** Token ids only (no special tokens). */
  encodeIds(text: string): number[] {
    return text.length === 0 ? [] : this.tok.encode(text, { add_special_tokens: false }).ids;
  }

  /** Text of `ids` (special tokens kept, no clean-up of spaces): the exact inverse of {@link encode} for valid text. */
  decode(ids: number[]): string {
    if (ids.length === 0) return '';
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) throw new RangeError(`token id ${id} is outside the vocabulary (0..${this.vocabSize - 1})`);
    }
    return this.tok.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false });
  }

  /**
   * A readable label for one token: its text with whitespace as is; bytes that are not a whole
   * UTF-8 character shown as `\xNN` (never "�"); special tokens as their content; an id with no
   * token as `<id N?>`.
   */
  tokenLabel(id: number): string {
    const added = this.addedById.get(id);
    if (added) return added.content;
    const bytes = this.tokenBytes(id);
    return bytes === null ? `<id ${id}?>` : bytesToLabel(bytes);
  }

  /**
   * The raw bytes a token stands for: byte-level pieces through GPT-2's bytes_to_unicode inverse;
   * metaspace pieces with "▁" as 0x20 and `<0xNN>` byte-fallback pieces as that byte; other
   * tokenizers the piece's UTF-8. null for special tokens and ids with no token.
   */
  tokenBytes(id: number): Uint8Array | null {
    let b = this.bytesCache.get(id);
    if (b !== undefined) return b;
    b = this.computeTokenBytes(id);
    this.bytesCache.set(id, b);
    return b;
  }

  private computeTokenBytes(id: number): Uint8Array | null {
    const added = this.addedById.get(id);
    if (added) return added.special ? null : utf8(added.content);
    const piece = Number.isInteger(id) ? this.idToPiece[id] : undefined;
    if (piece === undefined) return null;
    return this.pieceBytes(piece);
  }

  private pieceBytes(piece: string): Uint8Array {
    if (this.kind === 'byte-level') return byteLevelToBytes(piece) ?? utf8(piece);
    const fb = this.byteFallback ? byteFallbackValue(piece) : -1;
    if (fb >= 0) return Uint8Array.of(fb);
    return utf8(this.kind === 'metaspace' ? piece.replaceAll(this.metaspaceChar, ' ') : piece);
  }

  private pieceDisplayLength(piece: string): number {
    const info = this.ctx.added.get(piece);
    if (info) return info.content.length;
    return decodeUtf8Lenient(this.pieceBytes(piece)).length;
  }
}

async function readJson(file: string, required: boolean): Promise<Json | null> {
  let raw: string;
  try {
    raw = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !required) return null;
    if (code === 'ENOENT') throw new LensError('missing-file', `${file}: file not found`);
    throw new LensError('bad-file', `${file}: cannot read: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (err) {
    throw new LensError('bad-file', `${file}: invalid JSON: ${(err as Error).message}`);
  }
  if (!isObj(parsed)) throw new LensError('bad-file', `${file}: expected a JSON object, got ${Array.isArray(parsed) ? 'an array' : typeof parsed}`);
  return parsed;
}

/**
 * Library quirk: its ByteFallback decoder uses `new TextDecoder()` (ignoreBOM false), so a U+FEFF
 * spelled with byte-fallback tokens at the start of a byte run is dropped on decode. Give such
 * decoders a BOM-keeping TextDecoder so decode stays the exact inverse of encode.
 */
function patchByteFallbackBom(decoder: unknown): void {
  const seen = new Set<unknown>();
  const visit = (d: unknown): void => {
    if (typeof d !== 'object' && typeof d !== 'function') return;
    if (d === null || seen.has(d)) return;
    seen.add(d);
    const rec = d as { text_decoder?: unknown; decoders?: unknown };
    if (rec.text_decoder instanceof TextDecoder && !rec.text_decoder.ignoreBOM) {
      rec.text_decoder = new TextDecoder(rec.text_decoder.encoding, { fatal: rec.text_decoder.fatal, ignoreBOM: true });
    }
    if (Array.isArray(rec.decoders)) rec.decoders.forEach(visit);
  };
  visit(decoder);
}
