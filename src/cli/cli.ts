// The `lens` command line.
import { parseArgs } from 'node:util';
import { readFileSync, existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { CausalLM, type Provider } from '../core/model';
import { scoreText, scoreContinuations, type ScoreResult } from '../core/scoring';
import { generate } from '../core/generate';
import { generatePoe, type PoePreset } from '../core/decoding/poe-generate';
import type { Expert } from '../core/decoding/experts';
import { compareContinuations } from '../core/decoding/compare';
import { speculativeGenerate } from '../core/decoding/speculative';
import { exportLlama2c } from '../core/export/llama2c';
import { HEAD_COMBINE_MODES, type HeadCombine } from '../core/export/decoder';
import { buildSamplerChain } from '../core/sampling/factory';
import { isLensError, LensError } from '../core/errors';
import { resolveModelSpec, type ResolvedModel } from '../core/hub';
import { progressPrinter } from './progress';
import { experimentCommand } from '../experiments';

const USAGE = `lens — per-token likelihoods under a local language model

Usage:
  lens score    --model M (--text T | --file F | stdin) [--context C] [--separator S] [--top-k K] [--no-bos] [--json]
  lens generate --model M --prompt P [--max-tokens N] [--temperature T] [--top-k K] [--top-p P] [--min-p P]
                [--repetition-penalty R] [--seed S] [--stop STR ...] [--json]
  lens poe      --model DIR --context A --context B [--weight W ...] [--expert-model DIR ...] [--prompt P]
                [--expert-temperature T ...] [--expert-layer K ...]   (one per --context; layer 0 = final)
                [--preset poe|concat|cfg|dexperts|contrastive|dola] [--combine logprobs|logits] [--alpha A]
                [--max-tokens N] [--temperature T] [--top-k K] [--top-p P] [--seed S] [--json]
  lens compare  --model DIR --context A --context B [--samples N] [--max-tokens N] [--temperature T] [--seed S] [--json]
  lens speculative --draft DIR --target DIR --prompt P [--k 4] [--max-tokens N] [--temperature T] [--seed S] [--json]
  lens rank     --model M --context Q --candidate A1 --candidate A2 ... [--json]
  lens info     --model M
  lens export llama2c --weights FILE.bin --tokenizer DIR --out DIR [--early-exit 2,4] [--weights-dtype fp32|fp16]
                     [--head-combine standard|product-all|product-group] [--primitive-ops]
  lens experiment NAME --out DIR [--model M] [--seed S] [--quick]   (lens experiment --list; see reports/README.md)

--model: a model folder, an embedded model name (default: the embedded english-base), or a Hugging Face Hub id org/name[@revision]
  (downloaded into the huggingface_hub cache; HF_ENDPOINT, HF_TOKEN, HF_HOME, HF_HUB_OFFLINE apply).
Common options: --threads N (default 2), --device cpu|cuda|webgpu (falls back to cpu),
  --onnx-file F (which ONNX file of the model: a path such as onnx/model_fp16.onnx, or fp32|fp16|q8|q4|q4f16|…).
Log-probs are natural-log nats; bits only where named.`;

const common = {
  model: { type: 'string' },
  'onnx-file': { type: 'string' },
  threads: { type: 'string' },
  device: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

function fail(msg: string): never {
  throw new LensError('bad-argument', msg);
}

function int(v: string | undefined, name: string, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) fail(`--${name} must be a non-negative integer, got ${JSON.stringify(v)}`);
  return n;
}

function float(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) fail(`--${name} must be a number, got ${JSON.stringify(v)}`);
  return n;
}

/** The embedded model used when --model is absent (models/<name> at the package root; see models/README.md). */
export const DEFAULT_MODEL = 'english-base';

/**
 * --model → a model folder: a path, an embedded model name (models/<name> at the package root), or
 * a Hub id org/name[@revision], downloaded with a progress bar on stderr. Absent: the embedded default.
 */
export async function resolveModel(m: string | undefined, onnxFile?: string): Promise<ResolvedModel> {
  m ||= DEFAULT_MODEL;
  const progress = progressPrinter(process.stderr);
  try {
    const r = await resolveModelSpec(m, { onnxFile, onProgress: progress });
    for (const n of r.hub?.notes ?? []) process.stderr.write(`note: ${n}\n`);
    return r;
  } finally {
    progress.end();
  }
}

async function loadModel(v: { model?: string; 'onnx-file'?: string; threads?: string; device?: string }): Promise<CausalLM> {
  const device = (v.device ?? 'cpu') as Provider;
  if (!['cpu', 'cuda', 'webgpu'].includes(device)) fail(`--device must be cpu, cuda or webgpu, got ${device}`);
  const model = await resolveModel(v.model, v['onnx-file']);
  const lm = await CausalLM.load(model.dir, { threads: int(v.threads, 'threads', 2) || 2, provider: device, onnxFile: model.onnxFile });
  if (lm.providerNote) process.stderr.write(`note: ${lm.providerNote}\n`);
  return lm;
}

/** Makes whitespace and control characters visible in a one-line table cell. */
export function visible(s: string): string {
  return s
    .replace(/\r/g, '\\r')
    .replace(/\n/g, '\\n')
    .replace(/\t/g, '\\t')
    .replace(/ /g, '·')
    .replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

function fmt(x: number | null, d = 3): string {
  return x === null ? '—' : x.toFixed(d);
}

function printScore(r: ScoreResult): void {
  const rows = r.tokens.map((t, i) => [
    String(i),
    visible(t.text),
    fmt(t.logprob),
    t.logprob === null ? '—' : Math.exp(t.logprob).toFixed(4),
    t.rank === null ? '—' : String(t.rank),
    fmt(t.entropy),
    t.top
      .slice(0, 3)
      .map((a) => `${visible(a.text)} ${Math.exp(a.logprob).toFixed(3)}`)
      .join('  '),
  ]);
  const head = ['#', 'token', 'logprob', 'p', 'rank', 'entropy', 'top alternatives (p)'];
  const w = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : pad(c, w[i]))).join('  ');
  console.log(line(head));
  for (const row of rows) console.log(line(row));
  console.log();
  if (r.context) {
    console.log(`conditional on ${JSON.stringify(r.context.text)} (separator ${JSON.stringify(r.context.separator)})`);
    if (!r.context.boundary.aligned) console.log(`note: ${r.context.boundary.note}`);
  }
  console.log(
    `NLL ${r.nll.toFixed(4)} nats over ${r.n_tokens} tokens · mean ${r.mean_nll.toFixed(4)} · perplexity ${r.perplexity.toFixed(3)} · ${r.bits_per_char.toFixed(4)} bits/char`,
  );
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function cmdScore(args: string[]): Promise<void> {
  const { values: v } = parseArgs({
    args,
    options: {
      ...common,
      text: { type: 'string' },
      file: { type: 'string' },
      context: { type: 'string' },
      separator: { type: 'string' },
      'top-k': { type: 'string' },
      'no-bos': { type: 'boolean' },
    },
    strict: true,
  });
  if (v.text !== undefined && v.file !== undefined) fail('give --text or --file, not both');
  let text: string;
  if (v.text !== undefined) text = v.text;
  else if (v.file !== undefined) {
    if (!existsSync(v.file)) throw new LensError('missing-file', `File not found: ${v.file}`);
    text = readFileSync(v.file, 'utf8');
  } else if (!process.stdin.isTTY) text = await readStdin();
  else fail('nothing to score: give --text, --file or pipe text on stdin');
  const lm = await loadModel(v);
  try {
    const r = await scoreText(lm, text, {
      context: v.context,
      separator: v.separator,
      topK: int(v['top-k'], 'top-k', 5),
      bos: v['no-bos'] ? false : undefined,
    });
    if (v.json) {
      const { model: _m, windows: _w, mean_nll: _mn, bits_per_char: _b, ...rest } = r;
      console.log(JSON.stringify({ model: lm.dir, ...rest, mean_nll: r.mean_nll, bits_per_char: r.bits_per_char }));
    } else printScore(r);
  } finally {
    await lm.dispose();
  }
}

async function cmdGenerate(args: string[]): Promise<void> {
  const { values: v } = parseArgs({
    args,
    options: {
      ...common,
      ...samplingOptions,
      prompt: { type: 'string' },
      stop: { type: 'string', multiple: true },
    },
    strict: true,
  });
  const lm = await loadModel(v);
  try {
    const sampler = buildSamplerChain(sampling(v, 0));
    const it = generate(lm, v.prompt ?? '', { maxTokens: int(v['max-tokens'], 'max-tokens', 64), sampler, stop: v.stop });
    for (;;) {
      const n = await it.next();
      if (n.done) {
        const r = n.value;
        if (v.json) {
          console.log(JSON.stringify({ text: r.text, tokens: r.tokens.map((t) => ({ id: t.id, text: t.text, logprob: t.logprob })), stop_reason: r.stopReason }));
        } else process.stdout.write('\n');
        break;
      }
      if (!v.json) process.stdout.write(n.value.text);
    }
  } finally {
    await lm.dispose();
  }
}

async function cmdRank(args: string[]): Promise<void> {
  const { values: v } = parseArgs({
    args,
    options: { ...common, context: { type: 'string' }, candidate: { type: 'string', multiple: true }, separator: { type: 'string' } },
    strict: true,
  });
  if (v.context === undefined) fail('--context is required (the question)');
  if (!v.candidate?.length) fail('give at least one --candidate');
  const lm = await loadModel(v);
  try {
    const r = await scoreContinuations(lm, v.context, v.candidate, { separator: v.separator, topK: 0 });
    const rows = r.results.map((s, i) => ({ candidate: v.candidate![i], nll: s.nll, n_tokens: s.n_tokens, mean_nll: s.mean_nll }));
    const bySum = [...rows].sort((a, b) => a.nll - b.nll);
    if (v.json) {
      console.log(JSON.stringify({ context: v.context, ranked: bySum, by_mean: [...rows].sort((a, b) => a.mean_nll - b.mean_nll).map((x) => x.candidate) }));
      return;
    }
    console.log(`candidates for ${JSON.stringify(v.context)}, by conditional NLL (nats):`);
    bySum.forEach((x, i) => console.log(`${i + 1}. ${x.nll.toFixed(3)} (${x.mean_nll.toFixed(3)}/token, ${x.n_tokens} tokens)  ${x.candidate}`));
  } finally {
    await lm.dispose();
  }
}

const samplingOptions = {
  'max-tokens': { type: 'string' },
  temperature: { type: 'string' },
  'top-k': { type: 'string' },
  'top-p': { type: 'string' },
  'min-p': { type: 'string' },
  'repetition-penalty': { type: 'string' },
  seed: { type: 'string' },
} as const;

function sampling(v: Record<string, string | boolean | (string | boolean)[] | undefined>, defaultT: number) {
  const s = (k: string) => v[k] as string | undefined;
  return {
    temperature: float(s('temperature'), 'temperature') ?? defaultT,
    topK: s('top-k') === undefined ? undefined : int(s('top-k'), 'top-k', 0),
    topP: float(s('top-p'), 'top-p'),
    minP: float(s('min-p'), 'min-p'),
    repetitionPenalty: float(s('repetition-penalty'), 'repetition-penalty'),
    seed: int(s('seed'), 'seed', 0),
  };
}

async function cmdPoe(args: string[]): Promise<void> {
  const { values: v } = parseArgs({
    args,
    options: {
      ...common,
      ...samplingOptions,
      context: { type: 'string', multiple: true },
      weight: { type: 'string', multiple: true },
      'expert-model': { type: 'string', multiple: true },
      'expert-temperature': { type: 'string', multiple: true },
      'expert-layer': { type: 'string', multiple: true },
      prompt: { type: 'string' },
      separator: { type: 'string' },
      preset: { type: 'string' },
      combine: { type: 'string' },
      alpha: { type: 'string' },
      lambda: { type: 'string' },
      stop: { type: 'string', multiple: true },
    },
    strict: true,
  });
  const contexts = v.context ?? [];
  if (contexts.length === 0) fail('give one --context per expert (e.g. --context "I am a cat." --context "I am a dog.")');
  const preset = (v.preset ?? 'poe') as PoePreset;
  if (!['poe', 'concat', 'cfg', 'dexperts', 'contrastive', 'dola'].includes(preset)) fail(`--preset must be poe, concat, cfg, dexperts, contrastive or dola; got ${preset}`);
  const combine = v.combine as 'logprobs' | 'logits' | undefined;
  if (combine !== undefined && combine !== 'logprobs' && combine !== 'logits') fail('--combine must be logprobs or logits');
  const weights = (v.weight ?? []).map((w) => float(w, 'weight')!);
  if (weights.length && weights.length !== contexts.length) fail(`${weights.length} --weight values for ${contexts.length} contexts`);
  const expertModels = v['expert-model'] ?? [];
  if (expertModels.length && expertModels.length !== contexts.length) fail(`give one --expert-model per --context (${expertModels.length} for ${contexts.length}), or none to use --model for all`);
  const perExpert = (name: string, vals: string[] | undefined, parse: (x: string) => number) => {
    const xs = (vals ?? []).map(parse);
    if (xs.length && xs.length !== contexts.length) fail(`give one --${name} per --context (${xs.length} for ${contexts.length}), or none`);
    return xs;
  };
  const temps = perExpert('expert-temperature', v['expert-temperature'], (x) => float(x, 'expert-temperature')!);
  const layers = perExpert('expert-layer', v['expert-layer'], (x) => int(x, 'expert-layer', 0));
  const models = new Map<string, CausalLM>();
  try {
    const get = async (spec: string | undefined) => {
      const key = spec ?? '';
      if (!models.has(key)) models.set(key, await loadModel({ ...v, model: spec ?? v.model }));
      return models.get(key)!;
    };
    const experts: Expert[] = [];
    for (const [i, context] of contexts.entries()) {
      experts.push({ model: await get(expertModels[i]), context, weight: weights[i], temperature: temps[i], layer: layers[i] || undefined });
    }
    const it = generatePoe(experts, {
      preset,
      combine,
      alpha: float(v.alpha, 'alpha'),
      lambda: float(v.lambda, 'lambda'),
      prompt: v.prompt ?? '',
      separator: v.separator,
      maxTokens: int(v['max-tokens'], 'max-tokens', 32),
      stop: v.stop,
      sampling: sampling(v, 0),
    });
    for (;;) {
      const n = await it.next();
      if (n.done) {
        const r = n.value;
        if (v.json) {
          console.log(JSON.stringify({ text: r.text, tokens: r.tokens.map((t) => ({ id: t.id, text: t.text, logprob: t.logprob, expert_logprobs: t.expert_logprobs })), nll_under: r.nll_under, experts: r.experts, stop_reason: r.stopReason }));
        } else {
          process.stdout.write('\n\n');
          r.experts.forEach((e, i) => console.log(`NLL under ${e}: ${r.nll_under[i].toFixed(3)} nats (${(r.nll_under[i] / Math.max(1, r.ids.length)).toFixed(3)}/token)`));
        }
        break;
      }
      if (!v.json) process.stdout.write(n.value.text);
    }
  } finally {
    for (const m of models.values()) await m.dispose();
  }
}

async function cmdCompare(args: string[]): Promise<void> {
  const { values: v } = parseArgs({
    args,
    options: { ...common, ...samplingOptions, context: { type: 'string', multiple: true }, samples: { type: 'string' }, prompt: { type: 'string' }, separator: { type: 'string' } },
    strict: true,
  });
  const ctx = v.context ?? [];
  if (ctx.length !== 2) fail('lens compare takes exactly two --context values (A and B)');
  const lm = await loadModel(v);
  try {
    const r = await compareContinuations(lm, ctx[0], ctx[1], {
      prompt: v.prompt,
      separator: v.separator,
      samples: int(v.samples, 'samples', 4),
      maxTokens: int(v['max-tokens'], 'max-tokens', 10),
      sampling: sampling(v, 0.7),
    });
    if (v.json) {
      console.log(JSON.stringify({ contexts: ctx, methods: r.methods.map((m) => ({ name: m.name, samples: m.samples.map((s) => ({ text: s.text, n_tokens: s.ids.length, nll_under: s.nll_under })) })) }));
      return;
    }
    console.log(`A = ${JSON.stringify(ctx[0])}\nB = ${JSON.stringify(ctx[1])}\n`);
    const rows = r.methods.flatMap((m) => m.samples.map((s) => [m.name, s.nll_under[0].toFixed(3), s.nll_under[1].toFixed(3), visible(s.text)]));
    const head = ['method', 'NLL|A', 'NLL|B', 'sample'];
    const w = head.map((h, c) => Math.max(h.length, ...rows.map((x) => x[c].length)));
    for (const row of [head, ...rows]) console.log(row.map((c, i) => (i === 3 ? c : pad(c, w[i]))).join('  '));
    console.log();
    for (const m of r.methods) {
      const mean = (i: 0 | 1) => m.samples.reduce((a, s) => a + s.nll_under[i], 0) / m.samples.length;
      console.log(`${pad(m.name, 7)} mean NLL under A ${mean(0).toFixed(3)}, under B ${mean(1).toFixed(3)}`);
    }
  } finally {
    await lm.dispose();
  }
}

async function cmdSpeculative(args: string[]): Promise<void> {
  const { values: v } = parseArgs({
    args,
    options: { ...common, ...samplingOptions, draft: { type: 'string' }, target: { type: 'string' }, prompt: { type: 'string' }, k: { type: 'string' }, stop: { type: 'string', multiple: true } },
    strict: true,
  });
  if (!v.draft || !v.target) fail('lens speculative needs --draft DIR and --target DIR');
  const draft = await loadModel({ ...v, model: v.draft });
  const target = await loadModel({ ...v, model: v.target });
  try {
    const t0 = performance.now();
    const it = speculativeGenerate(draft, target, v.prompt ?? '', { k: int(v.k, 'k', 4), maxTokens: int(v['max-tokens'], 'max-tokens', 64), sampling: sampling(v, 0), stop: v.stop });
    for (;;) {
      const n = await it.next();
      if (n.done) {
        const r = n.value;
        const ms = performance.now() - t0;
        if (v.json) console.log(JSON.stringify({ text: r.text, ids: r.ids, stop_reason: r.stopReason, stats: r.stats, ms }));
        else {
          const st = r.stats;
          console.log(`\n\nacceptance ${(st.acceptanceRate * 100).toFixed(1)}% · ${st.tokensPerTargetForward.toFixed(2)} tokens per target forward · ${st.targetForwards} target / ${st.draftForwards} draft forwards · ${ms.toFixed(0)} ms`);
        }
        break;
      }
      if (!v.json) process.stdout.write(n.value.text);
    }
  } finally {
    await draft.dispose();
    await target.dispose();
  }
}

async function cmdInfo(args: string[]): Promise<void> {
  const { values: v } = parseArgs({ args, options: { ...common }, strict: true });
  const lm = await loadModel(v);
  try {
    const d = lm.describe({ parameters: true });
    if (v.json) console.log(JSON.stringify(d));
    else for (const [k, x] of Object.entries(d)) console.log(`${pad(k, 16)} ${typeof x === 'object' ? JSON.stringify(x) : String(x)}`);
  } finally {
    await lm.dispose();
  }
}

async function cmdExport(args: string[]): Promise<void> {
  const [family, ...rest] = args;
  if (family !== 'llama2c') fail(`lens export: unknown format ${JSON.stringify(family ?? '')} (supported: llama2c)`);
  const { values: v } = parseArgs({
    args: rest,
    options: { weights: { type: 'string' }, tokenizer: { type: 'string' }, out: { type: 'string' }, 'early-exit': { type: 'string' }, 'weights-dtype': { type: 'string' }, 'head-combine': { type: 'string' }, 'primitive-ops': { type: 'boolean' } },
    strict: true,
  });
  if (!v.weights || !v.tokenizer || !v.out) fail('lens export llama2c needs --weights FILE.bin --tokenizer DIR --out DIR');
  const earlyExitLayers = v['early-exit']
    ? v['early-exit'].split(',').map((x) => {
        const n = Number(x.trim());
        if (!Number.isInteger(n) || n < 1) fail(`--early-exit takes layer numbers like 2,4; got ${JSON.stringify(x)}`);
        return n;
      })
    : undefined;
  const dt = v['weights-dtype'] ?? 'fp32';
  const weightsDtype = ({ fp32: 'float32', float32: 'float32', fp16: 'float16', float16: 'float16' } as const)[dt as 'fp32'];
  if (!weightsDtype) fail(`--weights-dtype takes fp32 or fp16; got ${JSON.stringify(dt)}`);
  const headCombine = (v['head-combine'] ?? 'standard') as HeadCombine;
  if (!HEAD_COMBINE_MODES.includes(headCombine)) fail(`--head-combine takes ${HEAD_COMBINE_MODES.join(', ')}; got ${JSON.stringify(v['head-combine'])}`);
  await exportLlama2c({ weights: v.weights, tokenizerDir: v.tokenizer, outDir: v.out, earlyExitLayers, weightsDtype, headCombine, fused: !v['primitive-ops'] });
  console.log(`wrote ${resolve(v.out)}`);
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'score':
        await cmdScore(rest);
        return 0;
      case 'generate':
        await cmdGenerate(rest);
        return 0;
      case 'rank':
        await cmdRank(rest);
        return 0;
      case 'poe':
        await cmdPoe(rest);
        return 0;
      case 'compare':
        await cmdCompare(rest);
        return 0;
      case 'speculative':
        await cmdSpeculative(rest);
        return 0;
      case 'info':
        await cmdInfo(rest);
        return 0;
      case 'export':
        await cmdExport(rest);
        return 0;
      case 'experiment':
        return await experimentCommand(rest);
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        console.log(USAGE);
        return cmd === undefined ? 2 : 0;
      default:
        console.error(`lens: unknown command ${JSON.stringify(cmd)}\n\n${USAGE}`);
        return 2;
    }
  } catch (e) {
    if (isLensError(e)) {
      console.error(`lens: ${e.message}`);
      return 1;
    }
    if ((e as { code?: string })?.code?.startsWith?.('ERR_PARSE_ARGS')) {
      console.error(`lens: ${(e as Error).message}\n\n${USAGE}`);
      return 2;
    }
    throw e;
  }
}

