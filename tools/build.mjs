// Bundles the CLI, the worker (and later the extension and webview) with esbuild.
// onnxruntime-node stays external: it carries native binaries.
import * as esbuild from 'esbuild';
import { existsSync, copyFileSync } from 'node:fs';

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: true,
  external: ['onnxruntime-node', 'vscode'],
  logLevel: 'warning',
};

const entries = [
  { entryPoints: ['src/cli/main.ts'], outfile: 'dist/cli.cjs', banner: { js: '#!/usr/bin/env node' } },
  { entryPoints: ['src/worker/worker.ts'], outfile: 'dist/worker.cjs' },
];
if (existsSync('src/extension/extension.ts')) {
  entries.push({ entryPoints: ['src/extension/extension.ts'], outfile: 'dist/extension.cjs' });
}
await Promise.all(entries.map((e) => esbuild.build({ ...common, ...e })));
if (existsSync('webview/main.ts')) {
  await esbuild.build({ entryPoints: ['webview/main.ts'], outfile: 'dist/webview.js', bundle: true, platform: 'browser', format: 'iife', target: 'es2022', sourcemap: true, minify: true, logLevel: 'warning' });
  // What the webview loads besides its script (its localResourceRoots is dist/ only).
  for (const [from, to] of [
    ['node_modules/@vscode/codicons/dist/codicon.css', 'dist/codicon.css'],
    ['node_modules/@vscode/codicons/dist/codicon.ttf', 'dist/codicon.ttf'],
    ['media/webview.css', 'dist/webview.css'],
  ]) copyFileSync(from, to);
}
// The extension's integration suite (mocha inside the extension host), when present.
if (existsSync('test/vscode/suite/index.ts')) {
  await esbuild.build({ ...common, entryPoints: ['test/vscode/suite/index.ts'], outfile: 'out/test/suite.cjs', external: [...common.external, 'mocha'] });
}
