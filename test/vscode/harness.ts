// Runs a real VS Code extension host offline: code-server (installed by test/vscode/host/install.sh
// into .cache/vscode-host/) driven by Playwright with Debian's Chromium. See DEVELOPERS.md.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { format } from 'node:util';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { repoRoot } from '../helpers/shared';

export const hostDir = process.env.LENS_VSCODE_HOST_DIR ?? join(repoRoot, '.cache/vscode-host');
export const codeServerEntry = join(hostDir, 'node_modules/code-server/out/node/entry.js');
export const chromiumPath = process.env.LENS_CHROMIUM ?? '/usr/bin/chromium';

/** Why the code-server tests cannot run here, or null when they can. */
export function missingHost(): string | null {
  const missing: string[] = [];
  if (!existsSync(codeServerEntry)) missing.push(`code-server (expected ${codeServerEntry}; install with: npm run vscode-host)`);
  if (!existsSync(chromiumPath)) missing.push(`Chromium (expected ${chromiumPath}; apt-get install chromium, or set LENS_CHROMIUM)`);
  return missing.length ? missing.join('; ') : null;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export interface CodeServer {
  url: string;
  port: number;
  workspace: string;
  userDataDir: string;
  log: string[];
  stop(): Promise<void>;
}

export interface StartOptions {
  workspace: string;
  /** Written to the user's settings.json. */
  settings?: Record<string, unknown>;
  /** Extra environment for code-server (it reaches the extension host). */
  env?: Record<string, string>;
  /** Install a packed extension (.vsix) before starting. */
  installVsix?: string;
}

/** Starts code-server on 127.0.0.1 (its own process group) and waits until it answers. */
export async function startCodeServer(opts: StartOptions): Promise<CodeServer> {
  const root = mkdtempSync(join(tmpdir(), 'lens-code-server-'));
  const userDataDir = join(root, 'user-data');
  const extensionsDir = join(root, 'extensions');
  mkdirSync(join(userDataDir, 'User'), { recursive: true });
  mkdirSync(extensionsDir, { recursive: true });
  writeFileSync(
    join(userDataDir, 'User', 'settings.json'),
    JSON.stringify({ 'workbench.startupEditor': 'none', 'workbench.tips.enabled': false, 'security.workspace.trust.enabled': false, 'telemetry.telemetryLevel': 'off', 'extensions.autoCheckUpdates': false, ...opts.settings }, null, 2),
  );
  const env = {
    ...process.env,
    XDG_CONFIG_HOME: join(root, 'xdg-config'),
    XDG_DATA_HOME: join(root, 'xdg-data'),
    ...opts.env,
  };
  const common = ['--user-data-dir', userDataDir, '--extensions-dir', extensionsDir];
  if (opts.installVsix) {
    await new Promise<void>((resolve, reject) => {
      const p = spawn(process.execPath, [codeServerEntry, ...common, '--install-extension', opts.installVsix!], { env, stdio: 'pipe' });
      let out = '';
      p.stdout.on('data', (d) => (out += d));
      p.stderr.on('data', (d) => (out += d));
      p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`code-server --install-extension failed (${code}): ${out}`))));
    });
  }
  const port = await freePort();
  const args = [
    codeServerEntry,
    ...common,
    '--bind-addr',
    `127.0.0.1:${port}`,
    '--auth',
    'none',
    '--disable-telemetry',
    '--disable-update-check',
    '--disable-workspace-trust',
    '--disable-getting-started-override',
    opts.workspace,
  ];
  const child: ChildProcess = spawn(process.execPath, args, { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const log: string[] = [];
  child.stdout!.on('data', (d) => log.push(String(d)));
  child.stderr!.on('data', (d) => log.push(String(d)));
  const url = `http://127.0.0.1:${port}`;
  const t0 = Date.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`code-server exited (${child.exitCode}):\n${log.join('')}`);
    try {
      const r = await fetch(`${url}/healthz`);
      if (r.ok) break;
    } catch {
      // not up yet
    }
    if (Date.now() - t0 > 60_000) throw new Error(`code-server did not answer within 60 s:\n${log.join('')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url,
    port,
    workspace: opts.workspace,
    userDataDir,
    log,
    async stop() {
      if (child.exitCode !== null || child.pid === undefined) return;
      const exited = new Promise((r) => child.once('exit', r));
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        // already gone
      }
      const killer = setTimeout(() => {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          // already gone
        }
      }, 3000);
      await exited;
      clearTimeout(killer);
    },
  };
}

export async function launchBrowser(): Promise<BrowserContext> {
  const profile = mkdtempSync(join(tmpdir(), 'lens-chromium-'));
  return chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    viewport: { width: 1500, height: 900 },
    colorScheme: process.env.LENS_E2E_LIGHT ? 'light' : 'dark',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
}

/** The workbench URL for a folder with the extension loaded from `extensionPath` (and tests, if given). */
export function workbenchUrl(server: CodeServer, extensionPath: string, testsPath?: string): string {
  const remote = (p: string) => `vscode-remote://127.0.0.1:${server.port}${p}`;
  const payload: [string, string][] = [['extensionDevelopmentPath', remote(extensionPath)]];
  if (testsPath) payload.push(['extensionTestsPath', remote(testsPath)]);
  return `${server.url}/?folder=${encodeURIComponent(server.workspace)}&payload=${encodeURIComponent(JSON.stringify(payload))}`;
}

/** Runs the mocha suite at `testsPath` inside the extension host; resolves with its exit code and output. */
export async function runMochaInHost(server: CodeServer, browser: BrowserContext, extensionPath: string, testsPath: string, timeoutMs: number): Promise<{ code: number; output: string[] }> {
  const page = await browser.newPage();
  const output: string[] = [];
  let done: (code: number) => void = () => undefined;
  const exited = new Promise<number>((r) => (done = r));
  await page.exposeFunction('codeAutomationExit', (code: number) => done(code));
  await page.exposeFunction('codeAutomationLog', (_type: string, args: unknown[]) => {
    output.push(format(...(Array.isArray(args) ? args : [args])));
  });
  await page.goto(workbenchUrl(server, extensionPath, testsPath));
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<number>((r) => (timer = setTimeout(() => r(-1), timeoutMs)));
  const code = await Promise.race([exited, timedOut]);
  clearTimeout(timer);
  if (code === -1) output.push(`(timed out after ${timeoutMs} ms)`);
  await page.close().catch(() => undefined);
  return { code, output };
}

/** Runs a command from the palette (F1), retrying while the extension host registers it. */
export async function runFromPalette(page: Page, title: string, timeoutMs = 30_000): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    await page.keyboard.press('F1');
    const input = page.locator('.quick-input-widget input');
    await input.waitFor({ state: 'visible', timeout: 10_000 });
    await input.fill(`>${title}`);
    const row = page.locator('.quick-input-widget .monaco-list-row', { hasText: title }).first();
    try {
      await row.waitFor({ state: 'visible', timeout: 1500 });
      await page.keyboard.press('Enter');
      return;
    } catch {
      await page.keyboard.press('Escape');
      if (Date.now() - t0 > timeoutMs) throw new Error(`command “${title}” never appeared in the palette`);
      await page.waitForTimeout(500);
    }
  }
}
