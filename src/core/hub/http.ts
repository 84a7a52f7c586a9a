// HTTP with the Hub: one fetch wrapper (token, cancellation, errors that say what to do) and the
// HEAD request huggingface_hub's get_hf_file_metadata makes on a resolve URL.
//
// What the Hub answers on `HEAD {endpoint}/{repo}/resolve/{revision}/{path}`:
//   - a file kept in git: 200 with `ETag: "<git blob sha1>"`, Content-Length, X-Repo-Commit;
//   - an LFS file: 302 to a CDN URL (Location) with `X-Linked-Etag: "<sha256>"`, X-Linked-Size,
//     X-Repo-Commit; the CDN serves the bytes and honours Range;
//   - a renamed repo: a 307 to a relative URL on the Hub, to be followed;
//   - errors: 401 (no or bad token; also a missing repo, to anonymous callers), 403 (gated and not
//     accepted), 404, with X-Error-Code (RepoNotFound, RevisionNotFound, EntryNotFound, GatedRepo)
//     and X-Error-Message headers, and for GETs a JSON body {"error": "..."}.
import { LensError, abortError } from '../errors';

export interface HubRequestContext {
  endpoint: string;
  token: string | undefined;
  signal?: AbortSignal;
  repo: string;
  revision: string;
}

export interface FileMetadata {
  /** X-Repo-Commit. */
  commit: string | null;
  /** X-Linked-Etag or ETag, without quotes or W/. */
  etag: string;
  /** X-Linked-Size or Content-Length; null when the server gives neither. */
  size: number | null;
  /** Where to GET the bytes: the CDN URL of an LFS file, else the resolve URL itself. */
  location: string;
}

const USER_AGENT = 'likelihood-lens; hub-client/1';

/** `"abc"`, `W/"abc"` → `abc` (huggingface_hub's _normalize_etag). */
export function normalizeEtag(e: string | null): string | null {
  if (!e) return null;
  return e.replace(/^W\//, '').replace(/^"|"$/g, '') || null;
}

/** The resolve URL of a file, encoded as huggingface_hub's hf_hub_url encodes it. */
export function resolveUrl(endpoint: string, repo: string, revision: string, file: string): string {
  return `${endpoint}/${repo}/resolve/${encodeURIComponent(revision)}/${file.split('/').map(encodeURIComponent).join('/')}`;
}

function sameOrigin(a: string, b: string): boolean {
  try {
    return new URL(a).origin === new URL(b).origin;
  } catch {
    return false;
  }
}

function isAbort(e: unknown, signal?: AbortSignal): boolean {
  return !!signal?.aborted || (e as Error)?.name === 'AbortError';
}

/** Describes a network failure (fetch's TypeError wraps the system error in `cause`). */
export function networkReason(e: unknown): string {
  const c = (e as { cause?: { code?: string; message?: string } })?.cause;
  return c?.code ?? c?.message ?? (e as Error)?.message ?? String(e);
}

/**
 * fetch with the token (sent only to the endpoint's origin, never to a CDN it redirects to), the
 * caller's AbortSignal, and failures turned into LensErrors. Non-2xx/3xx answers are returned.
 */
export async function hubFetch(ctx: HubRequestContext, url: string, init: RequestInit = {}): Promise<Response> {
  if (ctx.signal?.aborted) throw abortError();
  const headers = new Headers(init.headers);
  headers.set('User-Agent', USER_AGENT);
  if (ctx.token && sameOrigin(url, ctx.endpoint)) headers.set('Authorization', `Bearer ${ctx.token}`);
  else headers.delete('Authorization');
  try {
    return await fetch(url, { ...init, headers, signal: ctx.signal });
  } catch (e) {
    if (isAbort(e, ctx.signal)) throw abortError();
    throw new LensError(
      'network',
      `Could not reach ${new URL(url).origin} (${networkReason(e)}). Check your connection and HF_ENDPOINT (now ${ctx.endpoint}); to use only what is already downloaded, set HF_HUB_OFFLINE=1.`,
    );
  }
}

/** What to tell the user for an error answer about `what` (a file, or the repo itself). */
export async function hubError(res: Response, ctx: HubRequestContext, what?: string): Promise<LensError> {
  const code = res.headers.get('X-Error-Code') ?? '';
  let detail = res.headers.get('X-Error-Message') ?? '';
  if (!detail && (res.headers.get('Content-Type') ?? '').includes('json')) {
    try {
      const j = (await res.json()) as { error?: unknown };
      if (typeof j.error === 'string') detail = j.error;
    } catch {
      // no usable body
    }
  }
  const said = detail ? ` The Hub said: ${detail}` : '';
  const id = `${ctx.repo}@${ctx.revision}`;
  const page = `${ctx.endpoint}/${ctx.repo}`;
  const s = res.status;
  if (s === 401 || s === 403) {
    if (code === 'GatedRepo') {
      return new LensError(
        'hub-auth',
        `${ctx.repo} is gated (HTTP ${s}): accept its license at ${page} while logged in, then set HF_TOKEN to a read token of that account${ctx.token ? ' (the account of the token given has no access yet)' : ''}.${said}`,
      );
    }
    if (s === 403) {
      return new LensError(
        'hub-auth',
        `The Hub refused access to ${ctx.repo} (HTTP 403): HF_TOKEN lacks read access to it (a fine-grained token must grant this repo), or the model is gated and its license at ${page} is not accepted yet.${said}`,
      );
    }
    return new LensError(
      'hub-auth',
      ctx.token
        ? `The Hub refused the token for ${ctx.repo} (HTTP 401): check that HF_TOKEN is a valid read token with access to it, and that the id is right.${said}`
        : `The Hub answered 401 for ${ctx.repo}: it does not exist, or it is private or gated. Check the id; if it is private or gated, set HF_TOKEN to a read token (${ctx.endpoint}/settings/tokens) and accept the model's license at ${page}.${said}`,
    );
  }
  if (s === 404) {
    if (code === 'RevisionNotFound') {
      return new LensError('hub-not-found', `Revision ${JSON.stringify(ctx.revision)} not found in ${ctx.repo}: check the @revision (a branch, tag or commit; default main).${said}`);
    }
    if (code === 'EntryNotFound' || (what && code !== 'RepoNotFound')) {
      return new LensError('hub-not-found', `${what ?? 'The file'} not found in ${id}: check the file name (--onnx-file) and the revision.${said}`);
    }
    return new LensError('hub-not-found', `Model ${ctx.repo} not found at ${ctx.endpoint} (HTTP 404): check the id (org/name, as on ${page}).${said}`);
  }
  if (s === 416) return new LensError('network', `The server could not serve the requested range of ${what ?? id} (HTTP 416).`);
  return new LensError(
    'network',
    `The Hub answered HTTP ${s} for ${what ? `${what} in ` : ''}${id}${s >= 500 ? ': it may be down or overloaded; try again later' : ''}.${said}`,
  );
}

/**
 * HEAD on the resolve URL without following redirects to another host (the CDN), but following
 * relative ones (renamed repos), like huggingface_hub's get_hf_file_metadata.
 */
export async function fileMetadata(ctx: HubRequestContext, file: string, revision = ctx.revision): Promise<FileMetadata> {
  let url = resolveUrl(ctx.endpoint, ctx.repo, revision, file);
  for (let hop = 0; hop < 10; hop++) {
    const res = await hubFetch(ctx, url, { method: 'HEAD', redirect: 'manual', headers: { 'Accept-Encoding': 'identity' } });
    const loc = res.headers.get('Location');
    if (res.status >= 300 && res.status < 400 && loc) {
      const target = new URL(loc, url).toString();
      if (!/^([a-z][a-z0-9+.-]*:)?\/\//i.test(loc)) {
        url = target; // relative redirect: a renamed repo, follow it
        continue;
      }
      return metadataOf(res, target, file, ctx);
    }
    if (!res.ok) throw await hubError(res, ctx, file);
    return metadataOf(res, url, file, ctx);
  }
  throw new LensError('network', `Too many redirects resolving ${file} in ${ctx.repo}.`);
}

function metadataOf(res: Response, location: string, file: string, ctx: HubRequestContext): FileMetadata {
  const etag = normalizeEtag(res.headers.get('X-Linked-Etag') ?? res.headers.get('ETag'));
  if (!etag) {
    throw new LensError('network', `${ctx.endpoint} gave no ETag for ${file} in ${ctx.repo}: it does not look like a Hugging Face Hub endpoint (check HF_ENDPOINT).`);
  }
  if (!/^[A-Za-z0-9._-]+$/.test(etag) || /^\.+$/.test(etag)) {
    // It names a file in blobs/: never let it be a path.
    throw new LensError('network', `${ctx.endpoint} gave an unusable ETag for ${file} in ${ctx.repo} (${JSON.stringify(etag).slice(0, 80)}); check HF_ENDPOINT.`);
  }
  const sizeHeader = res.headers.get('X-Linked-Size') ?? res.headers.get('Content-Length');
  const size = sizeHeader !== null && /^\d+$/.test(sizeHeader) ? Number(sizeHeader) : null;
  return { commit: res.headers.get('X-Repo-Commit'), etag, size, location };
}
