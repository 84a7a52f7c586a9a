// Per-token heatmaps in the editor: one decoration type per colour bucket, made once at activation
// and updated in batches (one setDecorations call per bucket per editor). Scores are cached per
// document; an edit drops the tokens from the edit onwards (their predictions depended on the old
// text), keeps the ones before it, and schedules a debounced re-score that runs in the worker.
import * as vscode from 'vscode';
import type { ScoreResult, TokenScore } from '../core/scoring';
import { BUCKETS, METRICS, UNSCORED, bucketIndex, type Metric } from '../view/buckets';

export interface ScoredRange {
  uri: string;
  /** Document version the offsets refer to. */
  version: number;
  /** Document offset of the scored text's first character. */
  offset: number;
  /** Length of the scored text (after edits: of the range to re-score). */
  length: number;
  /** 'preceding': scored given the text before it; 'none': on its own. */
  context: 'none' | 'preceding';
  result: ScoreResult;
  /** Tokens still valid (a prefix of result.tokens after an edit). */
  valid: number;
  /** True when an edit made the range stale and a re-score is due. */
  stale: boolean;
}

export interface DecorationSnapshot {
  metric: Metric;
  /** Per bucket colour id: the [start, end) document offsets decorated. */
  buckets: { color: string; ranges: [number, number][] }[];
}

export class Heatmap implements vscode.Disposable {
  private readonly types = new Map<string, vscode.TextEditorDecorationType>();
  private readonly states = new Map<string, ScoredRange>();
  private readonly applied = new Map<string, DecorationSnapshot>();
  private readonly subs: vscode.Disposable[] = [];
  private readonly staleEmitter = new vscode.EventEmitter<ScoredRange>();
  /** Fired (debounced by the caller) when a scored range went stale after an edit. */
  readonly onDidGoStale = this.staleEmitter.event;

  constructor(private metric: Metric) {
    for (const m of METRICS) for (const b of BUCKETS[m]) this.types.set(b.color, this.makeType(b.color));
    this.types.set(UNSCORED.color, this.makeType(UNSCORED.color));
    this.subs.push(
      vscode.workspace.onDidChangeTextDocument((e) => this.onEdit(e)),
      vscode.window.onDidChangeVisibleTextEditors((eds) => eds.forEach((ed) => this.render(ed))),
      vscode.workspace.onDidCloseTextDocument((d) => this.clear(d.uri)),
    );
  }

  private makeType(color: string): vscode.TextEditorDecorationType {
    return vscode.window.createTextEditorDecorationType({
      backgroundColor: new vscode.ThemeColor(color),
      rangeBehavior: vscode.DecorationRangeBehavior.ClosedClosed,
    });
  }

  get currentMetric(): Metric {
    return this.metric;
  }

  setMetric(metric: Metric): void {
    this.metric = metric;
    for (const ed of vscode.window.visibleTextEditors) this.render(ed);
  }

  set(doc: vscode.TextDocument, offset: number, context: 'none' | 'preceding', result: ScoreResult): ScoredRange {
    const s: ScoredRange = {
      uri: doc.uri.toString(),
      version: doc.version,
      offset,
      length: result.tokens.length ? Math.max(...result.tokens.map((t) => t.end)) : 0,
      context,
      result,
      valid: result.tokens.length,
      stale: false,
    };
    this.states.set(s.uri, s);
    for (const ed of vscode.window.visibleTextEditors) if (ed.document.uri.toString() === s.uri) this.render(ed);
    return s;
  }

  get(uri: vscode.Uri): ScoredRange | undefined {
    return this.states.get(uri.toString());
  }

  clear(uri?: vscode.Uri): void {
    const keys = uri ? [uri.toString()] : [...this.states.keys()];
    for (const k of keys) this.states.delete(k);
    for (const ed of vscode.window.visibleTextEditors) if (!uri || ed.document.uri.toString() === uri.toString()) this.render(ed);
  }

  /** The token under a document offset (valid tokens only). */
  tokenAt(doc: vscode.TextDocument, pos: vscode.Position): { state: ScoredRange; index: number; token: TokenScore } | null {
    const s = this.states.get(doc.uri.toString());
    if (!s) return null;
    const rel = doc.offsetAt(pos) - s.offset;
    const toks = s.result.tokens;
    let lo = 0;
    let hi = s.valid - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const t = toks[mid];
      if (rel < t.start) hi = mid - 1;
      else if (rel >= t.end) lo = mid + 1;
      else return { state: s, index: mid, token: t };
    }
    return null;
  }

  /** What the last render gave VS Code for this document (for tests and the status bar). */
  snapshot(uri: vscode.Uri): DecorationSnapshot | undefined {
    return this.applied.get(uri.toString());
  }

  private render(ed: vscode.TextEditor): void {
    const key = ed.document.uri.toString();
    const s = this.states.get(key);
    const perBucket = new Map<string, vscode.Range[]>();
    const offsets = new Map<string, [number, number][]>();
    for (const c of this.types.keys()) {
      perBucket.set(c, []);
      offsets.set(c, []);
    }
    if (s) {
      const doc = ed.document;
      for (let i = 0; i < s.valid; i++) {
        const t = s.result.tokens[i];
        const bi = bucketIndex(t, this.metric);
        const color = bi < 0 ? UNSCORED.color : BUCKETS[this.metric][bi].color;
        const a = s.offset + t.start;
        const b = s.offset + t.end;
        perBucket.get(color)!.push(new vscode.Range(doc.positionAt(a), doc.positionAt(b)));
        offsets.get(color)!.push([a, b]);
      }
    }
    // One call per decoration type: VS Code batches the whole bucket.
    for (const [color, type] of this.types) ed.setDecorations(type, perBucket.get(color)!);
    if (s) this.applied.set(key, { metric: this.metric, buckets: [...offsets].filter(([, r]) => r.length).map(([color, ranges]) => ({ color, ranges })) });
    else this.applied.delete(key);
  }

  private onEdit(e: vscode.TextDocumentChangeEvent): void {
    const key = e.document.uri.toString();
    const s = this.states.get(key);
    if (!s || e.contentChanges.length === 0) return;
    const end = s.offset + s.length;
    let minStart = Infinity;
    let maxEnd = -Infinity;
    let delta = 0;
    for (const c of e.contentChanges) {
      minStart = Math.min(minStart, c.rangeOffset);
      maxEnd = Math.max(maxEnd, c.rangeOffset + c.rangeLength);
      delta += c.text.length - c.rangeLength;
    }
    s.version = e.document.version;
    if (minStart > end) return; // entirely after the scored range: nothing changes
    if (maxEnd <= s.offset && !(maxEnd === s.offset && minStart === s.offset)) {
      // Entirely before: offsets shift; with the preceding text as context the scores are stale.
      s.offset += delta;
      if (s.context === 'preceding') {
        s.valid = 0;
        s.stale = true;
      }
    } else {
      // Inside (or touching) the range: tokens that end before the edit keep their scores.
      const rel = minStart - s.offset;
      let keep = 0;
      while (keep < s.valid && s.result.tokens[keep].end < rel) keep++;
      s.valid = Math.max(0, keep);
      s.length = Math.max(0, s.length + delta);
      s.stale = true;
    }
    for (const ed of vscode.window.visibleTextEditors) if (ed.document.uri.toString() === key) this.render(ed);
    if (s.stale) this.staleEmitter.fire(s);
  }

  dispose(): void {
    for (const t of this.types.values()) t.dispose();
    for (const d of this.subs) d.dispose();
    this.staleEmitter.dispose();
  }
}
