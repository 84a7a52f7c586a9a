// The commands. Each one catches its errors and shows them (the extension host never sees a throw),
// honours cancellation (progress notification, “Cancel” command) and returns its result so that
// tests and other extensions can use it. Arguments are optional: without them a command asks.
import * as vscode from 'vscode';
import { LensError, isLensError } from '../core/errors';
import type { ScoreResult } from '../core/scoring';
import type { CompareResult, PoeResult } from '../protocol/worker';
import type { RankEntry, ExportFormat } from '../protocol/webview';
import { isMetric, type Metric } from '../view/buckets';
import { num, summaryLine } from '../view/format';
import { embeddedModels, showError, type Engine } from './engine';
import type { Heatmap, ScoredRange } from './heatmap';
import type { LensPanel } from './panel';
import type { StatusBar } from './status';
import { ContextStore, pickTwoContexts } from './contexts';
import type { BranchArgs } from './hover';
import * as cfg from './config';

export interface ScoreArgs {
  uri?: string;
  /** Document offsets [start, end) to score; default: the selection, or the whole document. */
  range?: [number, number];
  context?: 'none' | 'preceding';
}

export interface PoeArgs {
  contexts?: [string, string];
  prompt?: string;
  /** true: insert without asking; false: never insert; default: ask. */
  insert?: boolean;
  maxTokens?: number;
  temperature?: number;
  seed?: number;
}

export interface CompareArgs {
  contexts?: [string, string];
  prompt?: string;
  samples?: number;
  maxTokens?: number;
  temperature?: number;
  seed?: number;
}

export interface RankArgs {
  question?: string;
  candidates?: string[];
}

export interface ExportArgs {
  format?: ExportFormat;
  uri?: string;
}

export interface ScoreEvent {
  uri: string;
  result: ScoreResult;
  rescore: boolean;
}

function editorFor(uri?: string): vscode.TextEditor | undefined {
  if (uri) return vscode.window.visibleTextEditors.find((e) => e.document.uri.toString() === uri);
  return vscode.window.activeTextEditor;
}

function randomSeed(): number {
  return Math.floor(Math.random() * 2 ** 31);
}

export class Commands implements vscode.Disposable {
  private readonly scored = new vscode.EventEmitter<ScoreEvent>();
  readonly onDidScore = this.scored.event;
  private readonly store: ContextStore;
  private readonly rescoreTimers = new Map<string, ReturnType<typeof setTimeout>>();
  private readonly rescoreRuns = new Map<string, AbortController>();
  /** The document whose score the panel shows (for “reveal token”). */
  private panelDoc: { uri: string; offset: number } | null = null;

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly engine: Engine,
    private readonly heatmap: Heatmap,
    private readonly panel: LensPanel,
    private readonly status: StatusBar,
  ) {
    this.store = new ContextStore(context.globalState);
    context.subscriptions.push(heatmap.onDidGoStale((s) => this.scheduleRescore(s)));
  }

  /** Registers every command; each is wrapped so that errors are shown, never thrown. */
  register(): vscode.Disposable[] {
    const wrap =
      <A extends unknown[], R>(what: string, fn: (...a: A) => Promise<R>) =>
      async (...a: A): Promise<R | undefined> => {
        try {
          return await fn(...a);
        } catch (e) {
          if (isLensError(e) && e.code === 'aborted') return undefined;
          showError(what, e);
          return undefined;
        }
      };
    const c = (id: string, what: string, fn: (...a: never[]) => Promise<unknown>) => vscode.commands.registerCommand(id, wrap(what, fn as (...a: unknown[]) => Promise<unknown>));
    return [
      c('likelihoodLens.scoreSelection', 'Score', (a?: ScoreArgs) => this.scoreSelection(a)),
      c('likelihoodLens.clearHeatmap', 'Clear', async () => this.clear()),
      c('likelihoodLens.poeContinue', 'Product-of-Experts continue', (a?: PoeArgs) => this.poeContinue(a)),
      c('likelihoodLens.compareContinuations', 'Compare continuations', (a?: CompareArgs) => this.compare(a)),
      c('likelihoodLens.rankCandidates', 'Rank candidates', (a?: RankArgs) => this.rank(a)),
      c('likelihoodLens.selectModel', 'Select model', (spec?: string) => this.selectModel(spec)),
      c('likelihoodLens.selectDevice', 'Select device', (d?: string) => this.selectDevice(d)),
      c('likelihoodLens.selectMetric', 'Select metric', (m?: string) => this.selectMetric(m)),
      c('likelihoodLens.export', 'Export', (a?: ExportArgs) => this.export(a)),
      c('likelihoodLens.cancel', 'Cancel', async () => this.cancel()),
      c('likelihoodLens.saveContext', 'Save context', () => this.saveContext()),
      c('likelihoodLens.branch', 'Branch', (a: BranchArgs) => this.branch(a)),
    ];
  }

  // ---- scoring ---------------------------------------------------------------------------------

  async scoreSelection(args: ScoreArgs = {}): Promise<ScoreResult | undefined> {
    const ed = editorFor(args.uri);
    if (!ed) throw new LensError('bad-argument', 'Open a text editor to score its selection or the whole document.');
    const doc = ed.document;
    let start: number;
    let end: number;
    if (args.range) [start, end] = args.range;
    else if (!ed.selection.isEmpty) [start, end] = [doc.offsetAt(ed.selection.start), doc.offsetAt(ed.selection.end)];
    else [start, end] = [0, doc.getText().length];
    if (!(Number.isInteger(start) && Number.isInteger(end) && 0 <= start && start <= end)) throw new LensError('bad-argument', `Bad range ${start}–${end}.`);
    const text = doc.getText(new vscode.Range(doc.positionAt(start), doc.positionAt(end)));
    if (text.length === 0) throw new LensError('empty-text', 'Nothing to score: the selection is empty.');
    let mode: 'none' | 'preceding' = 'none';
    if (start > 0) {
      const wanted = args.context ?? cfg.contextModeSetting();
      if (wanted === 'ask') {
        const pick = await vscode.window.showQuickPick(
          [
            { label: '$(circle-slash) No context', description: 'score the selection on its own', mode: 'none' as const },
            { label: '$(arrow-up) Text before the selection', description: `condition on up to ${cfg.maxContextCharsSetting()} characters before it`, mode: 'preceding' as const },
          ],
          { title: 'Likelihood Lens: score with which context?', placeHolder: 'Context for the selection (setting: likelihoodLens.scoreContext)' },
        );
        if (!pick) return undefined;
        mode = pick.mode;
      } else mode = wanted;
    }
    return this.runScore(doc, start, text, mode, false);
  }

  private contextBefore(doc: vscode.TextDocument, start: number): string {
    const from = Math.max(0, start - cfg.maxContextCharsSetting());
    return doc.getText(new vscode.Range(doc.positionAt(from), doc.positionAt(start)));
  }

  private async runScore(doc: vscode.TextDocument, start: number, text: string, mode: 'none' | 'preceding', rescore: boolean, signal?: AbortSignal): Promise<ScoreResult | undefined> {
    const version = doc.version;
    const context = mode === 'preceding' ? this.contextBefore(doc, start) : undefined;
    const work = async (sig: AbortSignal, report?: (m: string, inc?: number) => void) => {
      const m = await this.engine.model(sig, report ? (msg) => report(msg) : undefined);
      this.status.setModel(m, m.spec);
      report?.(`${text.length} characters with ${m.label}`);
      let last = 0;
      return this.engine.client.score(
        { model: m.info.handle, text, context: context || undefined, separator: context ? '' : undefined, topK: cfg.topKSetting() },
        {
          signal: sig,
          onProgress: (done, total) => {
            const pct = (100 * done) / Math.max(1, total);
            report?.(`${done} / ${total} tokens`, pct - last);
            last = pct;
          },
        },
      );
    };
    this.status.busy(1);
    let r: ScoreResult | undefined;
    try {
      if (rescore) {
        // Background re-score: no notification; cancelled by a newer edit or by “Cancel”.
        const t = this.engine.track();
        try {
          r = await work(anySignal(t.signal, signal));
        } catch (e) {
          if (!(isLensError(e) && e.code === 'aborted')) throw e;
        } finally {
          t.done();
        }
      } else {
        r = await this.engine.withProgress(`Likelihood Lens: scoring`, work);
      }
    } finally {
      this.status.busy(-1);
    }
    if (!r) {
      if (!rescore) void vscode.window.setStatusBarMessage('Likelihood Lens: scoring cancelled', 4000);
      return undefined;
    }
    if (doc.isClosed) return r;
    if (doc.version !== version) {
      // The text changed while the worker scored it: keep nothing stale, score again.
      const s = this.heatmap.set(doc, start, mode, r);
      s.valid = 0;
      s.stale = true;
      this.scheduleRescore(s);
      return r;
    }
    this.heatmap.set(doc, start, mode, r);
    this.status.setScore(r);
    this.status.showMetric(true);
    const view = { kind: 'score' as const, title: `${vscode.workspace.asRelativePath(doc.uri)} · ${mode === 'preceding' ? 'given the preceding text' : 'no context'}`, metric: this.heatmap.currentMetric, result: r };
    if (rescore) {
      // A background re-score refreshes the panel only if it shows this document.
      if (this.panelDoc?.uri === doc.uri.toString() && this.panel.view?.kind === 'score') {
        this.panelDoc = { uri: doc.uri.toString(), offset: start };
        this.panel.update(view);
      }
    } else if (cfg.openPanelSetting()) {
      this.panelDoc = { uri: doc.uri.toString(), offset: start };
      this.panel.show(view);
    }
    this.scored.fire({ uri: doc.uri.toString(), result: r, rescore });
    return r;
  }

  private scheduleRescore(s: ScoredRange): void {
    if (!cfg.rescoreOnEditSetting()) return;
    const key = s.uri;
    clearTimeout(this.rescoreTimers.get(key));
    this.rescoreRuns.get(key)?.abort();
    this.rescoreTimers.set(
      key,
      setTimeout(() => {
        this.rescoreTimers.delete(key);
        const doc = vscode.workspace.textDocuments.find((d) => d.uri.toString() === key);
        const cur = this.heatmap.get(vscode.Uri.parse(key));
        if (!doc || !cur || cur !== s || !s.stale) return;
        const end = Math.min(doc.getText().length, s.offset + s.length);
        const text = doc.getText(new vscode.Range(doc.positionAt(s.offset), doc.positionAt(end)));
        if (!text) {
          this.heatmap.clear(doc.uri);
          return;
        }
        const ac = new AbortController();
        this.rescoreRuns.set(key, ac);
        this.runScore(doc, s.offset, text, s.context, true, ac.signal)
          .catch((e) => {
            if (!(isLensError(e) && e.code === 'aborted')) showError('Re-score after edit', e);
          })
          .finally(() => {
            if (this.rescoreRuns.get(key) === ac) this.rescoreRuns.delete(key);
          });
      }, cfg.rescoreDelaySetting()),
    );
  }

  private async clear(): Promise<void> {
    const ed = vscode.window.activeTextEditor;
    this.heatmap.clear(ed?.document.uri);
    this.status.setScore(null);
  }

  // ---- branching from a hover ----------------------------------------------------------------

  async branch(a: BranchArgs): Promise<{ text: string } | undefined> {
    if (!a || typeof a.uri !== 'string' || typeof a.text !== 'string' || !Number.isInteger(a.tokenIndex)) throw new LensError('bad-argument', 'Malformed branch request.');
    const ed = vscode.window.visibleTextEditors.find((e) => e.document.uri.toString() === a.uri);
    const s = ed && this.heatmap.get(ed.document.uri);
    if (!ed || !s) throw new LensError('bad-argument', 'The scored document is no longer open.');
    const doc = ed.document;
    if (doc.version !== a.version || a.tokenIndex >= s.valid) throw new LensError('bad-argument', 'The text changed since this hover was shown; hover the token again.');
    const t = s.result.tokens[a.tokenIndex];
    const tokStart = s.offset + t.start;
    const prefix = this.contextBefore(doc, tokStart) + a.text;
    const out = await this.engine.withProgress('Likelihood Lens: branching', async (signal, report) => {
      const m = await this.engine.model(signal, report);
      let acc = '';
      const r = await this.engine.client.generate(
        { model: m.info.handle, prompt: prefix, maxTokens: cfg.maxTokensSetting(), sampling: { temperature: cfg.temperatureSetting(), seed: randomSeed() } },
        {
          signal,
          onEvent: (e) => {
            acc += e.text;
            report(acc.slice(-60));
          },
        },
      );
      return r.text;
    });
    if (out === undefined) return undefined;
    if (doc.version !== a.version) throw new LensError('bad-argument', 'The text changed while generating; nothing was replaced.');
    const endOff = s.offset + s.length;
    const replaced = a.text + out;
    await ed.edit((eb) => eb.replace(new vscode.Range(doc.positionAt(tokStart), doc.positionAt(endOff)), replaced));
    return { text: replaced };
  }

  // ---- Product of Experts ------------------------------------------------------------------------

  private promptFromEditor(ed: vscode.TextEditor | undefined): { prompt: string; at: vscode.Position | null } {
    if (!ed) return { prompt: '', at: null };
    const doc = ed.document;
    if (!ed.selection.isEmpty) return { prompt: doc.getText(ed.selection), at: ed.selection.end };
    const end = doc.offsetAt(ed.selection.active);
    const start = Math.max(0, end - Math.min(1000, cfg.maxContextCharsSetting()));
    return { prompt: doc.getText(new vscode.Range(doc.positionAt(start), doc.positionAt(end))), at: ed.selection.active };
  }

  async poeContinue(args: PoeArgs = {}): Promise<(PoeResult & { inserted: boolean }) | undefined> {
    const ed = vscode.window.activeTextEditor;
    const fromEd = this.promptFromEditor(ed);
    const prompt = args.prompt ?? fromEd.prompt;
    const contexts = args.contexts ?? (await pickTwoContexts(this.store, ed?.document.uri));
    if (!contexts) return undefined;
    if (contexts.some((c) => typeof c !== 'string')) throw new LensError('bad-argument', 'Both contexts must be text.');
    const r = await this.engine.withProgress('Likelihood Lens: Product-of-Experts continuation', async (signal, report) => {
      const m = await this.engine.model(signal, report);
      let acc = '';
      return this.engine.client.poe(
        {
          model: m.info.handle,
          contexts: [...contexts],
          prompt,
          maxTokens: args.maxTokens ?? cfg.maxTokensSetting(),
          sampling: { temperature: args.temperature ?? cfg.temperatureSetting(), seed: args.seed ?? randomSeed() },
        },
        {
          signal,
          onEvent: (e) => {
            acc += e.text;
            report(`“${acc.slice(-60)}”`);
          },
        },
      );
    });
    if (!r) return undefined;
    if (cfg.openPanelSetting()) this.panel.show({ kind: 'poe', title: 'Product-of-Experts continuation', prompt, contexts: [...contexts], metric: this.heatmap.currentMetric, result: r });
    const nlls = r.nll_under.map((v, i) => `${r.experts[i] ?? `expert ${i + 1}`}: ${num(v, 2)} nats`).join(', ');
    let insert = args.insert;
    const target = ed && ed.document === vscode.window.activeTextEditor?.document ? ed : undefined;
    if (insert === undefined) {
      const choice = await vscode.window.showInformationMessage(`PoE continuation (${r.tokens.length} tokens): “${r.text.slice(0, 200)}” — NLL under ${nlls}`, ...(target ? ['Insert'] : []), 'Copy');
      if (choice === 'Copy') await vscode.env.clipboard.writeText(r.text);
      insert = choice === 'Insert';
    }
    let inserted = false;
    if (insert && target && fromEd.at) {
      inserted = await target.edit((eb) => eb.insert(fromEd.at!, r.text));
    }
    return { ...r, inserted };
  }

  async compare(args: CompareArgs = {}): Promise<CompareResult | undefined> {
    const ed = vscode.window.activeTextEditor;
    const prompt = args.prompt ?? this.promptFromEditor(ed).prompt;
    const contexts = args.contexts ?? (await pickTwoContexts(this.store, ed?.document.uri));
    if (!contexts) return undefined;
    const samples = args.samples ?? cfg.compareSamplesSetting();
    const r = await this.engine.withProgress('Likelihood Lens: comparing continuations', async (signal, report) => {
      const m = await this.engine.model(signal, report);
      let last = 0;
      return this.engine.client.compare(
        {
          model: m.info.handle,
          contexts,
          prompt,
          samples,
          maxTokens: args.maxTokens ?? cfg.maxTokensSetting(),
          sampling: { temperature: args.temperature ?? cfg.temperatureSetting(), seed: args.seed ?? randomSeed() },
        },
        {
          signal,
          onProgress: (done, total) => {
            const pct = (100 * done) / total;
            report(`${done} / ${total} samples`, pct - last);
            last = pct;
          },
        },
      );
    });
    if (!r) return undefined;
    this.panel.show({ kind: 'compare', title: 'A alone · B alone · PoE · concatenation', prompt, contexts, result: r }, false);
    return r;
  }

  // ---- ranking -----------------------------------------------------------------------------------

  async rank(args: RankArgs = {}): Promise<RankEntry[] | undefined> {
    const ed = vscode.window.activeTextEditor;
    let candidates = args.candidates;
    if (!candidates) {
      if (!ed || ed.selection.isEmpty) throw new LensError('bad-argument', 'Select two or more lines: one candidate answer per line.');
      candidates = ed.document
        .getText(ed.selection)
        .split(/\r?\n/)
        .map((l) => l.trim())
        .filter(Boolean);
    }
    if (candidates.length < 2) throw new LensError('bad-argument', 'Ranking needs two or more candidates (one per selected line).');
    let question = args.question;
    if (question === undefined) {
      let above = '';
      if (ed) for (let l = ed.selection.start.line - 1; l >= 0 && !above; l--) above = ed.document.lineAt(l).text.trim();
      question = await vscode.window.showInputBox({ title: 'Likelihood Lens: rank candidates', prompt: 'The question (or context) the candidates answer', value: above, ignoreFocusOut: true });
      if (question === undefined) return undefined;
    }
    const q = question;
    const cands = candidates;
    const r = await this.engine.withProgress('Likelihood Lens: ranking candidates', async (signal, report) => {
      const m = await this.engine.model(signal, report);
      return this.engine.client.scoreContinuations({ model: m.info.handle, context: q, candidates: cands, topK: 0 }, { signal });
    });
    if (!r) return undefined;
    const ranking: RankEntry[] = r.results
      .map((s, i) => ({ candidate: cands[i], nll: s.nll, tokens: s.n_tokens, meanNll: s.mean_nll }))
      .sort((x, y) => x.nll - y.nll);
    if (cfg.openPanelSetting()) this.panel.show({ kind: 'rank', title: 'Candidates ranked by −log p(answer | question)', question: q, ranking });
    if (!args.candidates) void vscode.window.showInformationMessage(`Most likely answer: “${ranking[0].candidate}” (NLL ${num(ranking[0].nll, 2)} nats)`);
    return ranking;
  }

  // ---- model, device, metric ---------------------------------------------------------------------

  async selectModel(spec?: string): Promise<string | undefined> {
    let value = spec;
    if (value === undefined) {
      type Item = vscode.QuickPickItem & { act: 'embedded' | 'folder' | 'hub'; dir?: string };
      const items: Item[] = [
        ...embeddedModels(this.context.extensionPath).map((m) => ({ label: `$(package) ${m.name}`, description: 'embedded', act: 'embedded' as const, dir: m.name })),
        { label: '$(folder-opened) Choose a model folder…', description: 'config.json + tokenizer.json + ONNX', act: 'folder' },
        { label: '$(cloud) Hugging Face id…', description: 'org/name[@revision]', act: 'hub' },
      ];
      const pick = await vscode.window.showQuickPick(items, { title: 'Likelihood Lens: model', placeHolder: `Current: ${cfg.modelSetting() || 'none'}` });
      if (!pick) return undefined;
      if (pick.act === 'embedded') value = pick.dir;
      else if (pick.act === 'folder') {
        const uris = await vscode.window.showOpenDialog({ canSelectFiles: false, canSelectFolders: true, openLabel: 'Use this model folder' });
        if (!uris?.length) return undefined;
        value = uris[0].fsPath;
      } else {
        value = await vscode.window.showInputBox({ title: 'Hugging Face model id', prompt: 'org/name or org/name@revision (an ONNX export)', ignoreFocusOut: true });
        if (!value) return undefined;
      }
    }
    await cfg.setUserSetting('model', value);
    await this.engine.reset();
    const m = await this.engine.withProgress('Likelihood Lens: loading the model', (signal, report) => this.engine.model(signal, report));
    if (m) this.status.setModel(m, m.spec);
    return value;
  }

  async selectDevice(device?: string): Promise<string | undefined> {
    let d = device;
    if (d === undefined) {
      const pick = await vscode.window.showQuickPick(
        [
          { label: 'cpu', description: 'ONNX Runtime CPU (always available)' },
          { label: 'cuda', description: 'NVIDIA GPU; falls back to CPU with a note when the CUDA provider cannot load' },
          { label: 'webgpu', description: 'WebGPU where ONNX Runtime has it (same numbers; slower than the CPU for small models today); falls back to CPU with a note' },
        ],
        { title: 'Likelihood Lens: device', placeHolder: `Current: ${cfg.deviceSetting()}` },
      );
      if (!pick) return undefined;
      d = pick.label;
    }
    if (d !== 'cpu' && d !== 'cuda' && d !== 'webgpu') throw new LensError('bad-argument', `Unknown device ${JSON.stringify(d)} (cpu, cuda or webgpu).`);
    await cfg.setUserSetting('device', d);
    await this.engine.reset();
    if (cfg.modelSetting()) {
      const m = await this.engine.withProgress('Likelihood Lens: loading the model', (signal, report) => this.engine.model(signal, report));
      if (m) this.status.setModel(m, m.spec, m.info.providerNote ?? undefined);
      return m?.device;
    }
    return d;
  }

  async selectMetric(metric?: string): Promise<Metric | undefined> {
    let m = metric;
    if (m === undefined) {
      const pick = await vscode.window.showQuickPick(
        [
          { label: 'nll', description: 'surprisal −log p (nats)' },
          { label: 'rank', description: 'GLTR buckets: top-10 / top-100 / top-1000 / rest' },
          { label: 'entropy', description: 'entropy of the predictive distribution (nats)' },
        ],
        { title: 'Likelihood Lens: heatmap metric' },
      );
      if (!pick) return undefined;
      m = pick.label;
    }
    if (!isMetric(m)) throw new LensError('bad-argument', `Unknown metric ${JSON.stringify(m)} (nll, rank or entropy).`);
    await cfg.setUserSetting('metric', m);
    this.applyMetric(m);
    return m;
  }

  applyMetric(m: Metric): void {
    this.heatmap.setMetric(m);
    this.panel.setMetric(m);
    this.status.setMetric(m);
  }

  /** From the webview: select the token in its editor. */
  reveal(tokenIndex: number): void {
    const v = this.panel.view;
    if (!this.panelDoc || v?.kind !== 'score' || tokenIndex >= v.result.tokens.length) return;
    const ed = vscode.window.visibleTextEditors.find((e) => e.document.uri.toString() === this.panelDoc!.uri);
    if (!ed) return;
    const t = v.result.tokens[tokenIndex];
    const r = new vscode.Range(ed.document.positionAt(this.panelDoc.offset + t.start), ed.document.positionAt(this.panelDoc.offset + t.end));
    ed.selection = new vscode.Selection(r.start, r.end);
    ed.revealRange(r, vscode.TextEditorRevealType.InCenterIfOutsideViewport);
  }

  // ---- export, cancel, contexts ----------------------------------------------------------------

  async export(args: ExportArgs = {}): Promise<string | undefined> {
    if (!this.panel.view) throw new LensError('bad-argument', 'Nothing to export: score a text or compare continuations first.');
    let format = args.format;
    if (!format) {
      const pick = await vscode.window.showQuickPick(['json', 'csv', 'svg'], { title: 'Likelihood Lens: export as' });
      if (!pick) return undefined;
      format = pick as ExportFormat;
    }
    if (format !== 'json' && format !== 'csv' && format !== 'svg') throw new LensError('bad-argument', `Unknown export format ${JSON.stringify(format)}.`);
    const content = format === 'svg' ? await this.panel.svg() : this.panel.exportText(format);
    if (!content) throw new LensError('bad-argument', `The current view has nothing to export as ${format.toUpperCase()}.`);
    let uri = args.uri ? vscode.Uri.parse(args.uri) : undefined;
    if (!uri) {
      uri = await vscode.window.showSaveDialog({ filters: { [format.toUpperCase()]: [format] }, saveLabel: 'Export', title: 'Likelihood Lens: export' });
      if (!uri) return undefined;
    }
    await vscode.workspace.fs.writeFile(uri, new TextEncoder().encode(content));
    if (!args.uri) void vscode.window.showInformationMessage(`Likelihood Lens: exported to ${uri.fsPath}`);
    return uri.toString();
  }

  cancel(): number {
    const n = this.engine.cancelAll();
    for (const ac of this.rescoreRuns.values()) ac.abort();
    if (n === 0) void vscode.window.setStatusBarMessage('Likelihood Lens: nothing to cancel', 3000);
    return n;
  }

  async saveContext(): Promise<string | undefined> {
    const ed = vscode.window.activeTextEditor;
    if (!ed || ed.selection.isEmpty) throw new LensError('bad-argument', 'Select the text to save as a context.');
    const text = ed.document.getText(ed.selection);
    const name = await vscode.window.showInputBox({ title: 'Likelihood Lens: save context', prompt: 'A name for this context', value: text.replace(/\s+/g, ' ').slice(0, 40) });
    if (!name) return undefined;
    await this.store.save({ name, text });
    return name;
  }

  summary(r: ScoreResult): string {
    return summaryLine(r);
  }

  dispose(): void {
    for (const t of this.rescoreTimers.values()) clearTimeout(t);
    for (const ac of this.rescoreRuns.values()) ac.abort();
    this.scored.dispose();
  }
}

/** An AbortSignal that aborts when any of the given ones does. */
function anySignal(...signals: (AbortSignal | undefined)[]): AbortSignal {
  const ac = new AbortController();
  for (const s of signals) {
    if (!s) continue;
    if (s.aborted) ac.abort();
    else s.addEventListener('abort', () => ac.abort(), { once: true });
  }
  return ac.signal;
}
