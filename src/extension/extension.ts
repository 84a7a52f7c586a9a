// Likelihood Lens for VS Code: the entry point. Wires the engine (a worker thread running ONNX
// Runtime), the editor heatmap and hovers, the webview panel, the status bar and the commands.
import * as vscode from 'vscode';
import { Engine, showError } from './engine';
import { Heatmap } from './heatmap';
import { ScoreHover } from './hover';
import { LensPanel } from './panel';
import { StatusBar } from './status';
import { Commands } from './commands';
import * as cfg from './config';

/** What activate() returns: for integration tests and for other extensions. */
export interface LensApi {
  engine: Engine;
  heatmap: Heatmap;
  panel: LensPanel;
  commands: Commands;
}

export function activate(context: vscode.ExtensionContext): LensApi {
  const engine = new Engine(context.extensionPath);
  const heatmap = new Heatmap(cfg.metricSetting());
  const status = new StatusBar();
  status.setMetric(cfg.metricSetting());
  status.setModel(null, cfg.modelSetting());
  let commands: Commands | undefined;
  const panel = new LensPanel(context.extensionUri, {
    onMetric: (m) => void commands?.selectMetric(m).catch((e) => showError('Select metric', e)),
    onReveal: (i) => commands?.reveal(i),
    onExport: (format) => void vscode.commands.executeCommand('likelihoodLens.export', { format }),
  });
  commands = new Commands(context, engine, heatmap, panel, status);
  context.subscriptions.push(
    engine,
    heatmap,
    status,
    panel,
    commands,
    ...commands.register(),
    vscode.languages.registerHoverProvider({ scheme: '*' }, new ScoreHover(heatmap)),
    engine.onDidChangeModel((m) => status.setModel(m, cfg.modelSetting())),
    engine.onDidCrash((why) => {
      void vscode.window.showWarningMessage(`Likelihood Lens: the inference worker stopped (${why}). It restarts and reloads the model on the next request.`);
      status.setModel(null, cfg.modelSetting(), 'The worker restarted after a crash.');
    }),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('likelihoodLens.model') || e.affectsConfiguration('likelihoodLens.device') || e.affectsConfiguration('likelihoodLens.threads')) {
        void engine.reset();
        status.setModel(null, cfg.modelSetting());
      }
      if (e.affectsConfiguration('likelihoodLens.metric')) commands!.applyMetric(cfg.metricSetting());
    }),
    vscode.workspace.onDidGrantWorkspaceTrust(() => {
      void engine.reset();
      status.setModel(null, cfg.modelSetting());
    }),
  );
  return { engine, heatmap, panel, commands };
}

export function deactivate(): void {
  // Disposables registered in activate() stop the worker.
}
