// House rules that a test can check: src/core never imports vscode (unit tests run in plain Node).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../helpers/shared';

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

test('src/core, src/worker, src/protocol and src/cli never import vscode', () => {
  const offenders: string[] = [];
  for (const d of ['src/core', 'src/worker', 'src/protocol', 'src/cli']) {
    for (const f of files(join(repoRoot, d))) {
      const src = readFileSync(f, 'utf8');
      if (/(from\s+['"]vscode['"]|require\(\s*['"]vscode['"]\s*\)|import\(\s*['"]vscode['"]\s*\))/.test(src)) offenders.push(f);
    }
  }
  assert.ok(files(join(repoRoot, 'src/core')).length > 5);
  assert.deepEqual(offenders, []);
});
