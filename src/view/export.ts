// Export of scores as JSON and CSV (RFC 4180 quoting). Shared by the extension and tests.
import type { ScoreResult } from '../core/scoring';
import type { CompareResult } from '../protocol/worker';

function csvField(v: string | number | null): string {
  if (v === null) return '';
  const s = String(v);
  return /[",\r\n]/.test(s) || /^\s|\s$/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function csvRow(fields: (string | number | null)[]): string {
  return fields.map(csvField).join(',');
}

/** One row per token: index, text, start, end, logprob (nats), probability, rank, entropy, top alternatives. */
export function scoreToCsv(r: ScoreResult): string {
  const lines = [csvRow(['index', 'text', 'start', 'end', 'logprob', 'prob', 'rank', 'entropy', 'top'])];
  r.tokens.forEach((t, i) => {
    lines.push(
      csvRow([
        i,
        t.text,
        t.start,
        t.end,
        t.logprob,
        t.logprob === null ? null : Math.exp(t.logprob),
        t.rank,
        t.entropy,
        t.top.map((a) => `${a.text}:${a.logprob.toFixed(6)}`).join(' | '),
      ]),
    );
  });
  return lines.join('\r\n') + '\r\n';
}

/** One row per sample: method, sample index, NLL under A, NLL under B, text. */
export function compareToCsv(r: CompareResult): string {
  const lines = [csvRow(['method', 'sample', 'nll_given_A', 'nll_given_B', 'text'])];
  for (const m of r.methods) m.samples.forEach((s, i) => lines.push(csvRow([m.name, i, s.nll_under[0], s.nll_under[1], s.text])));
  return lines.join('\r\n') + '\r\n';
}

export function toJson(v: unknown): string {
  return JSON.stringify(v, null, 2) + '\n';
}
