// The Likelihood Lens webview panel: strict CSP with a nonce, resources only from dist/, every
// message from the webview checked against the typed protocol in src/protocol/webview.ts.
import * as vscode from 'vscode';
import { randomBytes } from 'node:crypto';
import { parseWebviewMessage, type HostToWebview, type PanelView, type ViewKind, type WebviewToHost, type ExportFormat } from '../protocol/webview';
import type { Metric } from '../view/buckets';
import { scoreToCsv, compareToCsv, toJson, csvRow } from '../view/export';

export interface RenderedInfo {
  kind: ViewKind;
  tokens: number;
  at: number;
}

type Pending = { resolve: (m: WebviewToHost) => void; timer: ReturnType<typeof setTimeout> };

export class LensPanel implements vscode.Disposable {
  static readonly viewType = 'likelihoodLens.panel';
  private panel: vscode.WebviewPanel | null = null;
  private ready = false;
  private queue: HostToWebview[] = [];
  private nextId = 1;
  private readonly replies = new Map<number, Pending>();
  private readonly renderedEmitter = new vscode.EventEmitter<RenderedInfo>();
  readonly onDidRender = this.renderedEmitter.event;
  view: PanelView | null = null;
  lastRendered: RenderedInfo | null = null;
  /** Messages rejected by validation, and CSP violations the webview reported (for tests and logs). */
  readonly rejected: string[] = [];
  readonly cspViolations: string[] = [];

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly handlers: {
      onMetric: (m: Metric) => void;
      onReveal: (tokenIndex: number) => void;
      onExport: (format: ExportFormat) => void;
    },
  ) {}

  get isOpen(): boolean {
    return this.panel !== null;
  }

  show(view: PanelView, preserveFocus = true): void {
    this.view = view;
    const p = this.ensure(preserveFocus);
    if (!p.visible) p.reveal(vscode.ViewColumn.Beside, preserveFocus);
    this.post({ type: 'show', id: this.nextId++, view });
  }

  /** Replaces the view only when the panel is open (background updates never reopen or reveal it). */
  update(view: PanelView): void {
    if (!this.panel) return;
    this.view = view;
    this.post({ type: 'show', id: this.nextId++, view });
  }

  setMetric(metric: Metric): void {
    if (this.view && (this.view.kind === 'score' || this.view.kind === 'poe')) this.view = { ...this.view, metric };
    if (this.panel) this.post({ type: 'setMetric', id: this.nextId++, metric });
  }

  busy(message: string | null): void {
    if (this.panel) this.post({ type: 'busy', id: this.nextId++, message });
  }

  /** The plots of the current view as one SVG document, from the webview. */
  async svg(timeoutMs = 10000): Promise<string | null> {
    if (!this.panel) return null;
    const id = this.nextId++;
    const reply = new Promise<WebviewToHost>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.replies.delete(id);
        reject(new Error('The panel did not answer with its SVG.'));
      }, timeoutMs);
      this.replies.set(id, { resolve, timer });
    });
    this.post({ type: 'requestSvg', id });
    const m = await reply;
    return m.type === 'svg' ? m.svg : null;
  }

  /** JSON or CSV of the current view. */
  exportText(format: 'json' | 'csv'): string | null {
    const v = this.view;
    if (!v) return null;
    if (format === 'json') return toJson(v);
    switch (v.kind) {
      case 'score':
        return scoreToCsv(v.result);
      case 'compare':
        return compareToCsv(v.result);
      case 'poe': {
        const lines = [csvRow(['index', 'text', 'logprob', ...v.result.experts.map((e) => `logprob_${e}`)])];
        v.result.tokens.forEach((t, i) => lines.push(csvRow([i, t.text, t.logprob, ...t.expert_logprobs])));
        return lines.join('\r\n') + '\r\n';
      }
      case 'rank': {
        const lines = [csvRow(['rank', 'candidate', 'nll', 'tokens', 'mean_nll'])];
        v.ranking.forEach((r, i) => lines.push(csvRow([i + 1, r.candidate, r.nll, r.tokens, r.meanNll])));
        return lines.join('\r\n') + '\r\n';
      }
    }
  }

  private post(m: HostToWebview): void {
    if (!this.panel) return;
    if (!this.ready) {
      // Before `ready` only the latest view matters.
      if (m.type === 'show') this.queue = this.queue.filter((q) => q.type !== 'show');
      this.queue.push(m);
      return;
    }
    void this.panel.webview.postMessage(m);
  }

  private ensure(preserveFocus: boolean): vscode.WebviewPanel {
    if (this.panel) return this.panel;
    const dist = vscode.Uri.joinPath(this.extensionUri, 'dist');
    const p = vscode.window.createWebviewPanel(
      LensPanel.viewType,
      'Likelihood Lens',
      { viewColumn: vscode.ViewColumn.Beside, preserveFocus },
      { enableScripts: true, localResourceRoots: [dist], retainContextWhenHidden: true, enableFindWidget: true },
    );
    p.iconPath = vscode.Uri.joinPath(this.extensionUri, 'media', 'icon.svg');
    this.ready = false;
    p.webview.html = this.html(p.webview, dist);
    p.webview.onDidReceiveMessage((raw: unknown) => this.receive(raw));
    p.onDidDispose(() => {
      this.panel = null;
      this.ready = false;
      this.queue = [];
    });
    this.panel = p;
    return p;
  }

  private receive(raw: unknown): void {
    const m = parseWebviewMessage(raw);
    if (typeof m === 'string') {
      this.rejected.push(m);
      console.warn(`[likelihood-lens] rejected a webview message: ${m}`);
      return;
    }
    switch (m.type) {
      case 'ready':
        this.ready = true;
        for (const q of this.queue) void this.panel?.webview.postMessage(q);
        this.queue = [];
        break;
      case 'rendered':
        this.lastRendered = { kind: m.kind, tokens: m.tokens, at: Date.now() };
        this.renderedEmitter.fire(this.lastRendered);
        break;
      case 'svg': {
        const p = this.replies.get(m.replyTo);
        if (p) {
          clearTimeout(p.timer);
          this.replies.delete(m.replyTo);
          p.resolve(m);
        }
        break;
      }
      case 'export':
        this.handlers.onExport(m.format);
        break;
      case 'setMetric':
        this.handlers.onMetric(m.metric);
        break;
      case 'reveal':
        this.handlers.onReveal(m.tokenIndex);
        break;
      case 'cspViolation':
        this.cspViolations.push(`${m.directive}: ${m.blocked}`);
        console.warn(`[likelihood-lens] webview CSP violation: ${m.directive} blocked ${m.blocked}`);
        break;
      case 'error':
        console.error(`[likelihood-lens] webview error: ${m.message}`);
        break;
    }
  }

  private html(webview: vscode.Webview, dist: vscode.Uri): string {
    const nonce = randomBytes(18).toString('base64');
    const uri = (f: string) => webview.asWebviewUri(vscode.Uri.joinPath(dist, f)).toString();
    const csp = [
      "default-src 'none'",
      `img-src ${webview.cspSource} data:`,
      `style-src ${webview.cspSource} 'nonce-${nonce}'`,
      `font-src ${webview.cspSource}`,
      `script-src 'nonce-${nonce}'`,
    ].join('; ');
    return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${uri('codicon.css')}" id="vscode-codicon-stylesheet" nonce="${nonce}">
<link rel="stylesheet" href="${uri('webview.css')}" nonce="${nonce}">
<title>Likelihood Lens</title>
</head>
<body>
<main id="app" aria-live="polite"><p class="empty">Run “Likelihood Lens: Score Selection” to see a heatmap here.</p></main>
<script nonce="${nonce}" src="${uri('webview.js')}"></script>
</body>
</html>`;
  }

  dispose(): void {
    this.panel?.dispose();
    this.renderedEmitter.dispose();
    for (const p of this.replies.values()) clearTimeout(p.timer);
  }
}
