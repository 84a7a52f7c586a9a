// Shared pieces of the sampling studies: draw samples from several sources (one expert, a Product
// of Experts, a concatenated prompt) and score each sample's tokens under several scorers.
import type { CausalLM } from '../core/model';
import type { Expert } from '../core/decoding/experts';
import { generatePoeAll } from '../core/decoding/poe-generate';
import { nllOfIdsAfter } from '../core/decoding/compare';
import { meanCI } from './stats';
import { Plot } from './plot';
import type { ExperimentContext } from './framework';

export interface Source {
  name: string;
  experts: Expert[];
  /** 'concat' joins the experts' contexts into one prompt. */
  preset?: 'poe' | 'concat';
}

export interface Scorer {
  name: string;
  lm: CausalLM;
  /** Ids the sample follows: [BOS?] + tokens(context + separator + prompt). */
  prefix: number[];
}

export interface SampleRow extends Record<string, unknown> {
  source: string;
  k: number;
  text: string;
  n_tokens: number;
}

/**
 * n samples per source (temperature T, maxTokens), each with its NLL (sum, nats) under every scorer
 * as `nll_<scorer>` and per token as `nll_tok_<scorer>`. Seeds: one per (label, source, k).
 */
export async function sampleAndScore(
  ctx: ExperimentContext,
  label: string,
  sources: Source[],
  scorers: Scorer[],
  o: { n: number; maxTokens: number; temperature: number; prompt?: string; separator?: string; extra?: Record<string, unknown> },
): Promise<SampleRow[]> {
  const rows: SampleRow[] = [];
  const bar = ctx.progress(label, sources.length * o.n);
  for (const s of sources) {
    for (let k = 0; k < o.n; k++) {
      const r = await generatePoeAll(s.experts, {
        preset: s.preset ?? 'poe',
        prompt: o.prompt ?? '',
        separator: o.separator ?? ' ',
        maxTokens: o.maxTokens,
        sampling: { temperature: o.temperature, seed: ctx.subSeed(`${label}/${s.name}/${k}`) },
      });
      const row: SampleRow = { ...(o.extra ?? {}), source: s.name, k, text: r.text, n_tokens: r.ids.length };
      for (const sc of scorers) {
        const nll = await nllOfIdsAfter(sc.lm, sc.prefix, r.ids);
        row[`nll_${sc.name}`] = nll;
        row[`nll_tok_${sc.name}`] = r.ids.length ? nll / r.ids.length : NaN;
      }
      rows.push(row);
      bar.tick();
    }
  }
  bar.done();
  return rows;
}

/** Mean per-token NLL under each scorer, per source, with bootstrap 95% intervals. */
export function summarise(ctx: ExperimentContext, label: string, rows: SampleRow[], sources: string[], scorers: string[]) {
  const rng = ctx.rng(`${label}/bootstrap`);
  return sources.map((source) => {
    const mine = rows.filter((r) => r.source === source && r.n_tokens > 0);
    const out: Record<string, unknown> = { source, n: mine.length };
    for (const sc of scorers) {
      const ci = meanCI(mine.map((r) => r[`nll_tok_${sc}`] as number), rng);
      out[`mean_${sc}`] = ci.mean;
      out[`lo_${sc}`] = ci.lo;
      out[`hi_${sc}`] = ci.hi;
    }
    return out;
  });
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];

/** Scatter of per-token NLL under two scorers, one colour per source, means labelled. */
export function scatterPlot(
  ctx: ExperimentContext,
  name: string,
  caption: string,
  rows: SampleRow[],
  sources: string[],
  x: { key: string; label: string },
  y: { key: string; label: string },
  facet?: { key: string; columns: number },
) {
  const data = rows.filter((r) => Number.isFinite(r[x.key] as number) && Number.isFinite(r[y.key] as number));
  const means: Record<string, unknown>[] = [];
  const groups = facet ? [...new Set(data.map((r) => r[facet.key]))] : [null];
  for (const g of groups) {
    for (const s of sources) {
      const m = data.filter((r) => r.source === s && (g === null || r[facet!.key] === g));
      if (!m.length) continue;
      const mx = m.reduce((a, r) => a + (r[x.key] as number), 0) / m.length;
      const my = m.reduce((a, r) => a + (r[y.key] as number), 0) / m.length;
      means.push({ source: s, [x.key]: mx, [y.key]: my, ...(facet ? { [facet.key]: g } : {}) });
    }
  }
  const color = { domain: sources, range: PALETTE.slice(0, sources.length) };
  const fxy = facet
    ? (() => {
        const idx = new Map(groups.map((g, i) => [g, i]));
        return {
          fx: (r: Record<string, unknown>) => idx.get(r[facet.key])! % facet.columns,
          fy: (r: Record<string, unknown>) => Math.floor(idx.get(r[facet.key])! / facet.columns),
        };
      })()
    : {};
  const lim = [...data, ...means].flatMap((r) => [r[x.key] as number, r[y.key] as number]);
  const lo = Math.min(0, ...lim);
  const hi = Math.max(...lim, 1);
  ctx.report.plot(name, caption, {
    width: facet ? 260 * facet.columns : 560,
    height: facet ? 260 * Math.ceil(groups.length / facet.columns) + 40 : 480,
    marginLeft: 50,
    grid: true,
    x: { label: x.label, domain: [lo, hi] },
    y: { label: y.label, domain: [lo, hi] },
    fx: facet ? { axis: null } : undefined,
    fy: facet ? { axis: null } : undefined,
    color,
    marks: [
      Plot.line([[lo, lo], [hi, hi]], { stroke: '#bbb', strokeDasharray: '4,3' }),
      Plot.dot(data, { x: x.key, y: y.key, stroke: 'source', r: 2.5, strokeOpacity: 0.6, ...fxy }),
      Plot.dot(means, { x: x.key, y: y.key, fill: 'source', stroke: 'black', r: 6, ...fxy }),
      Plot.text(means, { x: x.key, y: y.key, text: 'source', fill: 'source', dx: 9, textAnchor: 'start', fontWeight: 'bold', fontSize: 11, ...fxy }),
      ...(facet ? [Plot.text(groups.map((g) => ({ [facet.key]: g })), { frameAnchor: 'top-left', text: (r: Record<string, unknown>) => String(r[facet.key]), dx: 4, dy: 4, textAnchor: 'start', ...fxy })] : []),
    ],
  });
}
