// The inference worker: owns the ONNX Runtime sessions and runs every forward off the host's
// event loop. Speaks the protocol in src/protocol/worker.ts.
import { parentPort } from 'node:worker_threads';
import { CausalLM } from '../core/model';
import { scoreText, scoreContinuations } from '../core/scoring';
import { generate } from '../core/generate';
import { buildSamplerChain } from '../core/sampling/factory';
import { generatePoe } from '../core/decoding/poe-generate';
import { compareContinuations } from '../core/decoding/compare';
import { isLensError, LensError } from '../core/errors';
import type { HostToWorker, WorkerMethods, WorkerToHost, MethodName, ModelInfo } from '../protocol/worker';
import { isHostToWorker } from '../protocol/worker';

const port = parentPort;
if (!port) throw new Error('worker.ts must run in a worker thread');

const models = new Map<string, CausalLM>();
const running = new Map<number, AbortController>();
let nextHandle = 1;

function post(m: WorkerToHost): void {
  port!.postMessage(m);
}

function model(handle: string): CausalLM {
  const lm = models.get(handle);
  if (!lm) throw new LensError('bad-argument', `No model loaded under handle ${handle}`);
  return lm;
}

type Handler<K extends MethodName> = (
  params: WorkerMethods[K]['params'],
  ctx: { id: number; signal: AbortSignal },
) => Promise<WorkerMethods[K]['result']>;

const handlers: { [K in MethodName]: Handler<K> } = {
  async load({ dir, options }) {
    const lm = await CausalLM.load(dir, options);
    const handle = `m${nextHandle++}`;
    models.set(handle, lm);
    // Build the decoding graph (ragged cache) now, in the background, so that the first generation
    // does not wait for it (~70–100 ms for english-base); a model without one resolves to false.
    void lm.hasRaggedCache().catch(() => undefined);
    const info: ModelInfo = {
      handle,
      dir: lm.dir,
      provider: lm.provider,
      providerNote: lm.providerNote,
      vocab: lm.vocab,
      context: lm.maxPositions,
      describe: lm.describe(),
    };
    return info;
  },
  async unload({ model: h }) {
    const lm = models.get(h);
    if (!lm) return { unloaded: false };
    models.delete(h);
    await lm.dispose();
    return { unloaded: true };
  },
  async score(p, { id, signal }) {
    const { model: h, text, ...opts } = p;
    return scoreText(model(h), text, { ...opts, signal, onProgress: (done, total) => post({ type: 'progress', id, done, total }) });
  },
  async scoreContinuations(p, { signal }) {
    return scoreContinuations(model(p.model), p.context, p.candidates, { separator: p.separator, topK: p.topK, signal });
  },
  async generate(p, { id, signal }) {
    const lm = model(p.model);
    const s = p.sampling ?? {};
    const sampler = buildSamplerChain({ temperature: s.temperature ?? 0, topK: s.topK, topP: s.topP, minP: s.minP, repetitionPenalty: s.repetitionPenalty, seed: s.seed ?? 0 });
    const it = generate(lm, p.prompt, { maxTokens: p.maxTokens, stop: p.stop, sampler, signal });
    for (;;) {
      const n = await it.next();
      if (n.done) return n.value;
      post({ type: 'event', id, event: n.value });
    }
  },
  async poe(p, { id, signal }) {
    const lm = model(p.model);
    const s = p.sampling ?? {};
    const experts = p.contexts.map((context, i) => ({ model: lm, context, weight: p.weights?.[i] }));
    const it = generatePoe(experts, {
      preset: p.preset,
      combine: p.combine,
      alpha: p.alpha,
      prompt: p.prompt,
      separator: p.separator,
      maxTokens: p.maxTokens,
      stop: p.stop,
      sampling: { temperature: s.temperature ?? 0, topK: s.topK, topP: s.topP, minP: s.minP, repetitionPenalty: s.repetitionPenalty, seed: s.seed ?? 0 },
      signal,
    });
    for (;;) {
      const n = await it.next();
      if (n.done) {
        const r = n.value;
        return { text: r.text, tokens: r.tokens.map((t) => ({ id: t.id, text: t.text, logprob: t.logprob, expert_logprobs: t.expert_logprobs })), nll_under: r.nll_under, experts: r.experts, stopReason: r.stopReason };
      }
      post({ type: 'event', id, event: { id: n.value.id, text: n.value.text, logprob: n.value.logprob, expert_logprobs: n.value.expert_logprobs } });
    }
  },
  async compare(p, { id, signal }) {
    const s = p.sampling ?? {};
    const total = 4 * (p.samples ?? 4);
    let done = 0;
    const r = await compareContinuations(model(p.model), p.contexts[0], p.contexts[1], {
      prompt: p.prompt,
      separator: p.separator,
      samples: p.samples,
      maxTokens: p.maxTokens,
      sampling: { temperature: s.temperature ?? 0.7, topK: s.topK, topP: s.topP, minP: s.minP, repetitionPenalty: s.repetitionPenalty, seed: s.seed ?? 0 },
      signal,
      onSample: () => post({ type: 'progress', id, done: ++done, total }),
    });
    return { methods: r.methods.map((m) => ({ name: m.name, samples: m.samples.map((x) => ({ text: x.text, nll_under: x.nll_under })) })) };
  },
  async ping() {
    return { pong: true as const, models: [...models.keys()] };
  },
  async crash() {
    // Throw outside any promise chain so the thread dies as a real crash would.
    setImmediate(() => {
      throw new Error('crash requested by the host (test hook)');
    });
    return new Promise<never>(() => undefined);
  },
};

port.on('message', (m: unknown) => {
  if (!isHostToWorker(m)) {
    const id = typeof (m as { id?: unknown })?.id === 'number' ? (m as { id: number }).id : -1;
    post({ type: 'error', id, code: 'bad-argument', message: 'Malformed message to the worker.' });
    return;
  }
  const msg = m as HostToWorker;
  if (msg.type === 'cancel') {
    running.get(msg.id)?.abort();
    return;
  }
  const handler = handlers[msg.method] as Handler<MethodName> | undefined;
  if (!handler) {
    post({ type: 'error', id: msg.id, code: 'bad-argument', message: `Unknown method ${String(msg.method)}` });
    return;
  }
  const ac = new AbortController();
  running.set(msg.id, ac);
  handler(msg.params as never, { id: msg.id, signal: ac.signal })
    .then((result) => post({ type: 'result', id: msg.id, result }))
    .catch((e: unknown) => {
      if (isLensError(e)) post({ type: 'error', id: msg.id, code: e.code, message: e.message });
      else post({ type: 'error', id: msg.id, code: 'internal', message: String((e as Error)?.stack ?? e) });
    })
    .finally(() => running.delete(msg.id));
});
