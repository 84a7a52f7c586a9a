// Model specs → model folders: a local folder, an embedded model (models/<name> at the package
// root), or a Hugging Face Hub id `org/name[@revision]`, downloaded into the huggingface_hub cache.
//
// Division of labour with @huggingface/hub (pinned 2.17.5): it gives the cache location
// (getHFHubCachePath: HF_HUB_CACHE / HF_HOME / XDG_CACHE_HOME), the repo folder name
// (getRepoFolderName: models--org--name), the commit regex, and the revision's commit and file list
// (modelInfo: GET /api/models/{repo}/revision/{rev} → sha, siblings). The per-file HEAD, the
// transfer, resume, verification, locking, cache writes and offline mode are ours (http.ts,
// download.ts, cache.ts), because its downloadFileToCacheDir does none of them and lays out
// snapshots differently from Python (see download.ts). The URLs and the cache layout are
// huggingface_hub's, so Python and Likelihood Lens share downloads both ways.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { modelInfo } from '@huggingface/hub';
import { LensError, isLensError, throwIfAborted } from '../errors';
import { RepoCache } from './cache';
import { downloadBlob } from './download';
import { hubEnv, type HubEnv } from './env';
import { fileMetadata, hubError, hubFetch, type FileMetadata, type HubRequestContext } from './http';
import { isCommitHash, looksLikeHubId, parseHubId, type HubId } from './spec';
import { ONNX_DTYPE_SUFFIX, chooseOnnxFile, modelFiles } from './variants';

export { parseHubId, looksLikeHubId, type HubId } from './spec';
export { HUB_ONNX_PREFERENCE, ONNX_DTYPE_SUFFIX, chooseOnnxFile } from './variants';
export { hubEnv, type HubEnv } from './env';

export type ModelSource = 'folder' | 'embedded' | 'hub';

/** Progress of a Hub download, for a CLI bar or a VS Code notification. */
export interface HubProgress {
  /**
   * resolve: asking the Hub which commit and files; download: bytes arriving (`file`); wait:
   * another process is downloading `file` into the same cache; retry: a transfer broke off and
   * resumes; done: the model folder is ready.
   */
  phase: 'resolve' | 'download' | 'wait' | 'retry' | 'done';
  repo: string;
  revision: string;
  file?: string;
  /** Bytes on disk of the files this call fetches (resumed parts included). */
  loaded: number;
  /** Their total size; 0 when everything was in the cache already. */
  total: number;
  /** Files to fetch, and how many are done. */
  filesDone: number;
  filesTotal: number;
  message?: string;
}

export interface ResolveModelOptions {
  /** ONNX file in the model (path such as onnx/model_fp16.onnx, or a dtype: fp32, fp16, q8, int8, uint8, q4, q4f16, bnb4). */
  onnxFile?: string;
  /** Default HF_ENDPOINT, else https://huggingface.co. */
  endpoint?: string;
  /** Default HF_TOKEN / HUGGING_FACE_HUB_TOKEN / the token file of `huggingface-cli login`. */
  token?: string;
  /** Default HF_HUB_CACHE / HF_HOME/hub / ~/.cache/huggingface/hub. */
  cacheDir?: string;
  /** Default HF_HUB_OFFLINE. */
  offline?: boolean;
  signal?: AbortSignal;
  onProgress?: (p: HubProgress) => void;
  /** Where embedded models live; default models/ at the package root. */
  embeddedDir?: string;
}

export interface ResolvedModel {
  /** A model folder for CausalLM.load. */
  dir: string;
  /** Pass to CausalLM.load(dir, { onnxFile }); undefined: the loader's own choice. */
  onnxFile?: string;
  source: ModelSource;
  /** For Hub models. */
  hub?: {
    repo: string;
    revision: string;
    commit: string;
    /** Bytes fetched by this call (0 when everything came from the cache). */
    downloaded: number;
    /** Things the user should know (e.g. the Hub was unreachable and the cache was used). */
    notes: string[];
  };
}

/** The package root (the folder with package.json above the bundle), whose models/ holds embedded models. */
export function embeddedModelsDir(): string {
  let d = typeof __dirname !== 'undefined' ? __dirname : process.cwd();
  for (let i = 0; i < 4; i++) {
    if (existsSync(join(d, 'package.json'))) return join(d, 'models');
    d = dirname(d);
  }
  return join(process.cwd(), 'models');
}

/** Files of a local folder (two levels deep: enough for onnx/), with '/' separators. */
function listFolder(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    const st = statSync(p, { throwIfNoEntry: false });
    if (st?.isFile()) out.push(e);
    else if (st?.isDirectory()) for (const f of readdirSync(p)) if (statSync(join(p, f), { throwIfNoEntry: false })?.isFile()) out.push(`${e}/${f}`);
  }
  return out;
}

function localModel(dir: string, source: ModelSource, onnxFile: string | undefined): ResolvedModel {
  const abs = resolve(dir);
  if (!statSync(abs).isDirectory()) throw new LensError('bad-argument', `Model path is not a folder: ${abs}`);
  // A dtype name picks among the folder's variants; a path is the loader's to check.
  const chosen = onnxFile !== undefined && ONNX_DTYPE_SUFFIX[onnxFile] !== undefined ? chooseOnnxFile(listFolder(abs), onnxFile, abs) : onnxFile;
  return { dir: abs, onnxFile: chosen, source };
}

/**
 * Turns `--model` into a model folder: an existing path; else an embedded model name; else a Hub
 * id `org/name[@revision]`, fetched into the huggingface_hub cache (only the files a model folder
 * needs: config.json, tokenizer.json, tokenizer_config.json and generation_config.json when
 * present, the chosen ONNX file and its external-data files).
 */
export async function resolveModelSpec(spec: string, opts: ResolveModelOptions = {}): Promise<ResolvedModel> {
  if (!spec) throw new LensError('bad-argument', 'No model given: name a model folder, an embedded model, or a Hub id such as onnx-community/gpt2.');
  if (existsSync(spec)) return localModel(spec, 'folder', opts.onnxFile);
  const embeddedDir = opts.embeddedDir ?? embeddedModelsDir();
  if (!spec.includes('/') && !spec.includes('\\') && existsSync(join(embeddedDir, spec))) return localModel(join(embeddedDir, spec), 'embedded', opts.onnxFile);
  if (looksLikeHubId(spec)) return downloadHubModel(parseHubId(spec), opts);
  const embedded = existsSync(embeddedDir) ? readdirSync(embeddedDir).filter((n) => statSync(join(embeddedDir, n)).isDirectory()) : [];
  throw new LensError(
    'missing-file',
    `Model not found: ${spec} is not a folder, not an embedded model (${embedded.length ? embedded.join(', ') : 'none installed'}), and not a Hub id (org/name or org/name@revision).`,
  );
}

/** Downloads (or finds in the cache) the files of a Hub model and returns its snapshot folder. */
export async function downloadHubModel(id: HubId, opts: ResolveModelOptions = {}): Promise<ResolvedModel> {
  const env = hubEnv(opts);
  try {
    return await download(id, opts, env);
  } catch (e) {
    throw cacheError(e, env.cacheDir);
  }
}

/** File-system failures in the cache (not writable, disk full, …) as LensErrors that say where. */
function cacheError(e: unknown, cacheDir: string): unknown {
  if (isLensError(e)) return e;
  const code = (e as NodeJS.ErrnoException)?.code;
  if (typeof code !== 'string') return e;
  const fix = code === 'ENOSPC' ? 'Free some disk space, or set HF_HUB_CACHE to a folder on another disk.' : 'Set HF_HUB_CACHE (or HF_HOME) to a writable folder.';
  return new LensError('bad-file', `Cannot use the Hugging Face cache at ${cacheDir} (${(e as Error).message}). ${fix}`);
}

async function download(id: HubId, opts: ResolveModelOptions, env: HubEnv): Promise<ResolvedModel> {
  const cache = new RepoCache(env.cacheDir, id.repo);
  const where = `${id.repo}@${id.revision}`;
  const ctx: HubRequestContext = { endpoint: env.endpoint, token: env.token, signal: opts.signal, repo: id.repo, revision: id.revision };
  const state = { loaded: 0, total: 0, filesDone: 0, filesTotal: 0 };
  const report = (phase: HubProgress['phase'], file?: string, message?: string) =>
    opts.onProgress?.({ phase, repo: id.repo, revision: id.revision, file, message, ...state });

  if (env.offline) return fromCache(cache, id, opts, env, null);
  throwIfAborted(opts.signal);
  // A pinned commit with an explicit file that is all in the cache needs no network (as in huggingface_hub).
  if (isCommitHash(id.revision) && opts.onnxFile && ONNX_DTYPE_SUFFIX[opts.onnxFile] === undefined) {
    const files = cache.listSnapshot(id.revision);
    if (files.includes(opts.onnxFile)) {
      try {
        return fromCache(cache, id, opts, env, null);
      } catch {
        // something required is missing: ask the Hub
      }
    }
  }

  report('resolve');
  let commit: string;
  let siblings: string[];
  try {
    ({ commit, siblings } = await revisionInfo(ctx));
  } catch (e) {
    // Unreachable Hub: fall back to what the cache has, as huggingface_hub does on connection errors.
    if (isLensError(e) && e.code === 'network') return fromCache(cache, id, opts, env, e);
    throw e;
  }
  const onnx = chooseOnnxFile(siblings, opts.onnxFile, where);
  const need = modelFiles(siblings, onnx, where);
  cache.writeRef(id.revision, commit);

  // HEAD each missing file (at the resolved commit, so all files come from one revision).
  const todo: { file: string; meta: FileMetadata }[] = [];
  for (const file of need) {
    if (cache.hasFile(commit, file)) continue;
    const meta = await fileMetadata(ctx, file, commit);
    if (existsSync(cache.blobPath(meta.etag))) await cache.link(commit, file, meta.etag);
    else todo.push({ file, meta });
  }
  state.filesTotal = todo.length;
  state.total = todo.reduce((s, t) => s + (t.meta.size ?? 0), 0);
  let downloaded = 0;
  const onDisk = new Map<string, number>();
  for (const { file, meta } of todo) {
    let first = true;
    await downloadBlob(cache, ctx, file, meta, {
      onBytes: (n) => {
        const prev = onDisk.get(file) ?? 0;
        if (!first) downloaded += Math.max(0, n - prev); // the first report is what was on disk already
        first = false;
        onDisk.set(file, n);
        state.loaded += n - prev;
        report('download', file);
      },
      onWait: () => report('wait', file, `waiting for another process downloading ${file}`),
      onRetry: (attempt, offset, reason) => report('retry', file, `${file}: connection broke off (${reason}); resuming at byte ${offset} (try ${attempt})`),
    });
    await cache.link(commit, file, meta.etag);
    state.filesDone++;
    report('download', file);
  }
  report('done');
  return { dir: cache.snapshotDir(commit), onnxFile: onnx, source: 'hub', hub: { repo: id.repo, revision: id.revision, commit, downloaded, notes: [] } };
}

/** The revision's commit and file list (modelInfo: GET /api/models/{repo}/revision/{revision}). */
async function revisionInfo(ctx: HubRequestContext): Promise<{ commit: string; siblings: string[] }> {
  // @huggingface/hub builds the URL and parses the answer; our fetch adds the token, the signal and
  // the error messages (it sees the response before the library turns it into a bare HubApiError).
  const fetchHub = async (input: string | URL | Request, init?: RequestInit) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.toString() : input.url;
    const res = await hubFetch(ctx, url, init);
    if (!res.ok) throw await hubError(res, ctx);
    return res;
  };
  const info = await modelInfo({
    name: ctx.repo,
    revision: ctx.revision,
    hubUrl: ctx.endpoint,
    additionalFields: ['sha', 'filePaths'], // filePaths: the siblings' rfilename
    fetch: fetchHub as typeof fetch,
  });
  const commit = info.sha;
  if (typeof commit !== 'string' || !isCommitHash(commit) || !Array.isArray(info.filePaths)) {
    throw new LensError('network', `${ctx.endpoint} gave no commit or file list for ${ctx.repo}@${ctx.revision}: it does not look like a Hugging Face Hub endpoint (check HF_ENDPOINT).`);
  }
  return { commit, siblings: info.filePaths.filter((f) => typeof f === 'string') };
}

/**
 * The model folder from the cache alone: HF_HUB_OFFLINE=1 (cause null), or the Hub could not be
 * reached (cause: that error).
 */
function fromCache(cache: RepoCache, id: HubId, opts: ResolveModelOptions, env: HubEnv, cause: LensError | null): ResolvedModel {
  const where = `${id.repo}@${id.revision}`;
  const why = cause ? `${cause.message} Nor is it in the cache` : 'HF_HUB_OFFLINE is set and it is not in the cache';
  const fix = cause ? 'Connect and run again.' : 'Unset HF_HUB_OFFLINE and run once online (or point HF_HUB_CACHE / HF_HOME at a cache that has it).';
  const commit = cache.commitFor(id.revision);
  const files = commit ? cache.listSnapshot(commit) : [];
  if (!commit || files.length === 0) {
    throw new LensError(cause ? 'network' : 'offline', `Cannot load ${where}: ${why} (${env.cacheDir}). ${fix}`);
  }
  let onnx: string;
  try {
    onnx = chooseOnnxFile(files, opts.onnxFile, `the cached snapshot of ${where}`);
    modelFiles(files, onnx, `the cached snapshot of ${where}`); // throws when config.json or tokenizer.json is missing
  } catch (e) {
    throw new LensError(cause ? 'network' : 'offline', `${(e as Error).message} ${cause ? cause.message : 'HF_HUB_OFFLINE is set, so nothing more can be downloaded.'} ${fix}`);
  }
  const notes = cause ? [`${cause.message} Using the cached snapshot ${commit} of ${where}.`] : [];
  opts.onProgress?.({ phase: 'done', repo: id.repo, revision: id.revision, loaded: 0, total: 0, filesDone: 0, filesTotal: 0 });
  return { dir: cache.snapshotDir(commit), onnxFile: onnx, source: 'hub', hub: { repo: id.repo, revision: id.revision, commit, downloaded: 0, notes } };
}
