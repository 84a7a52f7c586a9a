// Hub model ids: `org/name` or `org/name@revision` (a branch, tag, `refs/pr/N` or a 40-hex commit).
import { REGEX_COMMIT_HASH } from '@huggingface/hub';
import { LensError } from '../errors';

export interface HubId {
  /** `org/name`. */
  repo: string;
  /** Branch, tag or commit; `main` when not given. */
  revision: string;
}

// huggingface_hub's validate_repo_id: word characters, '-', '.'; no '--' or '..'; at most 96 chars.
const PART = /^[A-Za-z0-9_.-]+$/;

/** True when `s` has the shape of a Hub id (`org/name[@rev]`); says nothing about whether it exists. */
export function looksLikeHubId(s: string): boolean {
  const at = s.indexOf('@');
  const repo = at < 0 ? s : s.slice(0, at);
  const parts = repo.split('/');
  return parts.length === 2 && parts.every((p) => PART.test(p) && !/^[.-]|[.-]$/.test(p));
}

/** Parses `org/name[@revision]`; throws a LensError that shows the expected form otherwise. */
export function parseHubId(spec: string): HubId {
  const at = spec.indexOf('@');
  const repo = at < 0 ? spec : spec.slice(0, at);
  const revision = at < 0 ? 'main' : spec.slice(at + 1);
  const bad = (why: string) =>
    new LensError('bad-argument', `${JSON.stringify(spec)} is not a Hub model id (${why}): expected org/name or org/name@revision, e.g. onnx-community/gpt2 or HuggingFaceTB/SmolLM2-135M-Instruct@main`);
  if (!looksLikeHubId(spec)) throw bad('org/name with letters, digits, _ - .');
  if (repo.includes('--') || repo.includes('..')) throw bad("'--' and '..' are not allowed");
  if (repo.length > 96) throw bad('longer than 96 characters');
  if (!revision) throw bad('empty revision after @');
  if (revision.split('/').some((seg) => seg === '' || seg === '.' || seg === '..') || /[\s\\:?*~^[]/.test(revision)) {
    throw bad(`revision ${JSON.stringify(revision)} is not a valid git ref`);
  }
  return { repo, revision };
}

export function isCommitHash(revision: string): boolean {
  return REGEX_COMMIT_HASH.test(revision);
}

/**
 * Throws unless `file` is a plain relative path inside a repo (no '..', no absolute or drive path,
 * forward slashes), so that nothing a repo or a user names can escape the cache folder.
 */
export function checkRepoPath(file: string, what = 'file'): void {
  const parts = file.split('/');
  if (!file || file.includes('\\') || file.startsWith('/') || /^[A-Za-z]:/.test(file) || parts.some((p) => p === '' || p === '.' || p === '..')) {
    throw new LensError('bad-argument', `Invalid ${what} ${JSON.stringify(file)}: give a path inside the repo such as onnx/model.onnx`);
  }
}
