// The huggingface_hub cache layout, shared with Python (transformers, huggingface-cli) so that a
// file downloaded by either is found by the other:
//
//   {cacheDir}/models--{org}--{name}/
//     blobs/{etag}                 file contents, named by the Hub's ETag: the sha256 of an LFS file,
//                                  the git blob sha1 of a small one
//     blobs/{etag}.incomplete      a download in progress (resumed from its length, by either tool)
//     snapshots/{commit}/{path}    relative symlinks into blobs/ (copies where symlinks fail)
//     refs/{revision}              the commit a branch or tag pointed to when last resolved
//   {cacheDir}/.locks/models--{org}--{name}/{etag}.lens.lock   our lock (see download.ts)
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { copyFile, lstat, mkdir, rm, symlink } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { getRepoFolderName } from '@huggingface/hub';
import { isCommitHash } from './spec';

export class RepoCache {
  /** models--org--name under the cache dir. */
  readonly folder: string;
  readonly lockDir: string;

  constructor(
    readonly cacheDir: string,
    readonly repo: string,
  ) {
    const name = getRepoFolderName({ name: repo, type: 'model' });
    this.folder = join(cacheDir, name);
    this.lockDir = join(cacheDir, '.locks', name);
  }

  blobPath(etag: string): string {
    return join(this.folder, 'blobs', etag);
  }

  snapshotDir(commit: string): string {
    return join(this.folder, 'snapshots', commit);
  }

  pointerPath(commit: string, file: string): string {
    return join(this.snapshotDir(commit), ...file.split('/'));
  }

  lockPath(etag: string): string {
    return join(this.lockDir, `${etag}.lens.lock`);
  }

  /** The commit `revision` resolves to in the cache: itself when it is a commit hash, else refs/{revision}. */
  commitFor(revision: string): string | null {
    if (isCommitHash(revision)) return revision;
    const ref = join(this.folder, 'refs', ...revision.split('/'));
    try {
      const c = readFileSync(ref, 'utf8').trim();
      return isCommitHash(c) ? c : null;
    } catch {
      return null;
    }
  }

  /** Records that `revision` points at `commit` (as huggingface_hub does: no trailing newline). */
  writeRef(revision: string, commit: string): void {
    if (revision === commit) return;
    const ref = join(this.folder, 'refs', ...revision.split('/'));
    mkdirSync(dirname(ref), { recursive: true });
    try {
      if (readFileSync(ref, 'utf8') === commit) return;
    } catch {
      // absent: write it
    }
    writeFileSync(ref, commit);
  }

  /** True when the snapshot has `file` and, for a symlink, its blob is there. */
  hasFile(commit: string, file: string): boolean {
    return existsSync(this.pointerPath(commit, file));
  }

  /** Files of a cached snapshot (paths with '/'), only those whose blob exists. */
  listSnapshot(commit: string): string[] {
    const root = this.snapshotDir(commit);
    const out: string[] = [];
    const walk = (dir: string, prefix: string) => {
      let entries: string[];
      try {
        entries = readdirSync(dir);
      } catch {
        return;
      }
      for (const e of entries) {
        const p = join(dir, e);
        let st;
        try {
          st = statSync(p); // follows the symlink: a dangling one throws and is skipped
        } catch {
          continue;
        }
        if (st.isDirectory()) walk(p, `${prefix}${e}/`);
        else out.push(`${prefix}${e}`);
      }
    };
    walk(root, '');
    return out.sort();
  }

  /** Points snapshots/{commit}/{file} at blobs/{etag} with a relative symlink (a copy where symlinks fail). */
  async link(commit: string, file: string, etag: string): Promise<void> {
    const blob = this.blobPath(etag);
    const pointer = this.pointerPath(commit, file);
    await mkdir(dirname(pointer), { recursive: true });
    try {
      await lstat(pointer);
      await rm(pointer, { force: true });
    } catch {
      // nothing there
    }
    try {
      await symlink(relative(dirname(pointer), blob), pointer);
    } catch {
      await copyFile(blob, pointer);
    }
  }
}

/** True when `p` exists as a regular file (not following a dangling link). */
export function isFile(p: string): boolean {
  try {
    return lstatSync(p).isFile() || statSync(p).isFile();
  } catch {
    return false;
  }
}
