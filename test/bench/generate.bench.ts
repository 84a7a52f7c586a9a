// npm run bench:generate — per-token generation time, side by side in one run on the same model:
// single expert, PoE with 2 and 4 experts (batched), the seed's loop (full recompute of every
// expert's sequence each step, experts one after another), transformers.js generate, and
// speculative decoding against the target alone.
//
// Usage: npm run bench:generate [-- --model DIR] [--tokens N] [--draft DIR --target DIR]
import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CausalLM } from '../../src/core/model';
import { generateAll } from '../../src/core/generate';
import { generatePoeAll } from '../../src/core/decoding/poe-generate';
import { expertPromptIds } from '../../src/core/decoding/experts';
import { speculativeAll } from '../../src/core/decoding/speculative';
import { repoRoot, storiesModelDir, hasShared, sharedDir, tempDir } from '../helpers/shared';
import { makeTinyLlama } from '../helpers/fixtures';

const { values: args } = parseArgs({
  options: { model: { type: 'string' }, tokens: { type: 'string' }, draft: { type: 'string' }, target: { type: 'string' }, reps: { type: 'string' } },
});
const N_ASKED = Number(args.tokens ?? 256);
const THREADS = 2;
// Default: the embedded default model (models/english-base) when present, else stories260K.
const embeddedDefault = join(repoRoot, 'models/english-base');
const modelDir = args.model ? resolve(args.model) : (existsSync(join(embeddedDefault, 'config.json')) ? embeddedDefault : hasShared ? storiesModelDir() : '');
if (!modelDir) throw new Error('give --model DIR (no ../shared to export stories260K from)');
const contexts = ['Lily had a cat.', 'Tom went to the park.', 'The sun was hot.', 'Mia liked red apples.'];

const time = async (f: () => Promise<number>) => {
  const t0 = performance.now();
  const n = await f();
  return (performance.now() - t0) / n; // ms per generated token
};

/** The seed's loop: recompute every expert's whole sequence each step; sum tempered logits; argmax. */
async function seedLoop(lm: CausalLM, ctxs: string[], n: number): Promise<number> {
  // (n is capped by the caller so that every sequence fits the context)
  const seqs = ctxs.map((c) => expertPromptIds(lm, c, '', ' '));
  for (let step = 0; step < n; step++) {
    let sum: Float64Array | null = null;
    for (const s of seqs) {
      const r = await lm.forward([s]);
      const row = r.logits.subarray((s.length - 1) * r.vocab, s.length * r.vocab);
      sum ??= new Float64Array(r.vocab);
      for (let v = 0; v < r.vocab; v++) sum[v] += row[v];
    }
    let best = 0;
    for (let v = 1; v < sum!.length; v++) if (sum![v] > sum![best]) best = v;
    for (const s of seqs) s.push(best);
  }
  return n;
}

async function transformersGenerate(dir: string, prompt: string, n: number): Promise<number> {
  const tf = await import('@huggingface/transformers');
  tf.env.allowRemoteModels = false;
  tf.env.localModelPath = '/';
  const model = await tf.AutoModelForCausalLM.from_pretrained(dir, {
    local_files_only: true, device: 'cpu', dtype: 'fp32',
    session_options: { intraOpNumThreads: THREADS, interOpNumThreads: 1, extra: { session: { intra_op: { allow_spinning: '0' } } } },
  } as never);
  const tok = await tf.AutoTokenizer.from_pretrained(dir, { local_files_only: true } as never);
  const inputs = tok(prompt);
  const gen = (m: number) => (model as unknown as { generate(o: unknown): Promise<unknown> }).generate({ ...inputs, max_new_tokens: m, min_new_tokens: m, do_sample: false });
  await gen(4); // warm up
  const t0 = performance.now();
  await gen(n);
  const ms = (performance.now() - t0) / n;
  await (model as unknown as { dispose(): Promise<void> }).dispose();
  return ms;
}

async function benchModel(name: string, dir: string, reps: number) {
  const lm = await CausalLM.load(dir, { threads: THREADS });
  const N = Math.min(N_ASKED, lm.maxPositions - 16); // room for the longest prompt
  const prompt = contexts[0];
  await generateAll(lm, prompt, { maxTokens: 8 }); // warm up
  const best = async (f: () => Promise<number>) => {
    let b = Infinity;
    for (let r = 0; r < reps; r++) b = Math.min(b, await time(f));
    return b;
  };
  // Interleave the runs so that a busy machine slows all of them alike; keep the best of `reps`.
  const single = await best(async () => (await generateAll(lm, prompt, { maxTokens: N, stopAtEos: false })).ids.length);
  const poe2 = await best(async () => (await generatePoeAll(contexts.slice(0, 2).map((context) => ({ model: lm, context })), { maxTokens: N, stopAtEos: false, sampling: { temperature: 0 } })).ids.length);
  const poe4 = await best(async () => (await generatePoeAll(contexts.map((context) => ({ model: lm, context })), { maxTokens: N, stopAtEos: false, sampling: { temperature: 0 } })).ids.length);
  const seed2 = await time(() => seedLoop(lm, contexts.slice(0, 2), N));
  let tfms = Infinity;
  for (let r = 0; r < reps; r++) tfms = Math.min(tfms, await transformersGenerate(dir, prompt, N));
  console.log(`## ${name}: ${N} new tokens, ${THREADS} intra-op threads, ms per token (best of ${reps})`);
  console.log(`single expert            ${single.toFixed(3)}`);
  console.log(`PoE, 2 experts (batched) ${poe2.toFixed(3)}   ${(poe2 / single).toFixed(2)}× single (goal ≤ 1.15)`);
  console.log(`PoE, 4 experts (batched) ${poe4.toFixed(3)}   ${(poe4 / single).toFixed(2)}× single (goal ≤ 1.5)`);
  console.log(`seed's loop, 2 experts   ${seed2.toFixed(3)}   ours PoE-2 is ${(seed2 / poe2).toFixed(1)}× faster (goal ≥ 20)`);
  console.log(`transformers.js generate ${tfms.toFixed(3)}   ours single is ${(tfms / single).toFixed(2)}× faster (goal ≥ 1.3)\n`);
  await lm.dispose();
}

const reps = Number(args.reps ?? 3);
await benchModel(`model ${modelDir}`, modelDir, reps);
if (!args.model && hasShared && modelDir !== storiesModelDir()) await benchModel('stories260K', storiesModelDir(), reps);
if (!args.model && hasShared && existsSync(join(sharedDir, 'tokenizers/llama2/tokenizer.json'))) {
  const dir = join(tempDir('lens-bench-'), 'llama-32k');
  makeTinyLlama(dir, { seed: 1, vocabSize: 32000, dim: 256, hiddenDim: 688, numLayers: 4, numHeads: 8, numKvHeads: 4, maxSeqLen: 1024, tokenizerDir: join(sharedDir, 'tokenizers/llama2') });
  await benchModel('random Llama (V=32000, dim 256, 4 layers, 11M params)', dir, 2);
}

// Speculative: the zoo's draft/target pair when present, else what was given.
const zoo = (n: string) => join(repoRoot, 'models', n);
// The zoo's pair: english-draft proposes, english-base (the embedded default) verifies.
const draftDir = args.draft ?? (existsSync(zoo('english-draft')) ? zoo('english-draft') : null);
const targetDir = args.target ?? (existsSync(zoo('english-base')) ? zoo('english-base') : null);
if (draftDir && targetDir) {
  const d = await CausalLM.load(draftDir, { threads: THREADS });
  const t = await CausalLM.load(targetDir, { threads: THREADS });
  const N = Math.min(N_ASKED, t.maxPositions - 16, d.maxPositions - 16);
  const sp = 'Once upon a time';
  await speculativeAll(d, t, sp, { maxTokens: 8 });
  const alone = await time(async () => (await generateAll(t, sp, { maxTokens: N, stopAtEos: false })).ids.length);
  for (const k of [2, 4, 6]) {
    let stats = null as null | Awaited<ReturnType<typeof speculativeAll>>['stats'];
    const ms = await time(async () => {
      const r = await speculativeAll(d, t, sp, { k, maxTokens: N, stopAtEos: false });
      stats = r.stats;
      return r.ids.length;
    });
    console.log(`speculative k=${k}: ${ms.toFixed(3)} ms/token vs target alone ${alone.toFixed(3)} → ${(alone / ms).toFixed(2)}× (goal ≥ 1.8); acceptance ${(stats!.acceptanceRate * 100).toFixed(1)}%, ${stats!.tokensPerTargetForward.toFixed(2)} tokens/target forward`);
  }
  await d.dispose();
  await t.dispose();
} else {
  console.log('speculative: no draft/target pair (models/english-draft + models/english-base, or --draft/--target); skipped');
}
