// Which model each experiment uses. A role (english, char, char2, draft, target) resolves to, in
// order: the spec given on the command line (folder, embedded name or Hub id); the zoo model of
// that role when it is installed under models/; else — for the English roles — stories260K from
// ../shared, exported once into .cache/experiments/ (with early-exit logits for DoLa, and a
// 2-layer truncation of it as a speculative-decoding draft).
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { CausalLM, findOnnx } from '../core/model';
import { derivableLayers } from '../core/onnx/early-exit';
import { LensError } from '../core/errors';
import { embeddedModelsDir, resolveModelSpec } from '../core/hub';
import { exportLlama2c, readLlama2c, LLAMA2C_NORM_EPS } from '../core/export/llama2c';
import { buildLlamaOnnx } from '../core/export/llama';
import { llamaConfigJson, readSpecialTokenIds, writeModelFolder } from '../core/export/folder';
import type { ExperimentOptions } from './framework';

export type ModelRole = 'english' | 'char' | 'char2' | 'draft' | 'target';

export interface LoadedModel {
  lm: CausalLM;
  /** Display name for reports (never an absolute path). */
  name: string;
  source: 'argument' | 'zoo' | 'stories260K';
  key: string;
  refs: number;
}

/** Zoo names by role (models/<name>/ at the package root, installed by tools/train). */
export const ZOO: Record<ModelRole, string[]> = {
  english: ['english-base'],
  char: ['shakespeare-char'],
  char2: ['austen-char'],
  target: ['english-base'],
  draft: ['english-draft'],
};

export function packageRoot(): string {
  return dirname(embeddedModelsDir());
}

/** ../shared beside the package root (read-only data). */
export function sharedDir(): string {
  return process.env.LENS_SHARED_DIR ?? resolve(packageRoot(), '..', 'shared');
}

function isModelDir(d: string): boolean {
  return existsSync(join(d, 'config.json')) && existsSync(join(d, 'tokenizer.json'));
}

function zooDirs(): string[] {
  const root = embeddedModelsDir();
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .map((n) => join(root, n))
    .filter((d) => statSync(d).isDirectory() && isModelDir(d))
    .sort();
}

/** The zoo model of a role, by name; for char2 and draft, a zoo model sharing the partner's tokenizer. */
export function zooModel(role: ModelRole, partner?: string): string | null {
  const dirs = zooDirs();
  for (const n of ZOO[role]) {
    const d = dirs.find((x) => basename(x) === n);
    if (d) return d;
  }
  if (partner && (role === 'char2' || role === 'draft')) {
    const tok = readFileSync(join(partner, 'tokenizer.json'), 'utf8');
    const want = role === 'draft' ? /draft|small|tiny/i : /char/i;
    const same = dirs.filter((d) => resolve(d) !== resolve(partner) && want.test(basename(d)) && readFileSync(join(d, 'tokenizer.json'), 'utf8') === tok);
    if (same.length) return same[0];
  }
  return null;
}

function layerCount(dir: string): number {
  const c = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  return Number(c.num_hidden_layers ?? c.n_layer ?? 0);
}

/** Whether a folder's model gives early-exit logits: exported with them, or derivable (src/core/onnx/early-exit.ts). */
function hasEarlyExit(dir: string): boolean {
  const c = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  return JSON.stringify(c).includes('early_exit') || derivableLayers(readFileSync(findOnnx(dir)), layerCount(dir)).length > 0;
}

/** Exports into `dir` via a temp folder renamed into place (safe against concurrent runs). */
function exportOnce(dir: string, make: (tmp: string) => void): string {
  if (isModelDir(dir)) return dir;
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  make(tmp);
  mkdirSync(dirname(dir), { recursive: true });
  try {
    renameSync(tmp, dir);
  } catch {
    rmSync(tmp, { recursive: true, force: true }); // another process won the race
  }
  return dir;
}

/** stories260K from ../shared as model folders: plain, with early exits 1..4, or its first 4 of 5 layers (a draft). */
export function storiesModel(kind: 'plain' | 'early-exit' | 'draft'): string {
  const src = join(sharedDir(), 'models/stories260K');
  const bin = join(src, 'stories260K.bin');
  if (!existsSync(bin)) {
    throw new LensError(
      'missing-file',
      `No model given and no zoo model installed, and the fallback stories260K is missing (${bin}). Pass --model DIR (a model folder, an embedded name or a Hub id).`,
    );
  }
  const cache = join(packageRoot(), '.cache', 'experiments');
  if (kind === 'plain') return exportOnce(join(cache, 'stories260K'), (tmp) => exportLlama2c({ weights: bin, tokenizerDir: src, outDir: tmp }));
  if (kind === 'early-exit') return exportOnce(join(cache, 'stories260K-ee'), (tmp) => exportLlama2c({ weights: bin, tokenizerDir: src, outDir: tmp, earlyExitLayers: [1, 2, 3, 4] }));
  return exportOnce(join(cache, 'stories260K-4layer'), (tmp) => truncatedLlama2c(bin, src, tmp, 4));
}

/**
 * A llama2.c model cut to its first `layers` layers (same embedding, final norm and classifier): a
 * self-speculative draft that shares the target's tokenizer (as in LayerSkip / draft-and-verify).
 */
export function truncatedLlama2c(bin: string, tokenizerDir: string, outDir: string, layers: number): void {
  const w = readLlama2c(bin);
  if (layers < 1 || layers > w.config.numLayers) throw new LensError('bad-argument', `cannot keep ${layers} of ${w.config.numLayers} layers`);
  const cut = { ...w, config: { ...w.config, numLayers: layers, normEps: LLAMA2C_NORM_EPS }, layers: w.layers.slice(0, layers) };
  const special = readSpecialTokenIds(tokenizerDir, { bos: '<s>', eos: '</s>' });
  writeModelFolder(outDir, { onnx: buildLlamaOnnx(cut), config: llamaConfigJson(cut, { bosTokenId: special.bos ?? 1, eosTokenId: special.eos ?? 2 }), tokenizerDir });
}

/** Resolves roles to loaded models, sharing one CausalLM per folder. */
export class ModelResolver {
  private cache = new Map<string, LoadedModel>();

  /** The folder and display name for a role (no loading). */
  async locate(role: ModelRole, opts: ExperimentOptions, need: { earlyExit?: boolean } = {}): Promise<{ dir: string; name: string; source: LoadedModel['source'] }> {
    const given = role === 'english' || role === 'char' ? opts.model : role === 'char2' ? opts.model2 : role === 'draft' ? opts.draft : (opts.target ?? opts.model);
    if (given) {
      const r = await resolveModelSpec(given);
      if (need.earlyExit && !hasEarlyExit(r.dir)) {
        throw new LensError('bad-argument', `${given} has no early-exit logits, which DoLa needs: export it with --early-exit (e.g. lens export llama2c … --early-exit 2,3,4).`);
      }
      return { dir: r.dir, name: r.source === 'folder' ? basename(r.dir) : given, source: 'argument' };
    }
    if (role === 'char2') {
      const first = await this.locate('char', opts);
      const z = zooModel('char2', first.dir);
      if (z) return { dir: z, name: basename(z), source: 'zoo' };
      throw new LensError('bad-argument', `No second model sharing ${first.name}'s tokenizer is installed: pass --model2 DIR (a model with the same vocabulary).`);
    }
    const useZoo = !(opts.stories && (role === 'english' || role === 'target' || role === 'draft'));
    if (role === 'draft') {
      const t = await this.locate('target', opts);
      const z = t.source === 'stories260K' || !useZoo ? null : zooModel('draft', t.dir);
      if (z) return { dir: z, name: basename(z), source: 'zoo' };
      if (t.source === 'stories260K') return { dir: storiesModel('draft'), name: 'stories260K-4layer (its first 4 of 5 layers)', source: 'stories260K' };
      throw new LensError('bad-argument', `No draft model for ${t.name} is installed: pass --draft DIR (a smaller model with the same tokenizer).`);
    }
    const z = useZoo ? zooModel(role) : null;
    if (z && (!need.earlyExit || hasEarlyExit(z))) return { dir: z, name: basename(z), source: 'zoo' };
    if (role === 'char') throw new LensError('bad-argument', 'No character-level model is installed (models/shakespeare-char): pass --model DIR and --model2 DIR (two models sharing a vocabulary).');
    if (role === 'target' && !z && useZoo) {
      const e = zooModel('english');
      if (e) return { dir: e, name: basename(e), source: 'zoo' };
    }
    return need.earlyExit
      ? { dir: storiesModel('early-exit'), name: 'stories260K (early exits 1–4)', source: 'stories260K' }
      : { dir: storiesModel('plain'), name: 'stories260K', source: 'stories260K' };
  }

  async load(role: ModelRole, opts: ExperimentOptions, need: { earlyExit?: boolean } = {}): Promise<LoadedModel> {
    const loc = await this.locate(role, opts, need);
    return this.loadDir(loc.dir, loc.name, loc.source, opts.threads);
  }

  async loadDir(dir: string, name: string, source: LoadedModel['source'], threads?: number): Promise<LoadedModel> {
    const key = resolve(dir);
    let m = this.cache.get(key);
    if (!m) {
      const lm = await CausalLM.load(dir, { threads: threads ?? 2 });
      m = { lm, name, source, key, refs: 0 };
      this.cache.set(key, m);
    }
    m.refs++;
    return m;
  }

  async release(m: LoadedModel): Promise<void> {
    if (this.cache.get(m.key) !== m) return;
    this.cache.delete(m.key);
    await m.lm.dispose();
  }

  /** Layers of a model folder (for reports). */
  static layers(dir: string): number {
    return layerCount(dir);
  }
}
