// Generation from a combination of experts (Product of Experts and its relatives): at every step
// each expert's next-token row is computed (one batched forward per model), the rows are combined
// by a preset (src/core/decoding/combine.ts), a sampler chain picks the token, and the same token
// is appended to every expert — as the seed's PoE loop did, but with KV caches and batching.
import type { CausalLM } from '../model';
import { LensError, throwIfAborted } from '../errors';
import { logSumExp } from '../math';
import { combineRows, type PresetName } from './combine';
import { ExpertRunner, expertPromptIds, type Expert } from './experts';
import { buildSamplerChain, type SamplingOptions } from '../sampling/factory';
import { TextStream, type StopReason } from '../generate';
import { PoeHead } from './poe-head';
import { onlySelects } from '../sampling/inspect';
import type { Candidates } from '../sampling/sampler';

let sharedHead: PoeHead | null = null;
/** One PoE head per process (its sessions are small and reused by every generation). */
function poeHead(): PoeHead {
  sharedHead ??= new PoeHead(2);
  return sharedHead;
}

export type PoePreset = PresetName | 'concat';

export interface PoeGenerateOptions {
  /** How the experts combine (default 'poe'). `concat` joins all contexts into one prompt (the baseline). */
  preset?: PoePreset;
  /** For poe: sum normalised log-probs (default) or raw tempered logits (the seed's code). */
  combine?: 'logprobs' | 'logits';
  /** cfg / dexperts strength α; contrastive plausibility α; dola relative-top α. */
  alpha?: number;
  /** contrastive λ. */
  lambda?: number;
  /** Text every expert continues (after its context and the separator); may be empty. */
  prompt?: string;
  /** Between an expert's context and the prompt, and between contexts for `concat` (default one space). */
  separator?: string;
  /** DoLa's premature-layer candidates (default: every early-exit layer of the model). */
  dolaLayers?: number[];
  maxTokens?: number;
  stop?: string[];
  stopAtEos?: boolean;
  sampling?: SamplingOptions;
  signal?: AbortSignal;
}

export interface PoeEvent {
  index: number;
  id: number;
  text: string;
  /** ln p(token) under the combined distribution that sampled it (after processors), nats. */
  logprob: number;
  /** ln p(token) under each expert alone (its context, temperature 1), nats. */
  expert_logprobs: number[];
  /** DoLa: the premature layer chosen at this step. */
  dola_layer?: number;
}

export interface PoeGenerateResult {
  text: string;
  ids: number[];
  tokens: PoeEvent[];
  /** −Σ expert_logprobs[i]: conditional NLL of the generated tokens under each expert, nats. */
  nll_under: number[];
  experts: string[];
  stopReason: StopReason;
  /** Forward calls made (one per model per step). */
  forwards: number;
}

function label(e: Expert, i: number): string {
  if (e.label) return e.label;
  const ctx = e.context.length > 40 ? e.context.slice(0, 37) + '…' : e.context;
  return `${i + 1}: ${JSON.stringify(ctx)}${e.layer !== undefined ? ` @layer ${e.layer}` : ''}`;
}

/** Generates from a combination of experts, yielding one event per token. */
export async function* generatePoe(expertsIn: Expert[], opts: PoeGenerateOptions = {}): AsyncGenerator<PoeEvent, PoeGenerateResult> {
  if (expertsIn.length === 0) throw new LensError('bad-argument', 'At least one expert (context) is needed.');
  const preset = opts.preset ?? 'poe';
  const sep = opts.separator ?? ' ';
  const prompt = opts.prompt ?? '';
  // concat: one expert whose context is all the contexts joined (the baseline the seed compared with).
  const experts: Expert[] =
    preset === 'concat'
      ? [{ model: expertsIn[0].model, context: expertsIn.map((e) => e.context).filter((c) => c.length).join(sep), label: 'concat' }]
      : expertsIn;
  const need: Partial<Record<PoePreset, number>> = { cfg: 2, dexperts: 3, contrastive: 2, dola: 1 };
  if (need[preset] !== undefined && experts.length !== need[preset]) {
    throw new LensError('bad-argument', `The ${preset} preset takes ${need[preset]} expert${need[preset] === 1 ? '' : 's'}, got ${experts.length}.`);
  }
  const T = opts.sampling?.temperature ?? 1;
  if (!(T >= 0)) throw new LensError('bad-argument', `temperature must be ≥ 0, got ${T}`);

  // DoLa reads the final layer and premature candidates of one model.
  const extra = new Map<CausalLM, number[]>();
  let dolaLayers: number[] = [];
  if (preset === 'dola') {
    const lm = experts[0].model;
    dolaLayers = (opts.dolaLayers ?? (await lm.earlyExitLayers())).filter((k) => k !== lm.config.numLayers);
    if (dolaLayers.length === 0) {
      throw new LensError('bad-argument', `DoLa needs early-exit logits: export the model with --early-exit (e.g. --early-exit 2,4); ${lm.dir} has none.`);
    }
    extra.set(lm, dolaLayers);
  }
  const startIds = experts.map((e) => expertPromptIds(e.model, e.context, prompt, sep));
  const runner = new ExpertRunner(experts, startIds, extra);

  // Temperature: poe tempers each expert (Σ_i w_i log_softmax(z_i / T_i)), as the seed summed tempered
  // logits, and then samples at T=1; the other presets combine at T=1 and the sampler applies T.
  const perExpertT = experts.map((e) => e.temperature ?? (T > 0 ? T : 1));
  const sampler = buildSamplerChain({ ...opts.sampling, temperature: T === 0 ? 0 : preset === 'poe' ? 1 : T });
  const selectOnly = onlySelects(sampler);
  const lm0 = experts[0].model;
  const promptIds = prompt.length ? lm0.tokenizer.encode(prompt).map((s) => s.id) : [];
  sampler.reset();
  for (const id of startIds[0]) sampler.accept(id);
  const stream = new TextStream((x) => lm0.tokenizer.decode(x), promptIds);
  const eos = opts.stopAtEos === false ? new Set<number>() : new Set(lm0.eosIds);
  const max = opts.maxTokens ?? 64;
  const ids: number[] = [];
  const events: PoeEvent[] = [];
  const nll = new Array(experts.length).fill(0);
  let stopReason: StopReason = 'max-tokens';

  let out = await runner.start(opts.signal);
  for (let step = 0; step < max; step++) {
    throwIfAborted(opts.signal);
    const rows = out.rows;
    let combined: Float64Array | Float32Array;
    let lse: ArrayLike<number> | null = null;
    let dolaLayer: number | undefined;
    switch (preset) {
      case 'poe':
      case 'concat': {
        // Native kernels for the common case (src/core/decoding/poe-head.ts).
        const h = await poeHead().run(
          out.packed,
          experts.length,
          out.vocab,
          preset === 'poe' ? perExpertT : [1],
          preset === 'poe' ? experts.map((e) => e.weight ?? 1) : [1],
          opts.combine ?? 'logprobs',
        );
        combined = h.combined;
        lse = h.lse;
        break;
      }
      case 'cfg':
        combined = combineRows('cfg', rows, { alpha: opts.alpha }).logProbs;
        break;
      case 'dexperts':
        combined = combineRows('dexperts', rows, { alpha: opts.alpha }).logProbs;
        break;
      case 'contrastive':
        combined = combineRows('contrastive', rows, { alpha: opts.alpha, lambda: opts.lambda }).logProbs;
        break;
      case 'dola': {
        const pre = dolaLayers.map((k) => out.early[0].get(k)!);
        const r = combineRows('dola', [rows[0], ...pre], { alpha: opts.alpha, layers: dolaLayers });
        combined = r.logProbs;
        dolaLayer = r.premature?.layer;
        break;
      }
      default:
        throw new LensError('bad-argument', `Unknown preset ${String(preset)}`);
    }
    const cand: Candidates = { logits: combined instanceof Float32Array ? combined : Float32Array.from(combined), selected: -1 };
    sampler.apply(cand);
    if (cand.selected < 0) throw new LensError('bad-argument', 'The sampler chain selected no token.');
    const id = cand.selected;
    sampler.accept(id);
    // The head's row is normalised already; re-normalise only when a processor edited it.
    const logprob = cand.logits[id] - (lse && selectOnly ? 0 : (cand.lse ?? logSumExp(cand.logits)));
    const expertLp = rows.map((r, i) => r[id] - (lse ? lse[i] : logSumExp(r)));
    if (eos.has(id)) {
      stopReason = 'eos';
      break;
    }
    ids.push(id);
    expertLp.forEach((lp, i) => (nll[i] -= lp));
    const ev: PoeEvent = { index: step, id, text: stream.push(id), logprob, expert_logprobs: expertLp, ...(dolaLayer !== undefined ? { dola_layer: dolaLayer } : {}) };
    events.push(ev);
    yield ev;
    if (opts.stop?.some((s) => s && stream.text.includes(s))) {
      stopReason = 'stop-string';
      break;
    }
    if (step + 1 >= max) break;
    if (!runner.canStep()) {
      stopReason = 'context-full';
      break;
    }
    out = await runner.step(id, opts.signal);
  }
  let text = stream.text;
  if (stopReason === 'stop-string') {
    const cut = Math.min(...opts.stop!.map((s) => (s ? text.indexOf(s) : -1)).filter((i) => i >= 0));
    text = text.slice(0, cut);
  }
  return { text, ids, tokens: events, nll_under: nll, experts: experts.map(label), stopReason, forwards: runner.forwards };
}

/** Runs `generatePoe` to the end. */
export async function generatePoeAll(experts: Expert[], opts: PoeGenerateOptions = {}): Promise<PoeGenerateResult> {
  const it = generatePoe(experts, opts);
  for (;;) {
    const n = await it.next();
    if (n.done) return n.value;
  }
}
