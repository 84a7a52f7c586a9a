// One blob into the cache: locked, resumable, verified, renamed into place only when whole and right.
//
// Why not @huggingface/hub's downloadFileToCacheDir (2.17.5): it names the snapshot folder after
// the file's last commit rather than the revision's commit (so Python's snapshots/{commit}/ and
// refs/ do not line up), streams without checking the bytes, cannot resume, takes no lock, no
// progress and no AbortSignal. So the transfer is written here, keeping huggingface_hub's
// conventions exactly: blobs/{etag}, blobs/{etag}.incomplete resumed with `Range: bytes=N-`, the
// CDN URL from the HEAD's Location fetched without the token, atomic rename into blobs/.
// On top of huggingface_hub: every file is checked against its ETag: the sha256 of an LFS file
// (X-Linked-Etag), the git blob sha1 (`blob {size}\0{bytes}`) of a file kept in git.
import { createHash, type Hash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import lockfile from 'proper-lockfile';
import { LensError, abortError, isLensError } from '../errors';
import type { RepoCache } from './cache';
import { hubError, hubFetch, networkReason, type FileMetadata, type HubRequestContext } from './http';

export interface BlobHooks {
  /** Bytes of this file on disk so far (resumed part included). */
  onBytes?(fileLoaded: number): void;
  /** Another process holds the lock on this blob; we wait for it. */
  onWait?(): void;
  /** The transfer broke off; resuming from `offset`. */
  onRetry?(attempt: number, offset: number, reason: string): void;
}

/** How many times in a row a transfer may break off without any new bytes before we give up. */
export const MAX_STALLED_RETRIES = 5;

type Verifier = { kind: 'sha256' | 'git-sha1' | 'none'; hash: Hash | null; reset(): void };

/** A running hash that the final bytes must match: sha256 for LFS, git's blob sha1 otherwise. */
function verifierFor(etag: string, size: number | null): Verifier {
  const v: Verifier = {
    kind: /^[0-9a-f]{64}$/.test(etag) ? 'sha256' : /^[0-9a-f]{40}$/.test(etag) && size !== null ? 'git-sha1' : 'none',
    hash: null,
    reset() {
      if (v.kind === 'sha256') v.hash = createHash('sha256');
      else if (v.kind === 'git-sha1') v.hash = createHash('sha1').update(`blob ${size}\0`);
      else v.hash = null;
    },
  };
  v.reset();
  return v;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((res, rej) => {
    if (signal?.aborted) return rej(abortError());
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      res();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      rej(abortError());
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Takes the cache entry's lock (waiting, abortably, while another process holds it). A lock whose
 * holder died goes stale after `staleMs` without its heartbeat and is taken over.
 */
async function acquireLock(cache: RepoCache, meta: FileMetadata, hooks: BlobHooks, signal: AbortSignal | undefined, onCompromised: (e: Error) => void) {
  await mkdir(cache.lockDir, { recursive: true });
  let told = false;
  for (;;) {
    try {
      return await lockfile.lock(cache.blobPath(meta.etag), {
        lockfilePath: cache.lockPath(meta.etag),
        realpath: false,
        stale: 20_000,
        update: 5_000,
        retries: 0,
        onCompromised,
      });
    } catch (e) {
      if ((e as { code?: string }).code !== 'ELOCKED') throw e;
      if (!told) hooks.onWait?.();
      told = true;
      await sleep(250, signal);
    }
  }
}

/**
 * Makes blobs/{etag} hold the file described by `meta` (a no-op when it is already there).
 * `file` names it in messages. Leaves blobs/{etag}.incomplete behind only when interrupted (to be
 * resumed), never when the bytes are wrong.
 */
export async function downloadBlob(
  cache: RepoCache,
  ctx: HubRequestContext,
  file: string,
  meta: FileMetadata,
  hooks: BlobHooks = {},
): Promise<void> {
  const blob = cache.blobPath(meta.etag);
  if (existsSync(blob)) return;
  await mkdir(cache.folder + '/blobs', { recursive: true });
  // Our own signal: the caller's, or a lost lock.
  const inner = new AbortController();
  let lost: Error | null = null;
  const signal = ctx.signal ? AbortSignal.any([ctx.signal, inner.signal]) : inner.signal;
  const release = await acquireLock(cache, meta, hooks, ctx.signal, (e) => {
    lost = e;
    inner.abort();
  });
  try {
    if (existsSync(blob)) return; // another process finished it while we waited
    await transfer({ ...ctx, signal }, file, meta, blob + '.incomplete', hooks);
    if (lost) throw lostLock(file, lost);
    await rename(blob + '.incomplete', blob);
  } catch (e) {
    if (lost) throw lostLock(file, lost);
    if (ctx.signal?.aborted) throw abortError();
    throw e;
  } finally {
    await release().catch(() => undefined);
  }
}

function lostLock(file: string, e: Error): LensError {
  return new LensError('network', `Lost the cache lock while downloading ${file} (${e.message}); run again.`);
}

async function transfer(ctx: HubRequestContext, file: string, meta: FileMetadata, incomplete: string, hooks: BlobHooks): Promise<void> {
  const expected = meta.size;
  const v = verifierFor(meta.etag, expected);
  let offset = 0;
  if (existsSync(incomplete)) {
    offset = (await stat(incomplete)).size;
    if (expected !== null && offset > expected) {
      await rm(incomplete, { force: true });
      offset = 0;
    } else if (offset > 0 && v.hash) {
      // Resume: the bytes already on disk go through the hash first.
      for await (const chunk of createReadStream(incomplete)) v.hash.update(chunk as Buffer);
    }
  }
  hooks.onBytes?.(offset); // first report: what is on disk already

  let stalled = 0;
  const restart = async () => {
    await rm(incomplete, { force: true });
    v.reset();
    offset = 0;
    hooks.onBytes?.(0);
  };
  while (expected === null || offset < expected) {
    const headers: Record<string, string> = { 'Accept-Encoding': 'identity' };
    if (offset > 0) headers.Range = `bytes=${offset}-`;
    let res: Response;
    try {
      res = await hubFetch(ctx, meta.location, { headers });
    } catch (e) {
      // Could not connect (or the connection dropped before the headers): retry like a break-off.
      if (!isLensError(e) || e.code !== 'network' || ++stalled > MAX_STALLED_RETRIES) throw e;
      hooks.onRetry?.(stalled, offset, e.message);
      await sleep(Math.min(200 * 2 ** (stalled - 1), 3000), ctx.signal);
      continue;
    }
    if (res.status === 416) {
      // Nothing left to send from `offset`: whole already (expected unknown), or a partial that does not belong.
      await res.body?.cancel();
      if (expected === null) break;
      await restart();
      continue;
    }
    if (!res.ok) throw await hubError(res, ctx, file);
    if (res.status === 200 && offset > 0) await restart(); // the server ignored Range: start over
    if (res.status === 206) {
      const m = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(res.headers.get('Content-Range') ?? '');
      if (!m || Number(m[1]) !== offset) {
        await res.body?.cancel();
        await restart();
        if (++stalled > MAX_STALLED_RETRIES) throw brokeOff(file, ctx, offset, 'the server sent the wrong range');
        continue;
      }
    }
    const before = offset;
    const fh = await open(incomplete, offset > 0 ? 'a' : 'w');
    let failure: unknown = null;
    try {
      if (res.body) {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          const buf = chunk as Uint8Array;
          v.hash?.update(buf);
          await fh.write(buf);
          offset += buf.byteLength;
          hooks.onBytes?.(offset);
        }
      }
    } catch (e) {
      failure = e;
    } finally {
      await fh.close();
    }
    if (ctx.signal?.aborted) throw abortError();
    if (expected !== null && offset > expected) {
      await rm(incomplete, { force: true });
      throw new LensError('checksum', `${file} from ${ctx.repo}: the server sent ${offset} bytes but the Hub said ${expected}; the download was discarded (nothing was cached). Run again.`);
    }
    if (failure === null && (expected === null || offset === expected)) break;
    // Broke off (an error mid-body, or a clean close before the end): resume from `offset`.
    stalled = offset > before ? 1 : stalled + 1;
    const reason = failure ? networkReason(failure) : 'connection closed early';
    if (stalled > MAX_STALLED_RETRIES) throw brokeOff(file, ctx, offset, reason);
    hooks.onRetry?.(stalled, offset, reason);
    await sleep(Math.min(200 * 2 ** (stalled - 1), 3000), ctx.signal);
  }
  if (expected !== null && offset !== expected) throw brokeOff(file, ctx, offset, 'size mismatch');
  if (v.hash) {
    const got = v.hash.digest('hex');
    if (got !== meta.etag) {
      await rm(incomplete, { force: true });
      const what = v.kind === 'sha256' ? 'sha256' : 'git blob sha1';
      throw new LensError(
        'checksum',
        `${file} from ${ctx.repo}@${ctx.revision} is corrupt: its ${what} is ${got} but the Hub says ${meta.etag}. The download was discarded (nothing was cached); run again, and if it repeats, something between you and the Hub (a proxy, HF_ENDPOINT's mirror) alters the file.`,
      );
    }
  }
}

function brokeOff(file: string, ctx: HubRequestContext, offset: number, reason: string): LensError {
  return new LensError(
    'network',
    `The download of ${file} from ${ctx.repo} kept breaking off (${reason}) at byte ${offset}; run again to resume from there (the partial file is kept in the cache).`,
  );
}
