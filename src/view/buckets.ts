// Heatmap colour buckets, shared by the editor decorations and the webview (no vscode import).
// Every bucket names a theme colour contributed in package.json (`contributes.colors`), so the
// editor and the webview (as `--vscode-likelihoodLens-…` CSS variables) show the same colours.
import type { TokenScore } from '../core/scoring';

export type Metric = 'nll' | 'rank' | 'entropy';
export const METRICS: readonly Metric[] = ['nll', 'rank', 'entropy'];

export interface Bucket {
  /** Theme colour id, e.g. `likelihoodLens.nll3`. */
  color: string;
  /** What the bucket holds, for legends and tooltips. */
  label: string;
}

/** Surprisal −ln p in nats: upper bounds of the first buckets (the last is open). */
export const NLL_BOUNDS = [0.5, 1, 2, 3, 4.5, 6, 8] as const;
/** GLTR: rank within the top 10, 100, 1000, or beyond. */
export const RANK_BOUNDS = [10, 100, 1000] as const;
/** Entropy of the predictive distribution, nats. */
export const ENTROPY_BOUNDS = [0.5, 1, 2, 3, 4] as const;

function rangeLabels(bounds: readonly number[], unit: string): string[] {
  const out: string[] = [];
  let lo = 0;
  for (const b of bounds) {
    out.push(`${lo}–${b} ${unit}`);
    lo = b;
  }
  out.push(`≥ ${lo} ${unit}`);
  return out;
}

export const BUCKETS: Record<Metric, readonly Bucket[]> = {
  nll: rangeLabels(NLL_BOUNDS, 'nats').map((label, i) => ({ color: `likelihoodLens.nll${i}`, label: `surprisal ${label}` })),
  rank: [
    { color: 'likelihoodLens.rank10', label: 'rank 1–10' },
    { color: 'likelihoodLens.rank100', label: 'rank 11–100' },
    { color: 'likelihoodLens.rank1000', label: 'rank 101–1000' },
    { color: 'likelihoodLens.rankRest', label: 'rank > 1000' },
  ],
  entropy: rangeLabels(ENTROPY_BOUNDS, 'nats').map((label, i) => ({ color: `likelihoodLens.entropy${i}`, label: `entropy ${label}` })),
};

/** For tokens without a prediction (no BOS before the first token). */
export const UNSCORED: Bucket = { color: 'likelihoodLens.unscored', label: 'not scored' };

function indexIn(bounds: readonly number[], v: number): number {
  let i = 0;
  while (i < bounds.length && v >= bounds[i]) i++;
  return i;
}

/** The value a metric reads from a token, or null when the token has none. */
export function metricValue(t: Pick<TokenScore, 'logprob' | 'rank' | 'entropy'>, metric: Metric): number | null {
  switch (metric) {
    case 'nll':
      return t.logprob === null ? null : -t.logprob;
    case 'rank':
      return t.rank;
    case 'entropy':
      return t.entropy;
  }
}

/** Index of the token's bucket in BUCKETS[metric], or -1 (UNSCORED). */
export function bucketIndex(t: Pick<TokenScore, 'logprob' | 'rank' | 'entropy'>, metric: Metric): number {
  const v = metricValue(t, metric);
  if (v === null || Number.isNaN(v)) return -1;
  switch (metric) {
    case 'nll':
      return indexIn(NLL_BOUNDS, v);
    case 'rank':
      // Ranks are 1-based: rank 10 is in the top 10.
      return indexIn(RANK_BOUNDS, v - 1);
    case 'entropy':
      return indexIn(ENTROPY_BOUNDS, v);
  }
}

export function bucketOf(t: Pick<TokenScore, 'logprob' | 'rank' | 'entropy'>, metric: Metric): Bucket {
  const i = bucketIndex(t, metric);
  return i < 0 ? UNSCORED : BUCKETS[metric][i];
}

/** Every theme colour id the buckets use (package.json must contribute each). */
export function allBucketColors(): string[] {
  return [...METRICS.flatMap((m) => BUCKETS[m].map((b) => b.color)), UNSCORED.color];
}

/** `likelihoodLens.nll3` → `--vscode-likelihoodLens-nll3` (how VS Code exposes theme colours to webviews). */
export function cssVar(color: string): string {
  return `--vscode-${color.replace(/\./g, '-')}`;
}

export function isMetric(v: unknown): v is Metric {
  return typeof v === 'string' && (METRICS as readonly string[]).includes(v);
}
