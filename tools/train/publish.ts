// Turns a finished training run into a zoo model: exports .cache/train/runs/NAME/model.bin to
// models/NAME (weights stored as the config's export.weightsDtype), measures it with the TypeScript
// engine (the test slice at fp32 and at the shipped dtype, the whole validation split at the shipped
// dtype, scored exactly as `lens score` scores a file), and writes models/NAME/training.json (the
// stated numbers test/unit/zoo.test.ts checks), MODEL_CARD.md and train.log.
//   node --import tsx tools/train/publish.ts --name NAME [--run DIR] [--out DIR]

import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { exportLlama2c } from '../../src/core/export/llama2c';
import type { WeightsDtype } from '../../src/core/export/fp16';
import type { HeadCombine } from '../../src/core/export/decoder';
import { generateAll } from '../../src/core/generate';
import { CausalLM } from '../../src/core/model';
import { buildSamplerChain } from '../../src/core/sampling/factory';
import { scoreText } from '../../src/core/scoring';
import { type DataConfig, loadSplits, repoRoot, resolveTokenizerDir, sliceOf } from './prepare';

interface TrainConfig {
  data: DataConfig;
  /** The architecture; `head_combine` (standard | product-all | product-group) is exported as `--head-combine`. */
  model: Record<string, number> & { head_combine?: HeadCombine };
  train: Record<string, number | string>;
  export?: { weightsDtype?: WeightsDtype; earlyExitLayers?: number[] };
  card: { title: string; about: string; samplePrompt?: string };
}

interface RunFacts {
  parameters: number;
  steps: number;
  tokens_seen: number;
  wall_seconds: number;
  device: string;
  torch: string;
  train: Record<string, unknown>;
  data: { train_chars: number; val_chars: number; train_tokens: number; val_tokens: number };
  val: { nats_per_token: number; nats_per_char: number; tokens: number; chars: number };
  slice: { doc: string; chars: number; tokens: number; nats_per_token: number; nats_per_char: number };
  history: { step: number; train_loss: number; val_loss: number; elapsed: number }[];
}

const r4 = (x: number) => Math.round(x * 10000) / 10000;

async function scoreDocs(dir: string, texts: string[]): Promise<{ nll: number; tokens: number; chars: number }> {
  const lm = await CausalLM.load(dir, { threads: 2 });
  let nll = 0;
  let tokens = 0;
  let chars = 0;
  for (const t of texts) {
    const r = await scoreText(lm, t, {});
    nll += r.nll;
    tokens += r.n_tokens;
    chars += t.length;
  }
  return { nll, tokens, chars };
}

export async function publish(name: string, runDir: string, outDir: string): Promise<Record<string, unknown>> {
  const configPath = path.join(repoRoot, 'tools/train/configs', `${name}.json`);
  const config = JSON.parse(readFileSync(configPath, 'utf8')) as TrainConfig;
  const run = JSON.parse(readFileSync(path.join(runDir, 'run.json'), 'utf8')) as RunFacts;
  if (!run.val || !run.slice) throw new Error(`${runDir}/run.json has no final evaluation (trained with --no-final-eval?)`);
  const tokenizerDir = resolveTokenizerDir(config.data.tokenizer);
  const dtype = config.export?.weightsDtype ?? 'float32';
  const weights = path.join(runDir, 'model.bin');

  // The shipped folder, and an fp32 twin to measure what the storage dtype costs.
  const headCombine = config.model.head_combine ?? 'standard';
  exportLlama2c({ weights, tokenizerDir, outDir, weightsDtype: dtype, earlyExitLayers: config.export?.earlyExitLayers, headCombine });
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'lens-publish-'));
  try {
    const fp32Dir = path.join(tmp, 'fp32');
    exportLlama2c({ weights, tokenizerDir, outDir: fp32Dir, weightsDtype: 'float32', headCombine });
    const docs = loadSplits(config.data);
    const slice = sliceOf(config.data, docs[0]!.val);
    const s32 = await scoreDocs(fp32Dir, [slice]);
    const sShip = await scoreDocs(outDir, [slice]);
    const t0 = Date.now();
    const full = await scoreDocs(outDir, docs.map((d) => d.val));
    const fullSeconds = (Date.now() - t0) / 1000;
    const onnxBytes = statSync(path.join(outDir, 'onnx/model.onnx')).size;
    const fp32Bytes = statSync(path.join(fp32Dir, 'onnx/model.onnx')).size;

    const lm = await CausalLM.load(outDir, { threads: 2 });
    const prompt = config.card.samplePrompt ?? '';
    const sample = await generateAll(lm, prompt, { maxTokens: 200, sampler: buildSamplerChain({ temperature: 0.8, seed: 1 }), stopAtEos: false });

    const facts = {
      name,
      title: config.card.title,
      parameters: run.parameters,
      architecture: { ...config.model, vocab_size: lm.tokenizer.vocabSize },
      tokenizer: config.data.tokenizer,
      data: { sources: config.data.sources, train_fraction: config.data.trainFraction ?? 0.9, ...run.data },
      training: { steps: run.steps, tokens_seen: run.tokens_seen, wall_seconds: run.wall_seconds, device: run.device, torch: run.torch, train: run.train },
      command: `tools/train/make-model.sh ${name}`,
      weights_dtype: dtype,
      onnx_bytes: onnxBytes,
      // What training measured (PyTorch, float32), scored as `lens score` scores (sliding windows).
      val_training: { nats_per_token: r4(run.val.nats_per_token), nats_per_char: r4(run.val.nats_per_char), tokens: run.val.tokens, chars: run.val.chars },
      // The shipped file, scored by the TypeScript engine over the whole validation split.
      val: { nats_per_token: r4(full.nll / full.tokens), nats_per_char: r4(full.nll / full.chars), tokens: full.tokens, chars: full.chars, seconds: fullSeconds },
      // The fixed slice test/unit/zoo.test.ts re-scores: the first `chars` UTF-16 units of `doc`'s validation text.
      slice: {
        doc: docs[0]!.file,
        chars: slice.length,
        tokens: s32.tokens,
        training_nats_per_char: r4(run.slice.nats_per_char),
        fp32_nats_per_char: r4(s32.nll / s32.chars),
        shipped_nats_per_char: r4(sShip.nll / sShip.chars),
      },
      fp32_bytes: fp32Bytes,
      sample: { prompt, temperature: 0.8, seed: 1, max_tokens: 200, text: sample.text },
    };
    writeFileSync(path.join(outDir, 'training.json'), JSON.stringify(facts, null, 1) + '\n');
    writeFileSync(path.join(outDir, 'MODEL_CARD.md'), card(facts, config, run));
    copyFileSync(path.join(runDir, 'train.log'), path.join(outDir, 'train.log'));
    return facts;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function describeSources(sources: DataConfig['sources']): string {
  return sources
    .map((s) => {
      const cut = s.cut === 'exact' ? "first 90% of the characters train, last 10% validation (nanoGPT's split)" : 'first 90% train, last 10% validation, cut moved to the next line start';
      return `- \`../shared/corpora/${s.files.join('`, `')}\`${s.transform === 'brown' ? ' (tokenized spacing undone: `detokenizeBrown` in tools/train/prepare.ts)' : ''}: per file, ${cut}.`;
    })
    .join('\n');
}

function card(f: Record<string, any>, config: TrainConfig, run: RunFacts): string {
  const m = config.model;
  const t = run.train as Record<string, number | string>;
  const mb = (b: number) => (b / 1e6).toFixed(2);
  const bits = (n: number) => (n / Math.LN2).toFixed(3);
  const last = run.history[run.history.length - 1];
  return `# ${f.name}: ${f.title}

${config.card.about}

| | |
|---|---|
| parameters | ${f.parameters.toLocaleString('en-US')} (Llama architecture: dim ${m.dim}, ${m.n_layers} layers, ${m.n_heads} heads / ${m.n_kv_heads} KV heads${m.head_combine && m.head_combine !== 'standard' ? ` combined as a product (\`head_combine: ${m.head_combine}\`)` : ''}, SwiGLU hidden ${m.hidden_dim}, context ${m.seq_len}, tied embedding) |
| tokenizer | \`${f.tokenizer}\` (${f.architecture.vocab_size} tokens) |
| training | ${f.training.steps} steps × ${t.batch_size} × ${m.seq_len} tokens = ${f.training.tokens_seen.toLocaleString('en-US')} tokens (${(f.training.tokens_seen / run.data.train_tokens).toFixed(1)} epochs), ${(f.training.wall_seconds / 60).toFixed(0)} min on ${f.training.device} (PyTorch ${f.training.torch}), seed ${t.seed} |
| optimiser | AdamW β=(0.9, 0.95), weight decay ${t.weight_decay}, lr ${t.learning_rate} (warmup ${t.warmup_steps}, constant, linear decay to ${t.min_lr} over the last ${Math.round(Number(t.decay_frac ?? 0.2) * 100)}%), dropout ${m.dropout ?? 0}, grad clip ${t.grad_clip} |
| **validation loss** | **${f.val.nats_per_char.toFixed(4)} nats/char** (${bits(f.val.nats_per_char)} bits/char), ${f.val.nats_per_token.toFixed(4)} nats/token, over the whole validation split (${f.val.chars.toLocaleString('en-US')} chars, ${f.val.tokens.toLocaleString('en-US')} tokens) |
| weights | ${f.weights_dtype} in onnx/model.onnx: ${mb(f.onnx_bytes)} MB (float32: ${mb(f.fp32_bytes)} MB) |

## Data and split

${describeSources(config.data.sources)}

Training text ${run.data.train_chars.toLocaleString('en-US')} chars (${run.data.train_tokens.toLocaleString('en-US')} tokens), validation ${run.data.val_chars.toLocaleString('en-US')} chars (${run.data.val_tokens.toLocaleString('en-US')} tokens). Every document starts with BOS.

## How the loss is measured

Each validation document is scored as \`lens score --file\` scores it: BOS, then sliding windows of ${m.seq_len} tokens that keep ${Math.floor(m.seq_len / 2)} tokens of context, every token scored once; nats/char divides the summed −log p by the number of UTF-16 characters. The shipped file (${f.weights_dtype}) measured by the TypeScript engine: ${f.val.nats_per_char.toFixed(4)} nats/char; training's own float32 PyTorch measurement: ${f.val_training.nats_per_char.toFixed(4)} nats/char. The last in-training estimate (random ${m.seq_len}-token windows, all positions) was train ${last?.train_loss.toFixed(4)} / val ${last?.val_loss.toFixed(4)} nats/token.

The test slice (test/unit/zoo.test.ts re-scores it, tolerance ±0.02): the first ${f.slice.chars} characters of the validation part of \`${f.slice.doc}\`, ${f.slice.tokens} tokens: training ${f.slice.training_nats_per_char.toFixed(4)}, fp32 export ${f.slice.fp32_nats_per_char.toFixed(4)}, shipped ${f.weights_dtype} ${f.slice.shipped_nats_per_char.toFixed(4)} nats/char (storage in ${f.weights_dtype} changes it by ${(f.slice.shipped_nats_per_char - f.slice.fp32_nats_per_char).toFixed(4)}).

## Reproduce

\`\`\`sh
apt-get install python3-torch libopenblas0-pthread   # PyTorch 1.13 as Debian packages it
${f.command}                  # tokenize, train (resumable), export, measure, write this card
\`\`\`

Config: \`tools/train/configs/${f.name}.json\`; training log: [train.log](train.log); all numbers: [training.json](training.json).

## Sample

${f.sample.max_tokens} tokens at temperature ${f.sample.temperature}, seed ${f.sample.seed}, prompt ${JSON.stringify(f.sample.prompt)}:

\`\`\`text
${f.sample.prompt}${f.sample.text}
\`\`\`
`;
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  const { values } = parseArgs({ options: { name: { type: 'string' }, run: { type: 'string' }, out: { type: 'string' } } });
  if (!values.name) {
    console.error('usage: node --import tsx tools/train/publish.ts --name NAME [--run DIR] [--out DIR]');
    process.exit(2);
  }
  const runDir = values.run ?? path.join(repoRoot, '.cache/train/runs', values.name);
  if (!existsSync(path.join(runDir, 'run.json'))) {
    console.error(`${runDir}/run.json not found: train first (tools/train/make-model.sh ${values.name})`);
    process.exit(1);
  }
  const f = await publish(values.name, runDir, values.out ?? path.join(repoRoot, 'models', values.name));
  const { sample: _s, architecture: _a, data: _d, training: _t, ...brief } = f as Record<string, unknown>;
  console.log(JSON.stringify(brief, null, 1));
}
