// Host side of the worker protocol: typed calls, progress and token events, cancellation through
// AbortSignal, and restart after a crash (models are reloaded on the next call).
import { Worker } from 'node:worker_threads';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { HostToWorker, MethodName, ModelInfo, PoeToken, WorkerMethods, WorkerToHost } from '../protocol/worker';
import type { TokenEvent } from '../core/generate';
import type { LoadOptions } from '../core/model';
import { LensError, type LensErrorCode } from '../core/errors';

export interface CallOptions {
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
  /** Streamed tokens: TokenEvent from generate, PoeToken from poe. */
  onEvent?: (e: TokenEvent | PoeToken) => void;
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  opts: CallOptions;
  method: MethodName;
}

export interface ClientOptions {
  /** Path of the bundled worker (dist/worker.cjs); default next to this bundle or under dist/. */
  workerPath?: string;
  /** Called when the worker dies unexpectedly (it is restarted on the next call). */
  onCrash?: (message: string) => void;
}

export class WorkerError extends LensError {
  constructor(code: LensErrorCode, message: string, readonly internal = false) {
    super(code, message);
  }
}

function defaultWorkerPath(): string {
  const candidates = [
    typeof __dirname !== 'undefined' ? join(__dirname, 'worker.cjs') : '',
    join(process.cwd(), 'dist', 'worker.cjs'),
  ].filter(Boolean);
  for (const c of candidates) if (existsSync(c)) return c;
  throw new LensError('worker', `The worker bundle was not found (looked in ${candidates.join(', ')}); run npm run build.`);
}

export class WorkerClient {
  private worker: Worker | null = null;
  private nextId = 1;
  private pending = new Map<number, Pending>();
  /** handle given to callers → what to reload after a restart, and the live worker-side handle. */
  private loads = new Map<string, { dir: string; options?: LoadOptions; live: string | null }>();
  private generation = 0;
  crashes = 0;

  constructor(private readonly opts: ClientOptions = {}) {}

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(this.opts.workerPath ?? defaultWorkerPath());
    const gen = ++this.generation;
    w.on('message', (m: WorkerToHost) => this.onMessage(m));
    const died = (why: string) => {
      if (this.worker !== w || gen !== this.generation) return;
      this.worker = null;
      this.crashes++;
      for (const l of this.loads.values()) l.live = null;
      const err = new WorkerError('worker', `The inference worker stopped (${why}); it will restart on the next request.`);
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
      this.opts.onCrash?.(why);
    };
    w.on('error', (e) => died(e.message));
    w.on('exit', (code) => died(`exit code ${code}`));
    w.unref();
    this.worker = w;
    return w;
  }

  private onMessage(m: WorkerToHost): void {
    const p = this.pending.get(m.id);
    if (!p) return;
    switch (m.type) {
      case 'progress':
        p.opts.onProgress?.(m.done, m.total);
        break;
      case 'event':
        p.opts.onEvent?.(m.event);
        break;
      case 'result':
        this.pending.delete(m.id);
        p.resolve(m.result);
        break;
      case 'error':
        this.pending.delete(m.id);
        p.reject(new WorkerError(m.code === 'internal' ? 'worker' : m.code, m.message, m.code === 'internal'));
        break;
    }
  }

  /** A raw typed call (params name worker-side handles). */
  call<K extends MethodName>(method: K, params: WorkerMethods[K]['params'], opts: CallOptions = {}): Promise<WorkerMethods[K]['result']> {
    if (opts.signal?.aborted) return Promise.reject(new LensError('aborted', 'Cancelled.'));
    const w = this.ensureWorker();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, opts, method });
      if (this.pending.size === 1) w.ref();
      const onAbort = () => w.postMessage({ type: 'cancel', id } satisfies HostToWorker);
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      const done = () => {
        opts.signal?.removeEventListener('abort', onAbort);
        if (this.pending.size === 0) this.worker?.unref();
      };
      const msg = { type: 'request', id, method, params } as HostToWorker;
      w.postMessage(msg);
      // Keep the process alive while a call is pending; release afterwards.
      this.pending.get(id)!.resolve = (v) => {
        done();
        resolve(v as WorkerMethods[K]['result']);
      };
      this.pending.get(id)!.reject = (e) => {
        done();
        reject(e);
      };
    });
  }

  /** Loads a model; the returned handle survives worker restarts. */
  async load(dir: string, options?: LoadOptions, opts?: CallOptions): Promise<ModelInfo> {
    const info = await this.call('load', { dir, options }, opts);
    this.loads.set(info.handle, { dir, options, live: info.handle });
    return info;
  }

  private async live(handle: string): Promise<string> {
    const l = this.loads.get(handle);
    if (!l) throw new LensError('bad-argument', `Unknown model handle ${handle}`);
    if (l.live) return l.live;
    const info = await this.call('load', { dir: l.dir, options: l.options });
    l.live = info.handle;
    return info.handle;
  }

  async score(params: WorkerMethods['score']['params'], opts?: CallOptions) {
    return this.call('score', { ...params, model: await this.live(params.model) }, opts);
  }

  async scoreContinuations(params: WorkerMethods['scoreContinuations']['params'], opts?: CallOptions) {
    return this.call('scoreContinuations', { ...params, model: await this.live(params.model) }, opts);
  }

  async generate(params: WorkerMethods['generate']['params'], opts?: CallOptions) {
    return this.call('generate', { ...params, model: await this.live(params.model) }, opts);
  }

  async poe(params: WorkerMethods['poe']['params'], opts?: CallOptions) {
    return this.call('poe', { ...params, model: await this.live(params.model) }, opts);
  }

  async compare(params: WorkerMethods['compare']['params'], opts?: CallOptions) {
    return this.call('compare', { ...params, model: await this.live(params.model) }, opts);
  }

  async unload(handle: string): Promise<void> {
    const l = this.loads.get(handle);
    this.loads.delete(handle);
    if (l?.live && this.worker) await this.call('unload', { model: l.live });
  }

  async terminate(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    this.generation++;
    for (const p of this.pending.values()) p.reject(new LensError('aborted', 'The worker was shut down.'));
    this.pending.clear();
    if (w) await w.terminate();
  }
}
