// The Likelihood Lens webview: renders the views the extension host sends (score heatmap with
// summary and histogram, PoE continuation, comparison with scatter plot, ranking), and sends
// typed messages back (src/protocol/webview.ts). DOM only; bundled by tools/build.mjs.
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import '@vscode-elements/elements/dist/vscode-badge/index.js';
import '@vscode-elements/elements/dist/vscode-icon/index.js';
import '@vscode-elements/elements/dist/vscode-progress-bar/index.js';
import * as Plot from '@observablehq/plot';
import { isHostToWebview, type HostToWebview, type PanelView, type WebviewToHost, type ExportFormat } from '../src/protocol/webview';
import { BUCKETS, UNSCORED, bucketIndex, cssVar, isMetric, type Metric } from '../src/view/buckets';
import { visibleToken, num, prob, bits, tokenAriaLabel } from '../src/view/format';
import type { TokenScore } from '../src/core/scoring';
import { h, append, clear, setBackground } from './dom';

declare function acquireVsCodeApi(): { postMessage(m: unknown): void };
const host = acquireVsCodeApi();
const nonce = (document.currentScript as HTMLScriptElement | null)?.nonce ?? '';

type Outgoing = WebviewToHost extends infer T ? (T extends unknown ? Omit<T, 'id'> : never) : never;
let nextId = 1;
function send(m: Outgoing): void {
  host.postMessage({ ...m, id: nextId++ });
}

document.addEventListener('securitypolicyviolation', (e) => {
  // Counted on the page too, so that end-to-end tests can read it through the DOM.
  document.body.dataset.cspViolations = String(Number(document.body.dataset.cspViolations ?? 0) + 1);
  send({ type: 'cspViolation', directive: String(e.violatedDirective).slice(0, 500), blocked: String(e.blockedURI).slice(0, 500) });
});
window.addEventListener('error', (e) => send({ type: 'error', message: String(e.message).slice(0, 1000) }));

const app = document.getElementById('app')!;
let current: PanelView | null = null;
let busyEl: HTMLElement | null = null;

// ---- shared pieces --------------------------------------------------------------------------

/** Plot's figure, with its <style> elements given the page's nonce before they enter the DOM. */
function plot(options: Plot.PlotOptions): Element {
  const fig = Plot.plot({ style: { background: 'transparent', color: 'var(--vscode-foreground)' } as never, ...options });
  for (const s of Array.from(fig.querySelectorAll('style'))) s.nonce = nonce;
  if (fig instanceof HTMLElement || fig instanceof SVGElement) fig.classList.add('lens-plot');
  return fig;
}

function toolbar(view: PanelView): HTMLElement {
  const bar = h('div', { class: 'toolbar', role: 'toolbar', 'aria-label': 'Panel actions' });
  if (view.kind === 'score' || view.kind === 'poe') {
    const sel = h('vscode-single-select', { 'aria-label': 'Heatmap metric', id: 'metric', disabled: view.kind === 'poe' });
    const opts: [Metric, string][] = [
      ['nll', 'Surprisal (NLL)'],
      ['rank', 'Rank (GLTR)'],
      ['entropy', 'Entropy'],
    ];
    for (const [value, label] of opts) append(sel, h('vscode-option', { value, selected: view.kind === 'score' && view.metric === value }, label));
    sel.addEventListener('change', () => {
      const v = (sel as unknown as { value: string }).value;
      if (isMetric(v)) send({ type: 'setMetric', metric: v });
    });
    append(bar, h('label', { class: 'metric-label' }, 'Colour by '), sel);
  }
  for (const f of ['json', 'csv', 'svg'] as ExportFormat[]) {
    const b = h('vscode-button', { secondary: true, 'data-export': f, title: `Export as ${f.toUpperCase()}` }, h('vscode-icon', { name: 'export', slot: 'content-before' }), f.toUpperCase());
    b.addEventListener('click', () => send({ type: 'export', format: f }));
    append(bar, b);
  }
  return bar;
}

function legend(metric: Metric): HTMLElement {
  const el = h('div', { class: 'legend', 'aria-label': 'Colour legend' });
  for (const b of BUCKETS[metric]) {
    const sw = h('span', { class: 'swatch' });
    setBackground(sw, cssVar(b.color));
    append(el, h('span', { class: 'legend-item' }, sw, b.label));
  }
  return el;
}

function stat(label: string, value: string, title?: string): HTMLElement {
  return h('div', { class: 'stat', title }, h('div', { class: 'stat-value' }, value), h('div', { class: 'stat-label' }, label));
}

// ---- the token hover card -------------------------------------------------------------------

const tip = h('div', { id: 'tip', role: 'tooltip', hidden: true });
document.body.appendChild(tip);

function showTip(anchor: HTMLElement, t: TokenScore, index: number, extra?: [string, string][]): void {
  clear(tip);
  append(tip, h('div', { class: 'tip-token' }, h('code', {}, visibleToken(t.text)), h('span', { class: 'tip-index' }, ` token ${index + 1}`)));
  const rows: [string, string][] = [];
  if (t.logprob !== null) {
    rows.push(['log-prob', `${num(t.logprob, 4)} nats (${num(bits(t.logprob), 3)} bits)`], ['probability', prob(t.logprob)]);
    if (t.rank !== null) rows.push(['rank', String(t.rank)]);
    if (t.entropy !== null) rows.push(['entropy', `${num(t.entropy, 3)} nats`]);
  } else rows.push(['log-prob', 'not scored']);
  if (extra) rows.push(...extra);
  const table = h('table', { class: 'tip-table' });
  for (const [k, v] of rows) append(table, h('tr', {}, h('th', {}, k), h('td', {}, v)));
  append(tip, table);
  if (t.top.length) {
    const alts = h('table', { class: 'tip-alts' }, h('tr', {}, h('th', {}, 'alternative'), h('th', {}, 'p')));
    for (const a of t.top) append(alts, h('tr', {}, h('td', {}, h('code', {}, visibleToken(a.text))), h('td', {}, prob(a.logprob))));
    append(tip, alts);
  }
  tip.hidden = false;
  const r = anchor.getBoundingClientRect();
  const top = r.bottom + window.scrollY + 4;
  const left = Math.min(r.left + window.scrollX, window.scrollX + document.documentElement.clientWidth - tip.offsetWidth - 8);
  tip.style.setProperty('top', `${top}px`);
  tip.style.setProperty('left', `${Math.max(4, left)}px`);
}

function hideTip(): void {
  tip.hidden = true;
}

/** The heatmap: one focusable element per token, with the DOM contract (data-token-index, data-logprob, aria-label). */
function heatmap(tokens: TokenScore[], metric: Metric, opts: { clickable: boolean; extra?: (i: number) => [string, string][]; label?: (t: TokenScore, i: number) => string }): HTMLElement {
  const el = h('div', { class: 'heatmap', role: 'group', 'aria-label': 'Tokens coloured by score' });
  tokens.forEach((t, i) => {
    const bi = bucketIndex(t, metric);
    const color = bi < 0 ? UNSCORED.color : BUCKETS[metric][bi].color;
    const span = h(
      'span',
      {
        class: 'tok',
        'data-token-index': i,
        'data-logprob': t.logprob === null ? '' : String(t.logprob),
        'aria-label': opts.label ? opts.label(t, i) : tokenAriaLabel(t, i),
        tabindex: 0,
        role: opts.clickable ? 'button' : 'mark',
      },
      t.text,
    );
    setBackground(span, cssVar(color));
    const show = () => showTip(span, t, i, opts.extra?.(i));
    span.addEventListener('mouseenter', show);
    span.addEventListener('focus', show);
    span.addEventListener('mouseleave', hideTip);
    span.addEventListener('blur', hideTip);
    if (opts.clickable) {
      span.addEventListener('click', () => send({ type: 'reveal', tokenIndex: i }));
      span.addEventListener('keydown', (e) => {
        if (e.key === 'Enter' || e.key === ' ') {
          e.preventDefault();
          send({ type: 'reveal', tokenIndex: i });
        }
      });
    }
    el.appendChild(span);
  });
  return el;
}

function histogram(tokens: TokenScore[]): Element {
  const nlls = tokens.filter((t) => t.logprob !== null).map((t) => -(t.logprob as number));
  return plot({
    width: 560,
    height: 220,
    marginLeft: 48,
    x: { label: 'surprisal −ln p (nats) →' },
    y: { label: '↑ tokens', grid: true },
    marks: [Plot.rectY(nlls, Plot.binX({ y: 'count' }, { x: (d: number) => d, thresholds: 24, fill: 'var(--vscode-charts-blue, steelblue)' } as never)), Plot.ruleY([0])],
  });
}

function preview(text: string, n: number): string {
  return text.length > n ? `…${text.slice(text.length - n)}` : text;
}

// ---- views ------------------------------------------------------------------------------------

function renderScore(v: Extract<PanelView, { kind: 'score' }>): void {
  const r = v.result;
  append(
    app,
    h('h1', {}, v.title),
    toolbar(v),
    h(
      'section',
      { class: 'summary', 'aria-label': 'Summary' },
      stat('tokens', String(r.n_tokens)),
      stat('total NLL', `${num(r.nll, 2)} nats`, `${num(bits(r.nll), 2)} bits`),
      stat('perplexity', num(r.perplexity, 3)),
      stat('bits / char', num(r.bits_per_char, 3)),
      stat('mean NLL / token', `${num(r.mean_nll, 3)} nats`),
    ),
    legend(v.metric),
    r.context ? h('div', { class: 'context', 'aria-label': 'Context (not scored)' }, preview(r.context.text, 400)) : null,
    heatmap(r.tokens, v.metric, { clickable: true }),
    h('h2', {}, 'Per-token surprisal'),
    h('div', { class: 'plots' }, histogram(r.tokens)),
  );
}

function renderPoe(v: Extract<PanelView, { kind: 'poe' }>): void {
  const r = v.result;
  const tokens: TokenScore[] = r.tokens.map((t, i) => ({ id: t.id, text: t.text, start: i, end: i + 1, logprob: t.logprob, rank: null, entropy: null, top: [] }));
  const extra = (i: number): [string, string][] => r.tokens[i].expert_logprobs.map((lp, k) => [`log p under ${r.experts[k] ?? `expert ${k + 1}`}`, `${num(lp, 4)} nats`]);
  const label = (t: TokenScore, i: number) => `${tokenAriaLabel(t, i)}, ${extra(i).map(([k, v2]) => `${k} ${v2}`).join(', ')}`;
  const nll = h('table', { class: 'nll-table' }, h('tr', {}, h('th', {}, 'expert'), h('th', {}, 'context'), h('th', {}, '−log p(continuation | context)')));
  r.nll_under.forEach((x, k) => append(nll, h('tr', {}, h('td', {}, r.experts[k] ?? `expert ${k + 1}`), h('td', { class: 'ctx-cell' }, preview(v.contexts[k] ?? '', 160)), h('td', {}, `${num(x, 3)} nats`))));
  const perExpert = r.tokens.flatMap((t, i) => t.expert_logprobs.map((lp, k) => ({ i, expert: r.experts[k] ?? `expert ${k + 1}`, nll: -lp })));
  append(
    app,
    h('h1', {}, v.title),
    toolbar(v),
    h('section', { class: 'summary' }, stat('tokens', String(r.tokens.length)), stat('stop', r.stopReason), ...r.nll_under.map((x, k) => stat(`NLL under ${r.experts[k] ?? k + 1}`, `${num(x, 2)} nats`))),
    legend('nll'),
    v.prompt ? h('div', { class: 'context', 'aria-label': 'Prompt' }, preview(v.prompt, 400)) : null,
    heatmap(tokens, 'nll', { clickable: false, extra, label }),
    nll,
    h('h2', {}, 'Per-token surprisal under each expert'),
    h(
      'div',
      { class: 'plots' },
      plot({
        width: 560,
        height: 220,
        marginLeft: 48,
        color: { legend: true },
        x: { label: 'token →' },
        y: { label: '↑ −ln p (nats)', grid: true },
        marks: [Plot.lineY(perExpert, { x: 'i', y: 'nll', stroke: 'expert', marker: true } as never), Plot.ruleY([0])],
      }),
    ),
  );
}

const METHOD_LABEL: Record<string, string> = { A: 'A alone', B: 'B alone', poe: 'PoE(A, B)', concat: 'concatenated “A B”' };

function renderCompare(v: Extract<PanelView, { kind: 'compare' }>): void {
  const r = v.result;
  const grid = h('div', { class: 'compare-grid' });
  for (const m of r.methods) {
    const col = h('section', { class: 'compare-col', 'data-method': m.name, 'aria-label': METHOD_LABEL[m.name] ?? m.name });
    const meanA = m.samples.reduce((s, x) => s + x.nll_under[0], 0) / Math.max(1, m.samples.length);
    const meanB = m.samples.reduce((s, x) => s + x.nll_under[1], 0) / Math.max(1, m.samples.length);
    append(col, h('h2', {}, METHOD_LABEL[m.name] ?? m.name), h('div', { class: 'means' }, `mean −log p(y|A) ${num(meanA, 2)} · −log p(y|B) ${num(meanB, 2)}`));
    m.samples.forEach((s, i) =>
      append(
        col,
        h(
          'div',
          { class: 'sample', 'data-sample-index': i, 'data-nll-a': String(s.nll_under[0]), 'data-nll-b': String(s.nll_under[1]) },
          h('div', { class: 'sample-text' }, s.text || '∅'),
          h('div', { class: 'sample-nll' }, `−log p(y|A) = ${num(s.nll_under[0], 2)} · −log p(y|B) = ${num(s.nll_under[1], 2)} nats`),
        ),
      ),
    );
    grid.appendChild(col);
  }
  const points = r.methods.flatMap((m) => m.samples.map((s) => ({ method: METHOD_LABEL[m.name] ?? m.name, a: s.nll_under[0], b: s.nll_under[1] })));
  const max = Math.max(1, ...points.flatMap((p) => [p.a, p.b]));
  append(
    app,
    h('h1', {}, v.title),
    toolbar(v),
    h(
      'section',
      { class: 'contexts' },
      h('div', {}, h('strong', {}, 'A: '), preview(v.contexts[0], 300)),
      h('div', {}, h('strong', {}, 'B: '), preview(v.contexts[1], 300)),
      v.prompt ? h('div', {}, h('strong', {}, 'prompt: '), preview(v.prompt, 300)) : null,
    ),
    h('h2', {}, 'Each sample’s NLL under A and under B'),
    h(
      'div',
      { class: 'plots' },
      plot({
        width: 520,
        height: 420,
        marginLeft: 56,
        grid: true,
        color: { legend: true },
        symbol: { legend: false },
        x: { label: '−log p(y | A) (nats) →', domain: [0, max * 1.05] },
        y: { label: '↑ −log p(y | B) (nats)', domain: [0, max * 1.05] },
        marks: [Plot.link([{ x1: 0, y1: 0, x2: max * 1.05, y2: max * 1.05 }], { x1: 'x1', y1: 'y1', x2: 'x2', y2: 'y2', strokeDasharray: '4,3', strokeOpacity: 0.5 } as never), Plot.dot(points, { x: 'a', y: 'b', stroke: 'method', fill: 'method', symbol: 'method', r: 4, tip: true } as never)],
      }),
    ),
    grid,
  );
}

function renderRank(v: Extract<PanelView, { kind: 'rank' }>): void {
  const table = h('table', { class: 'rank-table' }, h('tr', {}, h('th', {}, '#'), h('th', {}, 'candidate'), h('th', {}, 'NLL (nats)'), h('th', {}, 'tokens'), h('th', {}, 'NLL / token')));
  v.ranking.forEach((e, i) => append(table, h('tr', { 'data-rank': i + 1 }, h('td', {}, i + 1), h('td', {}, e.candidate), h('td', {}, num(e.nll, 3)), h('td', {}, e.tokens), h('td', {}, num(e.meanNll, 3)))));
  append(
    app,
    h('h1', {}, v.title),
    toolbar(v),
    h('div', { class: 'context' }, v.question),
    table,
    h(
      'div',
      { class: 'plots' },
      plot({
        width: 560,
        height: 40 + 28 * v.ranking.length,
        marginLeft: 200,
        x: { label: '−log p(answer | question) (nats) →', grid: true },
        y: { label: null },
        marks: [Plot.barX(v.ranking, { y: (d: { candidate: string }) => (d.candidate.length > 30 ? `${d.candidate.slice(0, 29)}…` : d.candidate), x: 'nll', sort: { y: 'x' }, fill: 'var(--vscode-charts-blue, steelblue)' } as never), Plot.ruleX([0])],
      }),
    ),
  );
}

function render(v: PanelView): void {
  current = v;
  hideTip();
  clear(app);
  busyEl = null;
  try {
    switch (v.kind) {
      case 'score':
        renderScore(v);
        break;
      case 'poe':
        renderPoe(v);
        break;
      case 'compare':
        renderCompare(v);
        break;
      case 'rank':
        renderRank(v);
        break;
    }
  } catch (e) {
    append(app, h('p', { class: 'error' }, `Could not show this view: ${String(e)}`));
    send({ type: 'error', message: String((e as Error)?.stack ?? e).slice(0, 1000) });
  }
  send({ type: 'rendered', kind: v.kind, tokens: app.querySelectorAll('[data-token-index]').length });
}

/** All plots of the view as one standalone SVG document. */
function svgDocument(): string | null {
  const svgs = Array.from(app.querySelectorAll('svg')).filter((s) => !s.closest('vscode-icon') && s.getAttribute('class')?.includes('plot'));
  if (svgs.length === 0) return null;
  const ser = new XMLSerializer();
  let y = 0;
  let w = 0;
  const parts: string[] = [];
  for (const s of svgs) {
    const width = Number(s.getAttribute('width')) || s.clientWidth || 560;
    const height = Number(s.getAttribute('height')) || s.clientHeight || 300;
    const copy = s.cloneNode(true) as SVGSVGElement;
    copy.setAttribute('xmlns', 'http://www.w3.org/2000/svg');
    copy.setAttribute('y', String(y));
    parts.push(ser.serializeToString(copy));
    y += height + 16;
    w = Math.max(w, width);
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${y}" viewBox="0 0 ${w} ${y}" font-family="sans-serif">${parts.join('')}</svg>`;
}

window.addEventListener('message', (e: MessageEvent) => {
  const m: unknown = e.data;
  if (!isHostToWebview(m)) return;
  const msg = m as HostToWebview;
  switch (msg.type) {
    case 'show':
      render(msg.view);
      break;
    case 'setMetric':
      if (current && (current.kind === 'score' || current.kind === 'poe')) render({ ...current, metric: msg.metric });
      break;
    case 'requestSvg':
      send({ type: 'svg', replyTo: msg.id, svg: svgDocument() });
      break;
    case 'busy':
      if (msg.message === null) {
        busyEl?.remove();
        busyEl = null;
      } else {
        busyEl ??= app.insertBefore(h('div', { class: 'busy' }, h('vscode-progress-bar', { indeterminate: true }), h('span', {})), app.firstChild);
        busyEl.querySelector('span')!.textContent = msg.message;
      }
      break;
  }
});

send({ type: 'ready' });
