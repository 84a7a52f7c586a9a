// npm start: opens the extension on a sample document.
//  - Desktop VS Code when `code` is on the PATH: `code --extensionDevelopmentPath=<repo> tools/sample`.
//  - Otherwise code-server on 127.0.0.1 (npm run vscode-host installs it) with the packaged
//    extension installed; prints the URL and runs until Ctrl+C.
// The model: the user's likelihoodLens.model, else an embedded model, else (for code-server) the
// stories260K model exported from ../shared when it is there.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { exportLlama2c } from '../src/core/export/llama2c';

const root = resolve(import.meta.dirname, '..');
const sampleDir = join(root, 'tools/sample');
const sample = join(sampleDir, 'story.txt');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name: string; version: string };

function onPath(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

if (onPath('code') && !process.env.LENS_START_CODE_SERVER) {
  console.log('Opening desktop VS Code with the extension under development…');
  const p = spawn('code', [`--extensionDevelopmentPath=${root}`, sampleDir, sample], { stdio: 'inherit', detached: true });
  p.unref();
  process.exit(0);
}

const hostDir = process.env.LENS_VSCODE_HOST_DIR ?? join(root, '.cache/vscode-host');
const entry = join(hostDir, 'node_modules/code-server/out/node/entry.js');
if (!existsSync(entry)) {
  console.error(`Neither \`code\` on the PATH nor code-server at ${entry}.\nInstall code-server with: npm run vscode-host (needs apt: build-essential python3 pkg-config libkrb5-dev ripgrep).`);
  process.exit(1);
}

const state = join(root, '.cache/start');
const userData = join(state, 'user-data');
const extensions = join(state, 'extensions');
mkdirSync(join(userData, 'User'), { recursive: true });
mkdirSync(extensions, { recursive: true });

// A model for the sample: the user's setting wins (kept in this user-data dir's settings.json).
const settingsFile = join(userData, 'User', 'settings.json');
const settings: Record<string, unknown> = existsSync(settingsFile) ? JSON.parse(readFileSync(settingsFile, 'utf8')) : {};
settings['workbench.startupEditor'] = 'none';
const embedded = existsSync(join(root, 'models')) ? readdirSync(join(root, 'models')).filter((n) => existsSync(join(root, 'models', n, 'config.json'))) : [];
if (!settings['likelihoodLens.model']) {
  const stories = resolve(root, '../shared/models/stories260K');
  if (embedded.length) settings['likelihoodLens.model'] = embedded[0];
  else if (existsSync(join(stories, 'stories260K.bin'))) {
    const out = join(state, 'models/stories260K');
    if (!existsSync(join(out, 'config.json'))) exportLlama2c({ weights: join(stories, 'stories260K.bin'), tokenizerDir: stories, outDir: out });
    settings['likelihoodLens.model'] = out;
  } else console.warn('No model: choose one with “Likelihood Lens: Select Model” in the editor.');
}
writeFileSync(settingsFile, JSON.stringify(settings, null, 2));

const env = { ...process.env, XDG_CONFIG_HOME: join(state, 'xdg-config'), XDG_DATA_HOME: join(state, 'xdg-data') };
const common = ['--user-data-dir', userData, '--extensions-dir', extensions];
const vsix = join(root, `${pkg.name}-linux-x64-${pkg.version}.vsix`);
console.log('Packaging the extension…');
execFileSync(process.execPath, ['--import', 'tsx', join(root, 'tools/package.ts'), 'linux-x64'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
execFileSync(process.execPath, [entry, ...common, '--install-extension', vsix, '--force'], { env, stdio: 'inherit' });

const port = Number(process.env.LENS_PORT ?? 8734);
const server = spawn(
  process.execPath,
  [entry, ...common, '--bind-addr', `127.0.0.1:${port}`, '--auth', 'none', '--disable-telemetry', '--disable-update-check', '--disable-getting-started-override', sampleDir],
  { env, stdio: ['ignore', 'pipe', 'inherit'] },
);
server.stdout.on('data', (d: Buffer) => process.stdout.write(d));
const url = `http://127.0.0.1:${port}/?folder=${encodeURIComponent(sampleDir)}`;
const t0 = Date.now();
const wait = async () => {
  for (;;) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) break;
    } catch {
      // not up yet
    }
    if (server.exitCode !== null || Date.now() - t0 > 60_000) {
      console.error('code-server did not start.');
      process.exit(1);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  console.log(`\nLikelihood Lens is running in code-server:\n\n  ${url}\n\nOpen story.txt, select text, F1 → “Likelihood Lens: Score Selection”. Ctrl+C stops the server.`);
};
void wait();
const stop = () => {
  server.kill('SIGTERM');
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
