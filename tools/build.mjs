// Bundles the CLI, the worker (and later the extension and webview) with esbuild.
// onnxruntime-node stays external: it carries native binaries.
import * as esbuild from 'esbuild';
import { existsSync } from 'node:fs';

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
  await esbuild.build({ entryPoints: ['webview/main.ts'], outfile: 'dist/webview.js', bundle: true, platform: 'browser', format: 'iife', target: 'es2022', sourcemap: true, logLevel: 'warning' });
}
