// Status bar: the model and device, the heatmap metric, and the NLL / perplexity of the last score.
import * as vscode from 'vscode';
import type { LoadedModel } from './engine';
import type { Metric } from '../view/buckets';
import type { ScoreResult } from '../core/scoring';
import { num } from '../view/format';

const METRIC_LABEL: Record<Metric, string> = { nll: 'NLL', rank: 'Rank (GLTR)', entropy: 'Entropy' };

export class StatusBar implements vscode.Disposable {
  private readonly model = vscode.window.createStatusBarItem('likelihoodLens.model', vscode.StatusBarAlignment.Right, 100);
  private readonly metric = vscode.window.createStatusBarItem('likelihoodLens.metric', vscode.StatusBarAlignment.Right, 99);
  private readonly score = vscode.window.createStatusBarItem('likelihoodLens.score', vscode.StatusBarAlignment.Right, 98);
  private busyCount = 0;
  private lastScore: string | null = null;

  constructor() {
    this.model.name = 'Likelihood Lens: model';
    this.model.command = 'likelihoodLens.selectModel';
    this.metric.name = 'Likelihood Lens: heatmap metric';
    this.metric.command = 'likelihoodLens.selectMetric';
    this.score.name = 'Likelihood Lens: last score';
    this.score.command = 'likelihoodLens.clearHeatmap';
    this.setModel(null, '');
    this.model.show();
  }

  setModel(m: LoadedModel | null, spec: string, note?: string): void {
    if (m) {
      this.model.text = `$(symbol-namespace) ${m.label} · ${m.device}`;
      this.model.tooltip = `Likelihood Lens model: ${m.info.dir}\nDevice: ${m.device}${m.info.providerNote ? `\n${m.info.providerNote}` : ''}\nClick to choose another model.`;
    } else {
      this.model.text = spec ? `$(symbol-namespace) ${spec.split(/[\\/]/).pop()} (not loaded)` : '$(symbol-namespace) no model';
      this.model.tooltip = spec ? `Likelihood Lens model: ${spec} (loads on first use)` : 'Likelihood Lens: no model set. Click to choose one.';
    }
    if (note) this.model.tooltip += `\n${note}`;
  }

  setMetric(metric: Metric): void {
    this.metric.text = `$(paintcan) ${METRIC_LABEL[metric]}`;
    this.metric.tooltip = 'Likelihood Lens heatmap metric: click to change';
  }

  setScore(r: ScoreResult | null): void {
    this.lastScore = r ? `$(graph) NLL ${num(r.nll, 1)} · ppl ${num(r.perplexity, 2)}` : null;
    this.score.tooltip = r
      ? `Last scored range: ${r.n_tokens} tokens, NLL ${num(r.nll, 3)} nats (${num(r.mean_nll, 3)} per token), perplexity ${num(r.perplexity, 3)}, ${num(r.bits_per_char, 3)} bits/char.\nClick to clear the heatmap.`
      : '';
    this.refresh();
  }

  busy(delta: 1 | -1): void {
    this.busyCount = Math.max(0, this.busyCount + delta);
    this.refresh();
  }

  private refresh(): void {
    if (this.busyCount > 0) {
      this.score.text = '$(sync~spin) Lens: scoring…';
      this.score.show();
    } else if (this.lastScore) {
      this.score.text = this.lastScore;
      this.score.show();
    } else this.score.hide();
  }

  showMetric(on: boolean): void {
    if (on) this.metric.show();
    else this.metric.hide();
  }

  dispose(): void {
    this.model.dispose();
    this.metric.dispose();
    this.score.dispose();
  }
}
