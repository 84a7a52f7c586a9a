// Where the read-only shared data lives (../shared from the repo root) and how tests skip without it.
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exportLlama2c } from '../../src/core/export/llama2c';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const sharedDir = resolve(repoRoot, '../shared');
export const hasShared = existsSync(join(sharedDir, 'SOURCES.md'));
/** Pass as `{ skip }` to tests that need ../shared. */
export const skipNoShared: string | false = hasShared ? false : `../shared is missing (expected at ${sharedDir}); this test needs its models/data`;

export const storiesDir = join(sharedDir, 'models/stories260K');

export function tempDir(prefix = 'lens-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

let storiesModel: string | null = null;
/** Exports stories260K.bin once per process into a temp model folder and returns its path. */
export function storiesModelDir(): string {
  if (storiesModel) return storiesModel;
  const out = join(tempDir('lens-stories-'), 'stories260K');
  exportLlama2c({ weights: join(storiesDir, 'stories260K.bin'), tokenizerDir: storiesDir, outDir: out });
  storiesModel = out;
  return out;
}
