// Mocha entry inside the extension host (code-server or desktop VS Code via @vscode/test-electron):
// the usual `run()` that the workbench calls for extensionTestsPath. Bundled to out/test/suite.cjs
// by tools/build.mjs (mocha stays external and resolves from the repo's node_modules).
import Mocha from 'mocha';
import { registerExtensionTests } from './extension.test';

export function run(): Promise<void> {
  const mocha = new Mocha({ ui: 'bdd', timeout: 90_000, color: false, reporter: 'spec' });
  // Define describe/it on globalThis, then register the tests (they are bundled, not required by path).
  mocha.suite.emit('pre-require', globalThis, 'extension-suite', mocha);
  registerExtensionTests();
  const grep = process.env.LENS_TEST_GREP;
  if (grep) mocha.grep(grep);
  return new Promise((resolve, reject) => {
    mocha.run((failures) => (failures > 0 ? reject(new Error(`${failures} extension test(s) failed`)) : resolve()));
  });
}
