// Text shown for tokens and numbers, shared by the hover, the status bar and the webview.
// Values inside are nats; bits appear only here, at the UI edge.
import type { TokenScore, ScoreResult } from '../core/scoring';

/** Whitespace made visible: space → ·, tab → →, newline → ↵, CR → ␍, other controls → U+2400 block. */
export function visibleToken(text: string): string {
  if (text.length === 0) return '∅';
  let out = '';
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    if (ch === ' ') out += '·';
    else if (ch === '\t') out += '→';
    else if (ch === '\n') out += '↵';
    else if (ch === '\r') out += '␍';
    else if (c < 0x20) out += String.fromCodePoint(0x2400 + c);
    else if (c === 0x7f) out += '␡';
    else if (c === 0xa0) out += '⍽';
    else out += ch;
  }
  return out;
}

/** A signed number with a real minus sign and fixed decimals. */
export function num(v: number, digits = 3): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '∞';
  if (v === -Infinity) return '−∞';
  const s = v.toFixed(digits);
  return s.startsWith('-') ? `−${s.slice(1)}` : s;
}

/** A probability: fixed for ≥ 0.001, otherwise scientific. */
export function prob(logprob: number): string {
  const p = Math.exp(logprob);
  if (p >= 0.001) return p.toFixed(4);
  return p.toExponential(2);
}

export function bits(nats: number): number {
  return nats / Math.LN2;
}

/** One line per token, for aria-label and plain-text tooltips. */
export function tokenAriaLabel(t: TokenScore, index: number): string {
  const head = `token ${index + 1} “${visibleToken(t.text)}”`;
  if (t.logprob === null) return `${head}, not scored`;
  const parts = [`${head}`, `log-prob ${num(t.logprob)} nats`, `probability ${prob(t.logprob)}`];
  if (t.rank !== null) parts.push(`rank ${t.rank}`);
  if (t.entropy !== null) parts.push(`entropy ${num(t.entropy)} nats`);
  return parts.join(', ');
}

export interface Summary {
  tokens: number;
  nll: number;
  perplexity: number;
  bitsPerChar: number;
  meanNll: number;
}

export function summary(r: ScoreResult): Summary {
  return { tokens: r.n_tokens, nll: r.nll, perplexity: r.perplexity, bitsPerChar: r.bits_per_char, meanNll: r.mean_nll };
}

export function summaryLine(r: ScoreResult): string {
  return `NLL ${num(r.nll, 2)} nats · ppl ${num(r.perplexity, 2)} · ${num(r.bits_per_char, 3)} bits/char · ${r.n_tokens} tokens`;
}
