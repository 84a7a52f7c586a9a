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

const HUB_ID = /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+(@[^\s]+)?$/;

/**
 * The folder a model setting names: an absolute folder (or ~/…), a folder relative to the first
 * workspace folder (trusted workspaces only), or the name of an embedded model.
 */
export function resolveModelFolder(spec: string, extensionPath: string): string {
  if (!spec) {
    throw new LensError('bad-argument', 'No model is set: run “Likelihood Lens: Select Model” or set likelihoodLens.model to a model folder.');
  }
  const expanded = spec.startsWith('~/') ? join(homedir(), spec.slice(2)) : spec;
  if (isAbsolute(expanded)) {
    if (!existsSync(expanded)) throw new LensError('missing-file', `Model folder not found: ${expanded} (from likelihoodLens.model).`);
    return expanded;
  }
  const embedded = embeddedModels(extensionPath).find((m) => m.name === spec);
  if (embedded) return embedded.dir;
  const ws = vscode.workspace.workspaceFolders?.[0];
  if (ws && vscode.workspace.isTrusted && ws.uri.scheme === 'file') {
    const p = resolve(ws.uri.fsPath, expanded);
    if (existsSync(p)) return p;
  }
  if (HUB_ID.test(spec)) {
    throw new LensError(
      'bad-argument',
      `“${spec}” looks like a Hugging Face id; this build loads local folders and embedded models only. Download the ONNX export into a folder and set likelihoodLens.model to that folder.`,
    );
  }
  const names = embeddedModels(extensionPath).map((m) => m.name);
  throw new LensError('missing-file', `Model “${spec}” is neither a folder nor an embedded model${names.length ? ` (embedded: ${names.join(', ')})` : ''}.`);
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

  /** The model from settings, loaded (once) in the worker. */
  async model(signal?: AbortSignal): Promise<LoadedModel> {
    const spec = modelSetting();
    const device = deviceSetting();
    const dir = resolveModelFolder(spec, this.extensionPath);
    const key = `${dir}\u0000${device}`;
    if (this.loaded?.key === key) return this.loaded.model;
    if (this.loading?.key !== key) {
      const promise = (async () => {
        const previous = this.loaded;
        const info = await this.client.load(dir, { provider: device, threads: threadsSetting() });
        const model: LoadedModel = { info, spec, label: basename(info.dir), device: info.provider as Provider };
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
    return raceAbort(this.loading!.promise, signal);
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
