// npm run test:electron: the same mocha suite (test/vscode/suite) in desktop VS Code downloaded by
// @vscode/test-electron — the route for machines that can download VS Code. Here, and in CI, where
// it cannot, `npm run test:vscode` runs the suite in code-server instead.
import { runTests } from '@vscode/test-electron';
import { join } from 'node:path';
import { repoRoot, skipNoShared, storiesModelDir, tempDir } from '../helpers/shared';

async function main(): Promise<void> {
  const model = process.env.LENS_TEST_MODEL ?? (skipNoShared ? null : storiesModelDir());
  if (!model) {
    console.error(`No model for the suite: set LENS_TEST_MODEL to a model folder (${skipNoShared}).`);
    process.exit(1);
  }
  await runTests({
    extensionDevelopmentPath: repoRoot,
    extensionTestsPath: join(repoRoot, 'out/test/suite.cjs'),
    launchArgs: [tempDir('lens-electron-ws-'), '--disable-extensions', '--disable-workspace-trust'],
    extensionTestsEnv: { LENS_TEST_MODEL: model },
  });
}

main().catch((e) => {
  console.error(`test:electron failed: ${(e as Error)?.message ?? e}`);
  process.exit(1);
});
