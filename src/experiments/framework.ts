// The experiment framework: a registry entry per experiment, a context with the options, a seeded
// RNG per purpose, a progress bar on stderr, model loading by role, and a report writer (report.md,
// SVG plots, JSON/CSV raw data). Reports are deterministic for a given seed: no timestamps, no
// absolute paths, and wall-clock timings only in timing.json (named as machine-dependent).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'csv-stringify/sync';
import { Rng } from '../core/sampling/rng';
import { LensError } from '../core/errors';
import type { CausalLM } from '../core/model';
import { renderSvg, type PlotOptions } from './plot';
import type { ModelRole, LoadedModel, ModelResolver } from './models';

export interface ExperimentOptions {
  /** Output folder (created). */
  out: string;
  seed?: number;
  /** Small sizes for CI and smoke runs. */
  quick?: boolean;
  /** Model specs by role (a folder, an embedded name or a Hub id); absent: the zoo default, else stories260K. */
  model?: string;
  model2?: string;
  draft?: string;
  target?: string;
  /** Use stories260K from ../shared for the English roles even when zoo models are installed. */
  stories?: boolean;
  /** TruthfulQA.csv (default ../shared/benchmarks/truthfulqa/TruthfulQA.csv). */
  data?: string;
  /** Also score TruthfulQA with DoLa (truthfulqa-mc). */
  dola?: boolean;
  /** Samples / cases override (each experiment says what it counts). */
  n?: number;
  threads?: number;
  /** Progress bar on stderr (default true). */
  progress?: boolean;
  /** Where progress and notes go (default process.stderr). */
  stderr?: { write(s: string): unknown; isTTY?: boolean };
}

export interface Experiment {
  name: string;
  title: string;
  /** One line for `lens experiment --list`. */
  summary: string;
  /** Labelled speculative/exploratory in the list and the report. */
  exploratory?: boolean;
  run(ctx: ExperimentContext): Promise<void>;
}

export interface Progress {
  tick(n?: number): void;
  done(): void;
}

/** Writes one experiment's folder: report.md, *.svg, *.csv, *.json. */
export class ReportWriter {
  private md: string[] = [];
  readonly files: string[] = [];
  readonly summary: Record<string, unknown> = {};
  constructor(readonly out: string) {
    mkdirSync(out, { recursive: true });
  }
  h1(s: string) { this.md.push(`# ${s}`, ''); }
  h2(s: string) { this.md.push(`## ${s}`, ''); }
  h3(s: string) { this.md.push(`### ${s}`, ''); }
  p(...lines: string[]) { this.md.push(...lines, ''); }
  bullets(items: string[]) { this.md.push(...items.map((s) => `- ${s}`), ''); }
  code(s: string, lang = '') { this.md.push('```' + lang, s, '```', ''); }
  /** A markdown table (cells already formatted). */
  table(head: string[], rows: (string | number)[][]) {
    const esc = (c: string | number) => String(c).replace(/\|/g, '\\|').replace(/\n/g, '↵');
    this.md.push(`| ${head.map(esc).join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`), '');
  }
  /** Raw rows as NAME.csv and NAME.json (columns: the keys of the first row, in order). */
  data(name: string, rows: Record<string, unknown>[]) {
    const columns = rows.length ? Object.keys(rows[0]) : [];
    this.write(`${name}.json`, JSON.stringify(rows, null, 1) + '\n');
    this.write(`${name}.csv`, stringify(rows, { header: true, columns, cast: { number: (x) => String(x), boolean: (b) => (b ? '1' : '0') } }));
    this.md.push(`Raw data: [${name}.csv](${name}.csv) ([JSON](${name}.json)).`, '');
  }
  json(name: string, obj: unknown) {
    this.write(`${name}.json`, JSON.stringify(obj, null, 1) + '\n');
  }
  /** An SVG plot, embedded in the report. */
  plot(name: string, caption: string, options: PlotOptions) {
    this.write(`${name}.svg`, renderSvg(options));
    this.md.push(`![${caption}](${name}.svg)`, '', `*${caption}*`, '');
  }
  /** A headline number, also written to results.json. */
  set(key: string, value: unknown) {
    this.summary[key] = value;
  }
  write(file: string, text: string) {
    writeFileSync(join(this.out, file), text);
    if (!this.files.includes(file)) this.files.push(file);
  }
  /** Writes summary.json and report.md (`header` lines go first). */
  finish(header: string[] = []) {
    this.json('results', this.summary);
    this.write('report.md', [...header, '', ...this.md].join('\n').replace(/\n{3,}/g, '\n\n').trimEnd() + '\n');
  }
}

export class ExperimentContext {
  readonly seed: number;
  readonly quick: boolean;
  readonly report: ReportWriter;
  private loaded: LoadedModel[] = [];
  /** Models used, for meta.json and the report header. */
  readonly models: { role: string; name: string; source: string; layers: number; vocab: number; context: number; earlyExit: number[] }[] = [];
  constructor(
    readonly experiment: Experiment,
    readonly opts: ExperimentOptions,
    private readonly resolver: ModelResolver,
  ) {
    this.seed = opts.seed ?? 0;
    if (!Number.isInteger(this.seed) || this.seed < 0) throw new LensError('bad-argument', `--seed must be a non-negative integer, got ${opts.seed}`);
    this.quick = !!opts.quick;
    this.report = new ReportWriter(opts.out);
  }

  /** An RNG for one purpose: the same (seed, label) always gives the same stream. */
  rng(label: string): Rng {
    return new Rng(`${this.seed}/${this.experiment.name}/${label}`);
  }

  /** An integer seed for the samplers of one purpose (stable per seed and label). */
  subSeed(label: string): number {
    return this.rng(label).nextUint32();
  }

  /** Loads the model for a role (once per spec), recording it for the report. */
  async model(role: ModelRole, need: { earlyExit?: boolean } = {}): Promise<CausalLM> {
    const m = await this.resolver.load(role, this.opts, need);
    if (!this.loaded.includes(m)) this.loaded.push(m);
    const lm = m.lm;
    if (!this.models.some((x) => x.role === role)) {
      this.models.push({ role, name: m.name, source: m.source, layers: lm.config.numLayers, vocab: lm.vocab, context: lm.maxPositions, earlyExit: need.earlyExit ? await lm.earlyExitLayers() : lm.io.earlyExit });
    }
    return lm;
  }

  /** Loads a specific model folder for a role (not resolved from the options). */
  async modelAt(role: string, dir: string, name: string, source: LoadedModel['source']): Promise<CausalLM> {
    const m = await this.resolver.loadDir(dir, name, source, this.opts.threads);
    if (!this.loaded.includes(m)) this.loaded.push(m);
    if (!this.models.some((x) => x.role === role)) {
      this.models.push({ role, name, source, layers: m.lm.config.numLayers, vocab: m.lm.vocab, context: m.lm.maxPositions, earlyExit: m.lm.io.earlyExit });
    }
    return m.lm;
  }

  note(s: string) {
    if (this.opts.progress !== false) (this.opts.stderr ?? process.stderr).write(`${s}\n`);
  }

  /** A progress bar on stderr: redrawn in place on a terminal, a few lines otherwise. */
  progress(label: string, total: number): Progress {
    const stream = this.opts.stderr ?? process.stderr;
    const on = this.opts.progress !== false;
    const tty = !!stream.isTTY;
    let done = 0;
    let last = 0;
    let lastDecile = -1;
    const draw = (force = false) => {
      if (!on) return;
      const frac = total > 0 ? Math.min(1, done / total) : 1;
      if (tty) {
        const now = Date.now();
        if (!force && now - last < 100) return;
        last = now;
        const w = 30;
        const f = Math.round(w * frac);
        stream.write(`\r\x1b[K${label} [${'#'.repeat(f)}${'-'.repeat(w - f)}] ${done}/${total}`);
      } else {
        const d = Math.floor(frac * 10);
        if (d !== lastDecile || force) {
          lastDecile = d;
          stream.write(`${label}: ${done}/${total}\n`);
        }
      }
    };
    draw(true);
    return {
      tick: (n = 1) => {
        done += n;
        draw();
      },
      done: () => {
        if (!on) return;
        if (tty) {
          draw(true);
          stream.write('\n');
        } else if (lastDecile !== 10) stream.write(`${label}: ${done}/${total}\n`);
      },
    };
  }

  async dispose() {
    for (const m of this.loaded) await this.resolver.release(m);
    this.loaded = [];
  }
}

/** Formats a number for a report table. */
export function f(x: number | null | undefined, d = 3): string {
  if (x === null || x === undefined || Number.isNaN(x)) return '—';
  if (x === Infinity) return '∞';
  if (x === -Infinity) return '−∞';
  return x.toFixed(d);
}

/** "0.412 [0.380, 0.445]" */
export function fci(x: { lo: number; hi: number } & ({ mean: number } | { rate: number }), d = 3): string {
  const v = 'mean' in x ? x.mean : x.rate;
  return `${f(v, d)} [${f(x.lo, d)}, ${f(x.hi, d)}]`;
}

/** A table cell for generated text: one line, visible whitespace. */
export function cell(s: string, max = 80): string {
  const t = s.replace(/\n/g, '↵').replace(/\t/g, '⇥');
  return '`' + (t.length > max ? t.slice(0, max - 1) + '…' : t).replace(/`/g, 'ˋ') + '`';
}
