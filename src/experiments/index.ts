// `lens experiment NAME --out DIR [--model …] [--seed S] [--quick]`: the registry and the runner.
import { parseArgs } from 'node:util';
import { basename, isAbsolute, resolve } from 'node:path';
import { LensError } from '../core/errors';
import { ExperimentContext, type Experiment, type ExperimentOptions } from './framework';
import { ModelResolver } from './models';
import { seedBasics } from './seed-basics';
import { catDog } from './cat-dog';
import { concatVsPoe } from './concat-vs-poe';
import { noOverlap } from './no-overlap';
import { truthfulqaMc } from './truthfulqa-mc';
import { piiLeakage } from './pii-leakage';
import { charModelsPoe } from './char-models-poe';
import { speculative } from './speculative';
import { dola } from './dola';
import { headPoe } from './head-poe';

export type { Experiment, ExperimentOptions } from './framework';

export const EXPERIMENTS: Experiment[] = [seedBasics, catDog, concatVsPoe, noOverlap, truthfulqaMc, piiLeakage, charModelsPoe, speculative, dola, headPoe];

export function findExperiment(name: string): Experiment {
  const e = EXPERIMENTS.find((x) => x.name === name);
  if (!e) throw new LensError('bad-argument', `Unknown experiment ${JSON.stringify(name)}; known: ${EXPERIMENTS.map((x) => x.name).join(', ')} (lens experiment --list).`);
  return e;
}

export interface ExperimentRun {
  out: string;
  files: string[];
  summary: Record<string, unknown>;
}

/** Runs one experiment into opts.out and returns what it wrote. */
export async function runExperiment(name: string, opts: ExperimentOptions): Promise<ExperimentRun> {
  const exp = findExperiment(name);
  const ctx = new ExperimentContext(exp, opts, new ModelResolver());
  try {
    await exp.run(ctx);
  } finally {
    await ctx.dispose();
  }
  const args = [
    `lens experiment ${exp.name} --out DIR`,
    ...(['model', 'model2', 'draft', 'target'] as const).filter((k) => opts[k]).map((k) => `--${k} ${isAbsolute(opts[k]!) ? basename(opts[k]!) : opts[k]}`),
    ...(opts.stories ? ['--stories'] : []),
    `--seed ${ctx.seed}`,
    ...(opts.quick ? ['--quick'] : []),
    ...(opts.dola ? ['--dola'] : []),
    ...(opts.n ? [`--n ${opts.n}`] : []),
  ].join(' ');
  const meta = {
    experiment: exp.name,
    title: exp.title,
    seed: ctx.seed,
    quick: ctx.quick,
    command: args,
    models: ctx.models,
  };
  ctx.report.json('meta', meta);
  const header = [
    `# ${exp.title}${exp.exploratory ? ' (speculative / exploratory)' : ''}`,
    '',
    `Experiment \`${exp.name}\` · seed ${ctx.seed}${ctx.quick ? ' · **quick run** (small sizes: a smoke test, not a result)' : ''} · regenerate with \`${args}\`.`,
    '',
    'Models:',
    '',
    ...ctx.models.map((m) => `- ${m.role}: **${m.name}** (${m.source === 'zoo' ? 'zoo model' : m.source === 'stories260K' ? 'stories260K exported from ../shared' : m.source === 'argument' ? 'given on the command line' : m.source}; ${m.layers} layers, vocabulary ${m.vocab}, context ${m.context}${m.earlyExit.length ? `, early exits ${m.earlyExit.join(', ')}` : ''})`),
    '',
    'All log-probabilities are natural-log nats; NLL = −ln p.',
  ];
  ctx.report.finish(header);
  return { out: resolve(opts.out), files: [...ctx.report.files].sort(), summary: ctx.report.summary };
}

export const EXPERIMENT_USAGE = `lens experiment NAME --out DIR [--model M] [--model2 M] [--draft M] [--target M] [--seed S] [--quick]
                [--stories] [--data TruthfulQA.csv] [--dola] [--n N] [--threads N] [--no-progress]
  --stories: use stories260K from ../shared for the English roles even when zoo models are installed
lens experiment --list`;

function positiveInt(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new LensError('bad-argument', `--${name} must be a non-negative integer, got ${JSON.stringify(v)}`);
  return n;
}

/** The CLI command; returns the exit code. */
export async function experimentCommand(args: string[], out: (s: string) => void = (s) => console.log(s)): Promise<number> {
  const { values: v, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      list: { type: 'boolean' },
      out: { type: 'string' },
      model: { type: 'string' },
      model2: { type: 'string' },
      draft: { type: 'string' },
      target: { type: 'string' },
      seed: { type: 'string' },
      quick: { type: 'boolean' },
      data: { type: 'string' },
      stories: { type: 'boolean' },
      dola: { type: 'boolean' },
      n: { type: 'string' },
      threads: { type: 'string' },
      'no-progress': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (v.help) {
    out(EXPERIMENT_USAGE);
    return 0;
  }
  if (v.list) {
    const w = Math.max(...EXPERIMENTS.map((e) => e.name.length));
    for (const e of EXPERIMENTS) out(`${e.name.padEnd(w)}  ${e.summary}${e.exploratory ? ' [exploratory]' : ''}`);
    return 0;
  }
  if (positionals.length !== 1) throw new LensError('bad-argument', `lens experiment takes one experiment name (got ${positionals.length}); see lens experiment --list\n\n${EXPERIMENT_USAGE}`);
  if (!v.out) throw new LensError('bad-argument', `lens experiment needs --out DIR\n\n${EXPERIMENT_USAGE}`);
  const r = await runExperiment(positionals[0], {
    out: v.out,
    seed: positiveInt(v.seed, 'seed'),
    quick: v.quick,
    model: v.model,
    model2: v.model2,
    draft: v.draft,
    target: v.target,
    data: v.data,
    stories: v.stories,
    dola: v.dola,
    n: positiveInt(v.n, 'n'),
    threads: positiveInt(v.threads, 'threads'),
    progress: !v['no-progress'],
  });
  out(`wrote ${r.out}/report.md (${r.files.length} files)`);
  return 0;
}
