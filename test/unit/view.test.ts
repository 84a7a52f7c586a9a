// The pieces of the VS Code extension that run without VS Code: heatmap buckets, number and token
// formatting, CSV/JSON export, the webview message protocol, and the manifest that ties them to
// VS Code (every bucket colour contributed, every command in its category).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../helpers/shared';
import { BUCKETS, NLL_BOUNDS, allBucketColors, bucketIndex, bucketOf, cssVar, metricValue, UNSCORED } from '../../src/view/buckets';
import { visibleToken, num, prob, tokenAriaLabel, summaryLine } from '../../src/view/format';
import { scoreToCsv, compareToCsv } from '../../src/view/export';
import { parseWebviewMessage, isHostToWebview, MAX_SVG } from '../../src/protocol/webview';
import type { ScoreResult, TokenScore } from '../../src/core/scoring';

const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8'));
const tok = (logprob: number | null, rank: number | null = 1, entropy: number | null = 1): TokenScore => ({ id: 1, text: 'x', start: 0, end: 1, logprob, rank, entropy, top: [] });

test('NLL buckets: surprisal −logprob against the bounds, lower bound inclusive', () => {
  assert.equal(bucketIndex(tok(-0), 'nll'), 0);
  assert.equal(bucketIndex(tok(-0.4999), 'nll'), 0);
  assert.equal(bucketIndex(tok(-0.5), 'nll'), 1);
  assert.equal(bucketIndex(tok(-2.5), 'nll'), 3);
  assert.equal(bucketIndex(tok(-7.99), 'nll'), 6);
  assert.equal(bucketIndex(tok(-8), 'nll'), 7);
  assert.equal(bucketIndex(tok(-Infinity), 'nll'), NLL_BOUNDS.length);
  assert.equal(bucketIndex(tok(null), 'nll'), -1);
  assert.equal(bucketOf(tok(null), 'nll'), UNSCORED);
  assert.equal(BUCKETS.nll.length, NLL_BOUNDS.length + 1);
});

test('GLTR rank buckets: top-10, top-100, top-1000, rest (ranks are 1-based)', () => {
  const b = (r: number) => bucketOf(tok(-1, r), 'rank').color;
  assert.equal(b(1), 'likelihoodLens.rank10');
  assert.equal(b(10), 'likelihoodLens.rank10');
  assert.equal(b(11), 'likelihoodLens.rank100');
  assert.equal(b(100), 'likelihoodLens.rank100');
  assert.equal(b(101), 'likelihoodLens.rank1000');
  assert.equal(b(1000), 'likelihoodLens.rank1000');
  assert.equal(b(1001), 'likelihoodLens.rankRest');
  assert.equal(bucketIndex(tok(-1, null), 'rank'), -1);
});

test('entropy buckets and metric values', () => {
  assert.equal(metricValue(tok(-2, 3, 0.7), 'nll'), 2);
  assert.equal(metricValue(tok(-2, 3, 0.7), 'rank'), 3);
  assert.equal(metricValue(tok(-2, 3, 0.7), 'entropy'), 0.7);
  assert.equal(bucketOf(tok(-1, 1, 0.2), 'entropy').color, 'likelihoodLens.entropy0');
  assert.equal(bucketOf(tok(-1, 1, 9), 'entropy').color, `likelihoodLens.entropy${BUCKETS.entropy.length - 1}`);
  assert.equal(cssVar('likelihoodLens.nll3'), '--vscode-likelihoodLens-nll3');
});

test('package.json contributes exactly the bucket colours, each with dark, light and high-contrast defaults', () => {
  const contributed = (pkg.contributes.colors as { id: string; defaults: Record<string, string> }[]).map((c) => c.id).sort();
  assert.deepEqual(contributed, allBucketColors().sort());
  for (const c of pkg.contributes.colors) {
    for (const k of ['dark', 'light', 'highContrast', 'highContrastLight']) assert.match(c.defaults[k], /^#[0-9a-f]{8}$/i, `${c.id}.${k}`);
  }
});

test('package.json: the fixed command ids, one category, restricted settings for untrusted workspaces', () => {
  const ids = (pkg.contributes.commands as { command: string; category: string }[]).map((c) => c.command);
  for (const id of ['scoreSelection', 'clearHeatmap', 'poeContinue', 'compareContinuations', 'rankCandidates', 'selectModel', 'selectDevice']) assert.ok(ids.includes(`likelihoodLens.${id}`), id);
  for (const c of pkg.contributes.commands) assert.equal(c.category, 'Likelihood Lens');
  assert.equal(pkg.main, './dist/extension.cjs');
  const restricted = pkg.capabilities.untrustedWorkspaces.restrictedConfigurations as string[];
  assert.ok(restricted.includes('likelihoodLens.model') && restricted.includes('likelihoodLens.device'));
  for (const k of Object.keys(pkg.contributes.configuration.properties)) assert.match(k, /^likelihoodLens\./);
});

test('tokens: whitespace made visible; numbers with a real minus; probabilities', () => {
  assert.equal(visibleToken(' a\tb\nc\r'), '·a→b↵c␍');
  assert.equal(visibleToken('\u0000\u007f\u00a0'), '␀␡⍽');
  assert.equal(visibleToken(''), '∅');
  assert.equal(visibleToken('<script>'), '<script>');
  assert.equal(num(-1.23456, 3), '−1.235');
  assert.equal(num(2, 1), '2.0');
  assert.equal(num(-Infinity), '−∞');
  assert.equal(prob(Math.log(0.5)), '0.5000');
  assert.equal(prob(Math.log(1e-5)), '1.00e-5');
  assert.equal(tokenAriaLabel({ ...tok(-0.5, 2, 1.5), text: ' hi' }, 0), 'token 1 “·hi”, log-prob −0.500 nats, probability 0.6065, rank 2, entropy 1.500 nats');
  assert.equal(tokenAriaLabel(tok(null), 4), 'token 5 “x”, not scored');
});

const result: ScoreResult = {
  model: 'm',
  tokens: [
    { id: 1, text: 'a,b', start: 0, end: 3, logprob: -0.5, rank: 2, entropy: 1, top: [{ id: 2, text: '"q"', logprob: -0.25 }] },
    { id: 3, text: ' \n', start: 3, end: 5, logprob: null, rank: null, entropy: null, top: [] },
  ],
  nll: 0.5,
  n_tokens: 1,
  mean_nll: 0.5,
  perplexity: Math.exp(0.5),
  bits_per_char: 0.5 / Math.LN2 / 5,
  windows: 1,
};

test('CSV export quotes commas, quotes, newlines and edge spaces (RFC 4180)', () => {
  const csv = scoreToCsv(result);
  assert.equal(
    csv,
    'index,text,start,end,logprob,prob,rank,entropy,top\r\n' +
      `0,"a,b",0,3,-0.5,${Math.exp(-0.5)},2,1,"""q"":-0.250000"\r\n` +
      '1," \n",3,5,,,,,\r\n',
  );
  const cmp = compareToCsv({ methods: [{ name: 'poe', samples: [{ text: 'x "y"', nll_under: [1.5, 2] }] }] });
  assert.equal(cmp, 'method,sample,nll_given_A,nll_given_B,text\r\npoe,0,1.5,2,"x ""y"""\r\n');
  assert.equal(summaryLine(result), 'NLL 0.50 nats · ppl 1.65 · 0.144 bits/char · 1 tokens');
});

test('webview → host messages: well-formed ones pass, everything else is refused with a reason', () => {
  const ok = [
    { type: 'ready', id: 0 },
    { type: 'rendered', id: 1, kind: 'score', tokens: 12 },
    { type: 'svg', id: 2, replyTo: 7, svg: '<svg xmlns="http://www.w3.org/2000/svg"></svg>' },
    { type: 'svg', id: 2, replyTo: 7, svg: null },
    { type: 'export', id: 3, format: 'csv' },
    { type: 'setMetric', id: 4, metric: 'entropy' },
    { type: 'reveal', id: 5, tokenIndex: 3 },
    { type: 'cspViolation', id: 6, directive: 'script-src', blocked: 'inline' },
    { type: 'error', id: 7, message: 'x' },
  ];
  for (const m of ok) assert.deepEqual(parseWebviewMessage(m), m);
  const bad: [unknown, RegExp][] = [
    [null, /not an object/],
    [[1], /not an object/],
    [{ type: 'eval', id: 1, code: 'x' }, /unknown message type/],
    [{ type: 'ready' }, /id must be/],
    [{ type: 'ready', id: -1 }, /id must be/],
    [{ type: 'ready', id: 1.5 }, /id must be/],
    [{ type: 'ready', id: 1, extra: true }, /unexpected field/],
    [{ type: 'export', id: 1, format: 'exe' }, /malformed/],
    [{ type: 'setMetric', id: 1, metric: 'loss' }, /malformed/],
    [{ type: 'reveal', id: 1, tokenIndex: '3' }, /malformed/],
    [{ type: 'rendered', id: 1, kind: 'shell', tokens: 1 }, /malformed/],
    [{ type: 'svg', id: 1, replyTo: 1, svg: '<script>alert(1)</script>' }, /malformed/],
    [{ type: 'svg', id: 1, replyTo: 1, svg: `<svg>${'x'.repeat(MAX_SVG)}</svg>` }, /malformed/],
    [{ type: 'error', id: 1, message: 'x'.repeat(5000) }, /malformed/],
    [JSON.parse('{"type":"ready","id":1,"__proto__":{"polluted":1}}'), /unexpected field/],
  ];
  for (const [m, why] of bad) {
    const r = parseWebviewMessage(m);
    assert.equal(typeof r, 'string', `accepted ${JSON.stringify(m)?.slice(0, 80)}`);
    assert.match(r as string, why);
  }
});

test('host → webview messages are checked by the webview too', () => {
  assert.ok(isHostToWebview({ type: 'show', id: 1, view: { kind: 'rank' } }));
  assert.ok(isHostToWebview({ type: 'busy', id: 1, message: null }));
  assert.ok(!isHostToWebview({ type: 'show', id: 1, view: { kind: 'html' } }));
  assert.ok(!isHostToWebview({ type: 'setMetric', id: 1, metric: 'x' }));
  assert.ok(!isHostToWebview({ type: 'run', id: 1 }));
});

test('the webview builds its DOM without HTML parsing; src/view and src/protocol never import vscode', () => {
  for (const f of readdirSync(join(repoRoot, 'webview')).filter((n) => n.endsWith('.ts'))) {
    const src = readFileSync(join(repoRoot, 'webview', f), 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, ''); // code, not comments
    assert.doesNotMatch(src, /\b(innerHTML|outerHTML|insertAdjacentHTML|document\.write|createContextualFragment|DOMParser)\b/, f);
  }
  for (const d of ['src/view', 'src/protocol']) {
    for (const f of readdirSync(join(repoRoot, d))) {
      assert.doesNotMatch(readFileSync(join(repoRoot, d, f), 'utf8'), /from\s+['"]vscode['"]/, `${d}/${f}`);
    }
  }
});

test('the extension’s default embedded model is the CLI’s', () => {
  const cli = /export const DEFAULT_MODEL = '([^']+)'/.exec(readFileSync(join(repoRoot, 'src/cli/cli.ts'), 'utf8'));
  const ext = /export const DEFAULT_EMBEDDED_MODEL = '([^']+)'/.exec(readFileSync(join(repoRoot, 'src/extension/engine.ts'), 'utf8'));
  assert.ok(cli && ext);
  assert.equal(ext[1], cli[1]);
});
