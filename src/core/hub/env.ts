// Where the Hub is and who we are to it, read the way huggingface_hub (Python) reads it, so that one
// environment configures both: HF_ENDPOINT, HF_TOKEN (or the token file `huggingface-cli login`
// writes), HF_HOME / HF_HUB_CACHE, HF_HUB_OFFLINE.
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { getHFHubCachePath } from '@huggingface/hub';

export const DEFAULT_ENDPOINT = 'https://huggingface.co';

export interface HubEnv {
  /** Base URL of the Hub, no trailing slash. */
  endpoint: string;
  /** Bearer token, or undefined for anonymous access. */
  token: string | undefined;
  /** The hub cache folder (holds models--org--name/{blobs,snapshots,refs}). */
  cacheDir: string;
  /** Use the cache only; never touch the network. */
  offline: boolean;
}

function expandHome(p: string): string {
  return p === '~' ? homedir() : p.startsWith('~/') ? join(homedir(), p.slice(2)) : p;
}

/** huggingface_hub's truthy env values ("1", "ON", "YES", "TRUE", any case). */
export function envFlag(v: string | undefined): boolean {
  return v !== undefined && ['1', 'on', 'yes', 'true'].includes(v.trim().toLowerCase());
}

/** HF_HOME, or $XDG_CACHE_HOME/huggingface, or ~/.cache/huggingface (where the token file lives). */
function hfHome(env: NodeJS.ProcessEnv): string {
  if (env.HF_HOME) return expandHome(env.HF_HOME);
  return join(env.XDG_CACHE_HOME ? expandHome(env.XDG_CACHE_HOME) : join(homedir(), '.cache'), 'huggingface');
}

/** HF_TOKEN, else HUGGING_FACE_HUB_TOKEN, else the token file (HF_TOKEN_PATH or $HF_HOME/token). */
export function readToken(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const t = env.HF_TOKEN ?? env.HUGGING_FACE_HUB_TOKEN;
  if (t !== undefined) return t.trim() || undefined;
  const file = env.HF_TOKEN_PATH ? expandHome(env.HF_TOKEN_PATH) : join(hfHome(env), 'token');
  try {
    if (existsSync(file)) return readFileSync(file, 'utf8').trim() || undefined;
  } catch {
    // an unreadable token file is the same as none
  }
  return undefined;
}

/**
 * The hub cache folder: HF_HUB_CACHE, else HUGGINGFACE_HUB_CACHE, else $HF_HOME/hub, else
 * $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub (@huggingface/hub's
 * getHFHubCachePath, which follows huggingface_hub; plus the `~` expansion Python does).
 */
export function hubCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env === process.env) return expandHome(getHFHubCachePath());
  // getHFHubCachePath reads process.env; for another env apply the same precedence here.
  const c = env.HF_HUB_CACHE ?? env.HUGGINGFACE_HUB_CACHE;
  return c ? expandHome(c) : join(hfHome(env), 'hub');
}

/** The Hub settings from the environment, each overridable by an explicit option. */
export function hubEnv(
  over: { endpoint?: string; token?: string; cacheDir?: string; offline?: boolean } = {},
  env: NodeJS.ProcessEnv = process.env,
): HubEnv {
  const endpoint = (over.endpoint ?? env.HF_ENDPOINT ?? DEFAULT_ENDPOINT).replace(/\/+$/, '');
  return {
    endpoint,
    token: over.token ?? readToken(env),
    cacheDir: over.cacheDir ?? hubCacheDir(env),
    offline: over.offline ?? envFlag(env.HF_HUB_OFFLINE),
  };
}
