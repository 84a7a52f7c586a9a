// Integration tests in a real extension host. The model comes from LENS_TEST_MODEL (a folder the
// harness exported from ../shared's stories260K) or from the user's likelihoodLens.model setting.
import * as assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as vscode from 'vscode';
import type { LensApi } from '../../../src/extension/extension';
import type { ScoreResult } from '../../../src/core/scoring';
import type { CompareResult, PoeResult } from '../../../src/protocol/worker';
import type { RankEntry } from '../../../src/protocol/webview';
import type { ScoreEvent } from '../../../src/extension/commands';
import type { RenderedInfo } from '../../../src/extension/panel';
import { BUCKETS, bucketOf } from '../../../src/view/buckets';
import { num } from '../../../src/view/format';

const EXT_ID = 'likelihood-lens.likelihood-lens';
const STORY = 'Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her friends.';

function waitFor<T>(event: vscode.Event<T>, pred: (v: T) => boolean, ms: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      sub.dispose();
      reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
    }, ms);
    const sub = event((v) => {
      if (!pred(v)) return;
      clearTimeout(timer);
      sub.dispose();
      resolve(v);
    });
  });
}

async function openDoc(content: string): Promise<vscode.TextEditor> {
  const doc = await vscode.workspace.openTextDocument({ content, language: 'plaintext' });
  return vscode.window.showTextDocument(doc, vscode.ViewColumn.One);
}

function totalRanges(api: LensApi, uri: vscode.Uri): number {
  return (api.heatmap.snapshot(uri)?.buckets ?? []).reduce((s, b) => s + b.ranges.length, 0);
}

export function registerExtensionTests(): void {
  describe('Likelihood Lens in the extension host', function () {
    let api: LensApi;

    before(async function () {
      const ext = vscode.extensions.getExtension<LensApi>(EXT_ID);
      assert.ok(ext, `extension ${EXT_ID} is not installed in this host`);
      api = await ext.activate();
      const model = process.env.LENS_TEST_MODEL;
      if (model) await vscode.workspace.getConfiguration('likelihoodLens').update('model', model, vscode.ConfigurationTarget.Global);
      await vscode.workspace.getConfiguration('likelihoodLens').update('rescoreDelayMs', 150, vscode.ConfigurationTarget.Global);
      assert.ok(vscode.workspace.getConfiguration('likelihoodLens').get('model'), 'no model: set LENS_TEST_MODEL or likelihoodLens.model');
    });

    it('activates and registers every contributed command', async function () {
      const all = new Set(await vscode.commands.getCommands(true));
      const contributed = (vscode.extensions.getExtension(EXT_ID)!.packageJSON.contributes.commands as { command: string }[]).map((c) => c.command);
      assert.ok(contributed.length >= 12);
      for (const id of contributed) assert.ok(all.has(id), `${id} is not registered`);
    });

    let scored: { ed: vscode.TextEditor; r: ScoreResult; offset: number };

    it('scores a selection: one decoration range per token, in the right bucket and place', async function () {
      const ed = await openDoc(`A title line.\n${STORY}\n`);
      const offset = 'A title line.\n'.length;
      const doc = ed.document;
      ed.selection = new vscode.Selection(doc.positionAt(offset), doc.positionAt(offset + STORY.length));
      const r = await vscode.commands.executeCommand<ScoreResult>('likelihoodLens.scoreSelection', { context: 'none' });
      assert.ok(r, 'the command returned no result');
      assert.ok(r.tokens.length > 10);
      assert.equal(r.tokens.map((t) => t.text).join(''), STORY);
      const snap = api.heatmap.snapshot(doc.uri)!;
      assert.equal(snap.metric, 'nll');
      assert.equal(totalRanges(api, doc.uri), r.tokens.length);
      for (const b of snap.buckets) {
        for (const [a, e] of b.ranges) {
          const i = r.tokens.findIndex((t) => t.start + offset === a && t.end + offset === e);
          assert.ok(i >= 0, `range ${a}-${e} is no token's`);
          assert.equal(bucketOf(r.tokens[i], 'nll').color, b.color, `token ${i} in the wrong bucket`);
        }
      }
      scored = { ed, r, offset };
    });

    it('hovers show the token’s log-prob, rank, entropy and alternatives', async function () {
      const { ed, r, offset } = scored;
      for (const k of [0, 3, r.tokens.length - 1]) {
        const t = r.tokens[k];
        const pos = ed.document.positionAt(offset + t.start);
        const hovers = await vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', ed.document.uri, pos);
        const text = hovers.flatMap((h) => h.contents.map((c) => (typeof c === 'string' ? c : c.value))).join('\n');
        assert.match(text, /Likelihood Lens/);
        assert.ok(text.includes(`token ${k + 1} of ${r.tokens.length}`), text);
        assert.ok(text.includes(`log-prob: **${num(t.logprob!, 4)}**`), `hover for token ${k} lacks log-prob ${num(t.logprob!, 4)}:\n${text}`);
        assert.ok(text.includes(`rank ${t.rank}`));
        assert.ok(text.includes('command:likelihoodLens.branch?'), 'no branch links');
      }
    });

    it('switches the metric to GLTR rank buckets', async function () {
      const { ed, r } = scored;
      await vscode.commands.executeCommand('likelihoodLens.selectMetric', 'rank');
      const snap = api.heatmap.snapshot(ed.document.uri)!;
      assert.equal(snap.metric, 'rank');
      const rankColors = new Set(BUCKETS.rank.map((b) => b.color));
      for (const b of snap.buckets) assert.ok(rankColors.has(b.color), b.color);
      assert.equal(totalRanges(api, ed.document.uri), r.tokens.length);
      await vscode.commands.executeCommand('likelihoodLens.selectMetric', 'nll');
      assert.equal(api.heatmap.snapshot(ed.document.uri)!.metric, 'nll');
    });

    it('branches from a hover alternative: replaces the token and continues', async function () {
      const { ed, r, offset } = scored;
      const k = 5;
      const pos = ed.document.positionAt(offset + r.tokens[k].start);
      const hovers = await vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', ed.document.uri, pos);
      const md = hovers.flatMap((h) => h.contents.map((c) => (typeof c === 'string' ? c : c.value))).join('\n');
      const m = /command:likelihoodLens\.branch\?([^\s)]+)/.exec(md);
      assert.ok(m, 'no branch link');
      const args = JSON.parse(decodeURIComponent(m[1])) as [{ text: string; tokenIndex: number }];
      assert.equal(args[0].tokenIndex, k);
      const before = ed.document.getText().slice(0, offset + r.tokens[k].start);
      await vscode.workspace.getConfiguration('likelihoodLens').update('maxTokens', 8, vscode.ConfigurationTarget.Global);
      const out = await vscode.commands.executeCommand<{ text: string }>('likelihoodLens.branch', ...args);
      await vscode.workspace.getConfiguration('likelihoodLens').update('maxTokens', undefined, vscode.ConfigurationTarget.Global);
      assert.ok(out && out.text.startsWith(args[0].text));
      const now = ed.document.getText();
      assert.ok(now.startsWith(before + out.text), 'the alternative and its continuation are not in place');
    });

    it('an edit drops the scores from the edit on and re-scores in the background', async function () {
      const ed = await openDoc(STORY);
      const r = await vscode.commands.executeCommand<ScoreResult>('likelihoodLens.scoreSelection', { context: 'none' });
      assert.ok(r);
      const n = r.tokens.length;
      const at = STORY.indexOf('little');
      const rescored = waitFor<ScoreEvent>(api.commands.onDidScore, (e) => e.uri === ed.document.uri.toString() && e.rescore, 30_000, 'the re-score');
      const t0 = Date.now();
      await ed.edit((eb) => eb.insert(ed.document.positionAt(at), 'very '));
      const editMs = Date.now() - t0;
      const kept = totalRanges(api, ed.document.uri);
      assert.ok(kept > 0 && kept < n, `kept ${kept} of ${n}`);
      for (const b of api.heatmap.snapshot(ed.document.uri)!.buckets) for (const [, e] of b.ranges) assert.ok(e < at, 'a token after the edit kept its score');
      const e = await rescored;
      assert.equal(e.result.tokens.map((t) => t.text).join(''), ed.document.getText());
      assert.equal(totalRanges(api, ed.document.uri), e.result.tokens.length);
      assert.ok(editMs < 2000, `the edit took ${editMs} ms`);
    });

    it('scores given the text before the selection', async function () {
      const ed = await openDoc(`Lily had a cat.\n${STORY}`);
      const off = 'Lily had a cat.\n'.length;
      const r = await vscode.commands.executeCommand<ScoreResult>('likelihoodLens.scoreSelection', { range: [off, off + STORY.length], context: 'preceding' });
      assert.ok(r?.context, 'no context in the result');
      assert.equal(r.context.text, 'Lily had a cat.\n');
      assert.equal(r.tokens.map((t) => t.text).join(''), STORY);
      assert.equal(totalRanges(api, ed.document.uri), r.tokens.length);
      void ed;
    });

    it('PoE-continue: generated text with per-expert NLLs, shown in the panel and inserted', async function () {
      const ed = await openDoc('One day');
      ed.selection = new vscode.Selection(ed.document.positionAt(7), ed.document.positionAt(7));
      const rendered = waitFor<RenderedInfo>(api.panel.onDidRender, (x) => x.kind === 'poe', 30_000, 'the PoE view');
      const r = await vscode.commands.executeCommand<PoeResult & { inserted: boolean }>('likelihoodLens.poeContinue', {
        contexts: ['Lily loved her cat.', 'Tom played with a red ball.'],
        prompt: 'One day',
        insert: true,
        maxTokens: 16,
        temperature: 0,
      });
      assert.ok(r && r.text.length > 0, 'no continuation');
      assert.equal(r.nll_under.length, 2);
      assert.equal(r.experts.length, 2);
      for (let k = 0; k < 2; k++) {
        assert.ok(Number.isFinite(r.nll_under[k]) && r.nll_under[k] > 0);
        const sum = -r.tokens.reduce((s, t) => s + t.expert_logprobs[k], 0);
        assert.ok(Math.abs(sum - r.nll_under[k]) < 1e-6 * Math.max(1, sum), `expert ${k}: ${sum} vs ${r.nll_under[k]}`);
      }
      assert.ok(r.inserted);
      assert.equal(ed.document.getText(), 'One day' + r.text);
      const info = await rendered;
      assert.equal(info.tokens, r.tokens.length);
    });

    it('compare opens the panel with A, B, PoE and concatenation samples', async function () {
      const rendered = waitFor<RenderedInfo>(api.panel.onDidRender, (x) => x.kind === 'compare', 60_000, 'the compare view');
      const r = await vscode.commands.executeCommand<CompareResult>('likelihoodLens.compareContinuations', {
        contexts: ['Lily loved her cat.', 'Tom played with a red ball.'],
        prompt: 'One day',
        samples: 3,
        maxTokens: 8,
        seed: 7,
      });
      assert.ok(r);
      assert.deepEqual(r.methods.map((m) => m.name).sort(), ['A', 'B', 'concat', 'poe']);
      for (const m of r.methods) {
        assert.equal(m.samples.length, 3);
        for (const s of m.samples) assert.ok(s.nll_under.every((x) => Number.isFinite(x) && x >= 0));
      }
      await rendered;
      assert.ok(api.panel.isOpen);
      assert.equal(api.panel.view?.kind, 'compare');
      assert.deepEqual(api.panel.rejected, []);
      assert.deepEqual(api.panel.cspViolations, []);
    });

    it('ranks candidate answers by conditional NLL (as scoring each alone gives)', async function () {
      const question = 'Lily has a little cat. What does Lily have?';
      const candidates = ['a little cat', 'a big blue whale under the sea', 'zq xv jj'];
      const ranking = await vscode.commands.executeCommand<RankEntry[]>('likelihoodLens.rankCandidates', { question, candidates });
      assert.ok(ranking);
      assert.equal(ranking.length, 3);
      for (let i = 1; i < ranking.length; i++) assert.ok(ranking[i - 1].nll <= ranking[i].nll);
      const m = await api.engine.model();
      for (const e of ranking) {
        const alone = await api.engine.client.score({ model: m.info.handle, text: e.candidate, context: question, topK: 0 });
        assert.ok(Math.abs(alone.nll - e.nll) < 1e-3, `${e.candidate}: ${alone.nll} vs ${e.nll}`);
      }
    });

    it('exports the panel as JSON, CSV and SVG', async function () {
      await openDoc(STORY);
      const r = await vscode.commands.executeCommand<ScoreResult>('likelihoodLens.scoreSelection', { context: 'none' });
      assert.ok(r);
      await waitFor<RenderedInfo>(api.panel.onDidRender, (x) => x.kind === 'score', 20_000, 'the score view').catch(() => undefined);
      const dir = mkdtempSync(join(tmpdir(), 'lens-export-'));
      for (const f of ['json', 'csv', 'svg'] as const) {
        const uri = vscode.Uri.file(join(dir, `out.${f}`)).toString();
        const written = await vscode.commands.executeCommand<string>('likelihoodLens.export', { format: f, uri });
        assert.equal(written, uri);
      }
      const json = JSON.parse(readFileSync(join(dir, 'out.json'), 'utf8'));
      assert.equal(json.kind, 'score');
      assert.equal(json.result.tokens.length, r.tokens.length);
      const csv = readFileSync(join(dir, 'out.csv'), 'utf8').trimEnd().split('\r\n');
      assert.equal(csv[0], 'index,text,start,end,logprob,prob,rank,entropy,top');
      assert.equal(csv.length, r.tokens.length + 1);
      const svg = readFileSync(join(dir, 'out.svg'), 'utf8');
      assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
      assert.ok(svg.includes('<rect'), 'the histogram has no bars');
    });

    it('cancellation: VS Code’s token aborts the signal; “Cancel” stops a long score and the worker goes on', async function () {
      const cts = new vscode.CancellationTokenSource();
      const t = api.engine.track(cts.token);
      assert.equal(t.signal.aborted, false);
      cts.cancel();
      assert.equal(t.signal.aborted, true);
      t.done();

      const long = Array.from({ length: 600 }, (_, i) => `${STORY} (${i})`).join('\n');
      const ed = await openDoc(long);
      await api.engine.model();
      const pending = vscode.commands.executeCommand<ScoreResult | undefined>('likelihoodLens.scoreSelection', { range: [0, long.length], context: 'none' });
      const t0 = Date.now();
      while (api.engine.busy === 0 && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 10));
      assert.ok(api.engine.busy > 0, 'the score never started');
      await new Promise((r) => setTimeout(r, 200));
      const n = await vscode.commands.executeCommand<number>('likelihoodLens.cancel');
      const tc = Date.now();
      assert.ok(n >= 1);
      const r = await pending;
      const stopMs = Date.now() - tc;
      assert.equal(r, undefined, 'the cancelled score still returned a result');
      assert.ok(stopMs < 5000, `stopping took ${stopMs} ms`);
      assert.equal(api.heatmap.snapshot(ed.document.uri), undefined);
      const again = await vscode.commands.executeCommand<ScoreResult>('likelihoodLens.scoreSelection', { range: [0, STORY.length], context: 'none' });
      assert.ok(again && again.tokens.length > 0, 'the worker did not answer after the cancel');
    });

    it('a worker crash is reported, and the next command restarts it', async function () {
      const crashed = waitFor<string>(api.engine.onDidCrash, () => true, 20_000, 'the crash report');
      void api.engine.client.call('crash', {}).catch(() => undefined);
      const why = await crashed;
      assert.ok(why.length > 0);
      await openDoc(STORY);
      const r = await vscode.commands.executeCommand<ScoreResult>('likelihoodLens.scoreSelection', { context: 'none' });
      assert.ok(r && r.tokens.length > 0, 'no score after the restart');
      assert.ok(api.engine.client.crashes >= 1);
    });

    it('select device: CUDA loads, or falls back to the CPU with a note that says why', async function () {
      await openDoc(STORY);
      try {
        const got = await vscode.commands.executeCommand<string>('likelihoodLens.selectDevice', 'cuda');
        const cur = api.engine.current;
        assert.ok(cur, 'no model loaded after selecting the device');
        if (got === 'cuda') assert.equal(cur.device, 'cuda');
        else {
          assert.equal(got, 'cpu');
          assert.match(cur.info.providerNote ?? '', /cuda/i);
        }
        const r = await vscode.commands.executeCommand<ScoreResult>('likelihoodLens.scoreSelection', { context: 'none' });
        assert.ok(r && r.tokens.length > 0);
      } finally {
        await vscode.commands.executeCommand('likelihoodLens.selectDevice', 'cpu');
      }
      assert.equal(api.engine.current?.device, 'cpu');
    });

    it('a Hugging Face id goes to the Hub resolver (offline here: a clear error, no download)', async function () {
      if (process.env.HF_HUB_OFFLINE !== '1') this.skip();
      const c = vscode.workspace.getConfiguration('likelihoodLens');
      const old = c.inspect<string>('model')?.globalValue;
      await c.update('model', 'lens-test-org/no-such-model', vscode.ConfigurationTarget.Global);
      try {
        await assert.rejects(api.engine.model(), (e: Error & { code?: string }) => e.code === 'offline' && /lens-test-org\/no-such-model/.test(e.message));
      } finally {
        await c.update('model', old, vscode.ConfigurationTarget.Global);
      }
    });

    it('a bad model setting gives a clear error and the command does not throw', async function () {
      const c = vscode.workspace.getConfiguration('likelihoodLens');
      const old = c.inspect<string>('model')?.globalValue;
      await c.update('model', '/nonexistent/lens-model', vscode.ConfigurationTarget.Global);
      try {
        await openDoc(STORY);
        const r = await vscode.commands.executeCommand('likelihoodLens.scoreSelection', { context: 'none' });
        assert.equal(r, undefined);
        await assert.rejects(api.engine.model(), /Model folder not found: \/nonexistent\/lens-model/);
      } finally {
        await c.update('model', old, vscode.ConfigurationTarget.Global);
      }
    });
  });
}
