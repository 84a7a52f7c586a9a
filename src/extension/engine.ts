// The engine as the extension sees it: one WorkerClient (the model runs in a worker thread, never
// on the extension host's event loop), the model chosen in settings loaded once per (folder,
// device), cancellation from VS Code's CancellationToken to an AbortSignal, crash reporting.
import * as vscode from 'vscode';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { isAbsolute, join, resolve, basename } from 'node:path';
import { homedir } from 'node:os';
import { WorkerClient } from '../worker/client';
import type { ModelInfo } from '../protocol/worker';
import type { Provider } from '../core/model';
import { isLensError, LensError } from '../core/errors';
import { resolveModelSpec, looksLikeHubId, type HubProgress, type ResolvedModel } from '../core/hub';
import { deviceSetting, modelSetting, threadsSetting } from './config';

export interface LoadedModel {
  info: ModelInfo;
  /** What the user named (setting value), for the status bar. */
  spec: string;
  label: string;
  device: Provider;
}

export interface EmbeddedModel {
  name: string;
  dir: string;
}

/** Model folders shipped in the extension's models/ (each with a config.json). */
export function embeddedModels(extensionPath: string): EmbeddedModel[] {
  const root = join(extensionPath, 'models');
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .filter((n) => existsSync(join(root, n, 'config.json')) && statSync(join(root, n)).isDirectory())
    .sort()
    .map((name) => ({ name, dir: join(root, name) }));
}

/** The embedded model used when likelihoodLens.model is empty (the CLI's DEFAULT_MODEL, src/cli/cli.ts). */
export const DEFAULT_EMBEDDED_MODEL = 'english-base';

/**
 * The model folder a setting names: an absolute folder (or ~/…), the name of an embedded model, a
 * folder relative to the first workspace folder (trusted workspaces only), or a Hugging Face id
 * `org/name[@revision]` (downloaded into the huggingface_hub cache by src/core/hub).
 */
export async function resolveModel(
  spec: string,
  extensionPath: string,
  opts: { signal?: AbortSignal; onProgress?: (p: HubProgress) => void } = {},
): Promise<ResolvedModel> {
  const embeddedDir = join(extensionPath, 'models');
  if (!spec) {
    // No setting: the embedded default model (the CLI's default too), else the only embedded one.
    const embedded = embeddedModels(extensionPath);
    const dflt = embedded.find((m) => m.name === DEFAULT_EMBEDDED_MODEL) ?? (embedded.length === 1 ? embedded[0] : undefined);
    if (dflt) return resolveModelSpec(dflt.dir, { embeddedDir });
    throw new LensError('bad-argument', 'No model is set: run “Likelihood Lens: Select Model” or set likelihoodLens.model to a model folder or a Hugging Face id.');
  }
  const expanded = spec.startsWith('~/') ? join(homedir(), spec.slice(2)) : spec;
  if (isAbsolute(expanded)) {
    if (!existsSync(expanded)) throw new LensError('missing-file', `Model folder not found: ${expanded} (from likelihoodLens.model).`);
    return resolveModelSpec(expanded, { embeddedDir });
  }
  if (embeddedModels(extensionPath).some((m) => m.name === spec)) return resolveModelSpec(spec, { embeddedDir });
  const ws = vscode.workspace.workspaceFolders?.[0];
  if (ws && vscode.workspace.isTrusted && ws.uri.scheme === 'file') {
    const p = resolve(ws.uri.fsPath, expanded);
    if (existsSync(p)) return resolveModelSpec(p, { embeddedDir });
  }
  if (!looksLikeHubId(spec)) {
    const names = embeddedModels(extensionPath).map((m) => m.name);
    throw new LensError('missing-file', `Model “${spec}” is not a folder, not an embedded model${names.length ? ` (embedded: ${names.join(', ')})` : ''}, and not a Hugging Face id (org/name[@revision]).`);
  }
  return resolveModelSpec(spec, { embeddedDir, signal: opts.signal, onProgress: opts.onProgress });
}

function hubMessage(p: HubProgress): string {
  const mb = (n: number) => (n / 2 ** 20).toFixed(1);
  switch (p.phase) {
    case 'resolve':
      return `asking the Hub for ${p.repo}@${p.revision}…`;
    case 'download':
      return `downloading ${p.repo}: ${p.file ?? ''} (${mb(p.loaded)} / ${mb(p.total)} MB, file ${p.filesDone + 1} of ${p.filesTotal})`;
    case 'wait':
      return `waiting for another download of ${p.file ?? p.repo}…`;
    case 'retry':
      return `resuming ${p.file ?? p.repo}…`;
    case 'done':
      return `${p.repo} is ready`;
  }
}

export class Engine implements vscode.Disposable {
  readonly client: WorkerClient;
  private loaded: { key: string; model: LoadedModel } | null = null;
  private loading: { key: string; promise: Promise<LoadedModel> } | null = null;
  private readonly changed = new vscode.EventEmitter<LoadedModel | null>();
  readonly onDidChangeModel = this.changed.event;
  private readonly crashed = new vscode.EventEmitter<string>();
  /** Fired with the reason when the worker thread dies (it restarts on the next request). */
  readonly onDidCrash = this.crashed.event;
  lastCrash: string | null = null;
  /** Every operation in flight, so that “Cancel” can stop them all. */
  private readonly running = new Set<AbortController>();

  constructor(readonly extensionPath: string) {
    this.client = new WorkerClient({
      workerPath: join(extensionPath, 'dist', 'worker.cjs'),
      onCrash: (why) => {
        this.lastCrash = why;
        this.crashed.fire(why);
      },
    });
  }

  get current(): LoadedModel | null {
    return this.loaded?.model ?? null;
  }

  private readonly reporters = new Set<(message: string) => void>();

  /** The model from settings, resolved (a Hub id is downloaded once) and loaded (once) in the worker. */
  async model(signal?: AbortSignal, report?: (message: string) => void): Promise<LoadedModel> {
    const spec = modelSetting();
    const device = deviceSetting();
    const threads = threadsSetting();
    const key = `${spec}\u0000${device}\u0000${threads}\u0000${vscode.workspace.isTrusted}`;
    if (this.loaded?.key === key) return this.loaded.model;
    if (this.loading?.key !== key) {
      const promise = (async () => {
        const previous = this.loaded;
        const resolved = await resolveModel(spec, this.extensionPath, {
          signal,
          onProgress: (p) => {
            const m = hubMessage(p);
            for (const r of this.reporters) r(m);
          },
        });
        for (const r of this.reporters) r(`loading ${basename(resolved.dir)}…`);
        for (const note of resolved.hub?.notes ?? []) void vscode.window.showInformationMessage(`Likelihood Lens: ${note}`);
        const info = await this.client.load(resolved.dir, { provider: device, threads, ...(resolved.onnxFile ? { onnxFile: resolved.onnxFile } : {}) });
        const label = resolved.hub ? resolved.hub.repo : basename(info.dir);
        const model: LoadedModel = { info, spec, label, device: info.provider as Provider };
        this.loaded = { key, model };
        if (previous) await this.client.unload(previous.model.info.handle).catch(() => undefined);
        this.changed.fire(model);
        if (info.providerNote) void vscode.window.showWarningMessage(`Likelihood Lens: ${info.providerNote}`);
        return model;
      })();
      this.loading = { key, promise };
      promise.then(
        () => {
          if (this.loading?.promise === promise) this.loading = null;
        },
        () => {
          if (this.loading?.promise === promise) this.loading = null;
        },
      );
    }
    // A load cannot be interrupted inside ONNX Runtime; a cancelled caller stops waiting and the
    // model stays loaded for the next request.
    if (report) this.reporters.add(report);
    try {
      return await raceAbort(this.loading!.promise, signal);
    } finally {
      if (report) this.reporters.delete(report);
    }
  }

  /** Drops the loaded model (after the settings changed). */
  async reset(): Promise<void> {
    const l = this.loaded;
    this.loaded = null;
    this.changed.fire(null);
    if (l) await this.client.unload(l.model.info.handle).catch(() => undefined);
  }

  /** An AbortController tied to a CancellationToken and to cancelAll(). */
  track(token?: vscode.CancellationToken): { signal: AbortSignal; done: () => void } {
    const ac = new AbortController();
    this.running.add(ac);
    const sub = token?.onCancellationRequested(() => ac.abort());
    if (token?.isCancellationRequested) ac.abort();
    return {
      signal: ac.signal,
      done: () => {
        sub?.dispose();
        this.running.delete(ac);
      },
    };
  }

  get busy(): number {
    return this.running.size;
  }

  cancelAll(): number {
    const n = this.running.size;
    for (const ac of this.running) ac.abort();
    return n;
  }

  /**
   * Runs `fn` under a cancellable progress notification; cancelling it (or cancelAll) aborts the
   * worker call. Resolves to undefined when cancelled.
   */
  async withProgress<T>(
    title: string,
    fn: (signal: AbortSignal, report: (message: string, increment?: number) => void) => Promise<T>,
  ): Promise<T | undefined> {
    return vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title, cancellable: true }, async (progress, token) => {
      const t = this.track(token);
      try {
        return await fn(t.signal, (message, increment) => progress.report({ message, increment }));
      } catch (e) {
        if (t.signal.aborted || (isLensError(e) && e.code === 'aborted')) return undefined;
        throw e;
      } finally {
        t.done();
      }
    });
  }

  dispose(): void {
    this.cancelAll();
    void this.client.terminate();
    this.changed.dispose();
    this.crashed.dispose();
  }
}

export function raceAbort<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(new LensError('aborted', 'Cancelled.'));
  return new Promise<T>((res, rej) => {
    const onAbort = () => rej(new LensError('aborted', 'Cancelled.'));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        res(v);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        rej(e);
      },
    );
  });
}

/** Shows an error without ever throwing (commands end here). */
export function showError(what: string, e: unknown): void {
  const msg = isLensError(e) ? e.message : e instanceof Error ? e.message : String(e);
  console.error(`[likelihood-lens] ${what}:`, e);
  void vscode.window.showErrorMessage(`Likelihood Lens — ${what}: ${msg}`);
}
