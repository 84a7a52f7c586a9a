// npm run package: one .vsix per platform target (default linux-x64; more as arguments, e.g.
// `npm run package -- linux-x64 linux-arm64 darwin-arm64 win32-x64`), each with only its own
// platform's ONNX Runtime binaries. Prints each file's size. Works offline (@vscode/vsce).
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';

const root = join(import.meta.dirname, '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name: string; version: string };
/** vsce target → ONNX Runtime's bin/napi-v6/<os>/<arch>. */
const TARGETS: Record<string, [string, string]> = {
  'linux-x64': ['linux', 'x64'],
  'linux-arm64': ['linux', 'arm64'],
  'darwin-arm64': ['darwin', 'arm64'],
  'win32-x64': ['win32', 'x64'],
  'win32-arm64': ['win32', 'arm64'],
};

const wanted = process.argv.slice(2).length ? process.argv.slice(2) : ['linux-x64'];
for (const t of wanted) if (!TARGETS[t]) throw new Error(`Unknown target ${t}; known: ${Object.keys(TARGETS).join(', ')}`);
for (const f of ['dist/extension.cjs', 'dist/worker.cjs', 'dist/webview.js']) if (!existsSync(join(root, f))) throw new Error(`${f} is missing: run npm run build`);

const base = readFileSync(join(root, '.vscodeignore'), 'utf8');
const bin = 'node_modules/onnxruntime-node/bin/napi-v6';
for (const target of wanted) {
  const [os, arch] = TARGETS[target];
  // vsce: a file is left out when it matches a pattern and no `!` pattern; so node_modules/** drops
  // every platform's binaries and this one line brings back the target's.
  const ignoreFile = join(tmpdir(), `lens-vscodeignore-${target}`);
  writeFileSync(ignoreFile, `${base}\n# target ${target}: its own ONNX Runtime binaries only\n!${bin}/${os}/${arch}/**\n`);
  const out = join(root, `${pkg.name}-${target}-${pkg.version}.vsix`);
  rmSync(out, { force: true });
  execFileSync(
    process.execPath,
    [join(root, 'node_modules/@vscode/vsce/vsce'), 'package', '--target', target, '--ignoreFile', ignoreFile, '--out', out, '--skip-license', '--allow-missing-repository', '--no-update-package-json', '--readme-path', 'media/README.extension.md'],
    { cwd: root, stdio: 'inherit' },
  );
  rmSync(ignoreFile, { force: true });
  const mb = statSync(out).size / 2 ** 20;
  console.log(`${out}: ${mb.toFixed(1)} MiB`);
}
