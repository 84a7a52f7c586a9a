// Tokenizes a model's training data with the product's own tokenizer (LensTokenizer), so training
// sees exactly the ids that scoring and generation will see. Run with tsx:
//   node --import tsx tools/train/prepare.ts --config tools/train/configs/NAME.json --out DIR
// Writes DIR/train.bin and DIR/val.bin (uint16 little-endian ids; every document starts with BOS),
// DIR/slice.bin (BOS + the tokens of the test slice) and DIR/meta.json (split facts: files, character
// and token counts, document offsets). The split rules are fixed and written down in README.md.

import { mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { LensTokenizer } from '../../src/core/tokenizer';

export interface DataSource {
  /** Files or folders (all *.txt inside, sorted) relative to the corpora folder. */
  files: string[];
  /**
   * 'exact': train = first floor(0.9 n) UTF-16 units, validation = the rest (nanoGPT's tinyshakespeare split).
   * 'line': the same cut moved forward to just after the next newline, so validation starts on a line.
   */
  cut: 'exact' | 'line';
  /** Light clean-up applied before the split ('brown': undo the corpus's tokenized spacing). */
  transform?: 'brown';
}

export interface DataConfig {
  /** Tokenizer folder (tokenizer.json + tokenizer_config.json), relative to the repo root or ../shared/ when it starts with 'shared:'. */
  tokenizer: string;
  sources: DataSource[];
  /** Fraction of each document that is training text (default 0.9). */
  trainFraction?: number;
  /** The test slice: the first `sliceChars` UTF-16 units of the first validation document. */
  sliceChars: number;
}

export interface DocFacts {
  file: string;
  trainChars: number;
  valChars: number;
  trainTokens: number;
  valTokens: number;
}

export const repoRoot = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
export const sharedDir = path.resolve(repoRoot, '../shared');

export function resolveTokenizerDir(spec: string): string {
  return spec.startsWith('shared:') ? path.join(sharedDir, spec.slice('shared:'.length)) : path.resolve(repoRoot, spec);
}

/** The Brown corpus is stored tokenized ("word , word ." with `` '' quotes); this restores ordinary spacing. */
export function detokenizeBrown(text: string): string {
  return text
    .split('\n')
    .map((line) =>
      line
        .replace(/`` ?/g, '"')
        .replace(/ ?''/g, '"')
        .replace(/ ([,.;:?!)\]}%])/g, '$1')
        .replace(/([([{$]) /g, '$1')
        .replace(/ (n't|'s|'re|'ve|'ll|'d|'m)\b/gi, '$1')
        .replace(/" ([^"]*?) "/g, '"$1"')
        .replace(/ {2,}/g, ' ')
        .trim(),
    )
    .join('\n');
}

function listFiles(corpora: string, spec: string): string[] {
  const p = path.join(corpora, spec);
  if (statSync(p).isDirectory()) {
    return readdirSync(p)
      .filter((f) => f.endsWith('.txt'))
      .sort()
      .map((f) => path.join(p, f));
  }
  return [p];
}

/** Splits one document: [train, val]. */
export function splitDoc(text: string, cut: DataSource['cut'], fraction: number): [string, string] {
  let at = Math.floor(text.length * fraction);
  if (cut === 'line') {
    const nl = text.indexOf('\n', at);
    at = nl < 0 ? at : nl + 1;
  }
  return [text.slice(0, at), text.slice(at)];
}

export interface SplitDoc {
  /** Path relative to the corpora folder. */
  file: string;
  train: string;
  val: string;
}

/** Every document of the config's sources, split into training and validation text (after its transform). */
export function loadSplits(config: DataConfig, corpora = path.join(sharedDir, 'corpora')): SplitDoc[] {
  const out: SplitDoc[] = [];
  const fraction = config.trainFraction ?? 0.9;
  for (const src of config.sources) {
    for (const spec of src.files) {
      for (const file of listFiles(corpora, spec)) {
        let text = readFileSync(file, 'utf8');
        if (src.transform === 'brown') text = detokenizeBrown(text);
        const [train, val] = splitDoc(text, src.cut, fraction);
        out.push({ file: path.relative(corpora, file), train, val });
      }
    }
  }
  return out;
}

/** The test slice: the first `sliceChars` UTF-16 units of the first validation document. */
export function sliceOf(config: DataConfig, firstVal: string): string {
  return firstVal.slice(0, config.sliceChars);
}

/** out.push(bos, ...ids) without spreading millions of arguments. */
function append(out: number[], bos: number, ids: number[]): void {
  out.push(bos);
  for (const id of ids) out.push(id);
}

function toU16(ids: number[]): Buffer {
  const a = new Uint16Array(ids); // [n_tokens]
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

export async function prepare(config: DataConfig, outDir: string, corpora = path.join(sharedDir, 'corpora')): Promise<Record<string, unknown>> {
  const tokDir = resolveTokenizerDir(config.tokenizer);
  const tok = await LensTokenizer.load(tokDir);
  if (tok.bosId === null) throw new Error(`${tokDir}: the tokenizer has no BOS token`);
  if (tok.vocabSize > 65535) throw new Error('vocabulary too large for uint16 ids');
  const bos = tok.bosId;
  const fraction = config.trainFraction ?? 0.9;
  const train: number[] = [];
  const val: number[] = [];
  const valDocs: { offset: number; tokens: number; chars: number }[] = [];
  const docs: DocFacts[] = [];
  let firstVal: string | null = null;
  let exact = true;
  const encode = (text: string): number[] => {
    const info = tok.encodeWithInfo(text);
    exact &&= info.exact;
    const ids = info.spans.map((s) => s.id);
    if (tok.decode(ids) !== text) throw new Error('tokenizer does not round-trip the training text');
    return ids;
  };
  for (const doc of loadSplits(config, corpora)) {
    const trIds = encode(doc.train);
    const vaIds = encode(doc.val);
    append(train, bos, trIds);
    valDocs.push({ offset: val.length, tokens: vaIds.length + 1, chars: doc.val.length });
    append(val, bos, vaIds);
    firstVal ??= doc.val;
    docs.push({ file: doc.file, trainChars: doc.train.length, valChars: doc.val.length, trainTokens: trIds.length, valTokens: vaIds.length });
  }
  const sliceText = sliceOf(config, firstVal ?? '');
  const sliceIds = [bos, ...encode(sliceText)];
  mkdirSync(outDir, { recursive: true });
  writeFileSync(path.join(outDir, 'train.bin'), toU16(train));
  writeFileSync(path.join(outDir, 'val.bin'), toU16(val));
  writeFileSync(path.join(outDir, 'slice.bin'), toU16(sliceIds));
  const sum = (k: keyof DocFacts) => docs.reduce((a, d) => a + (d[k] as number), 0);
  const meta = {
    tokenizer: config.tokenizer,
    vocab_size: tok.vocabSize,
    bos_id: bos,
    exact_ranges: exact,
    train_fraction: fraction,
    sources: config.sources,
    docs,
    train_chars: sum('trainChars'),
    val_chars: sum('valChars'),
    train_tokens: sum('trainTokens'),
    val_tokens: sum('valTokens'),
    val_docs: valDocs,
    slice: { doc: docs[0]?.file ?? null, chars: sliceText.length, tokens: sliceIds.length - 1 },
  };
  writeFileSync(path.join(outDir, 'meta.json'), JSON.stringify(meta, null, 1) + '\n');
  return meta;
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  const { values } = parseArgs({ options: { config: { type: 'string' }, out: { type: 'string' }, corpora: { type: 'string' } } });
  if (!values.config || !values.out) {
    console.error('usage: node --import tsx tools/train/prepare.ts --config CONFIG.json --out DIR [--corpora DIR]');
    process.exit(2);
  }
  const cfg = JSON.parse(readFileSync(values.config, 'utf8')) as { data: DataConfig };
  const meta = await prepare(cfg.data, values.out, values.corpora ?? undefined);
  const { docs: _docs, val_docs: _v, sources: _s, ...brief } = meta;
  console.log(JSON.stringify(brief));
}
