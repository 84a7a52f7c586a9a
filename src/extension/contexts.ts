// Choosing the contexts of a Product of Experts: typed text, the clipboard, another open editor,
// a file, or a saved context (saved with “Save Selection as Context”, and every typed context).
import * as vscode from 'vscode';
import { LensError } from '../core/errors';

export interface SavedContext {
  name: string;
  text: string;
}

const KEY = 'likelihoodLens.savedContexts';
const MAX_SAVED = 20;
/** Longest context read from a file (characters). */
const MAX_FILE_CHARS = 200_000;

export class ContextStore {
  constructor(private readonly memento: vscode.Memento) {}

  list(): SavedContext[] {
    const v = this.memento.get<unknown>(KEY);
    if (!Array.isArray(v)) return [];
    return v.filter((c): c is SavedContext => typeof c?.name === 'string' && typeof c?.text === 'string');
  }

  async save(c: SavedContext): Promise<void> {
    const rest = this.list().filter((x) => x.name !== c.name);
    await this.memento.update(KEY, [c, ...rest].slice(0, MAX_SAVED));
  }
}

function preview(text: string, n = 60): string {
  const one = text.replace(/\s+/g, ' ').trim();
  return one.length > n ? `${one.slice(0, n - 1)}…` : one;
}

type Source = 'typed' | 'clipboard' | 'editor' | 'file' | 'saved';

/** Asks for one context; undefined when the user backs out. */
export async function pickContext(label: string, store: ContextStore, exclude?: vscode.Uri): Promise<{ text: string; name: string } | undefined> {
  const items: (vscode.QuickPickItem & { source: Source; saved?: SavedContext })[] = [
    { label: '$(edit) Type a context…', source: 'typed' },
    // The clipboard is read only when chosen (in a browser, reading it asks for permission).
    { label: '$(clippy) Clipboard', source: 'clipboard', description: 'the text on the clipboard' },
    { label: '$(files) Another open editor…', source: 'editor' },
    { label: '$(file) A file…', source: 'file' },
    ...store.list().map((c) => ({ label: `$(bookmark) ${c.name}`, description: preview(c.text), source: 'saved' as const, saved: c })),
  ];
  const pick = await vscode.window.showQuickPick(items, { title: `Likelihood Lens: context ${label}`, placeHolder: `Where does context ${label} come from?`, ignoreFocusOut: true });
  if (!pick) return undefined;
  switch (pick.source) {
    case 'typed': {
      const text = await vscode.window.showInputBox({ title: `Context ${label}`, prompt: 'The text this expert conditions on', ignoreFocusOut: true });
      if (!text) return undefined;
      await store.save({ name: preview(text, 40), text });
      return { text, name: preview(text, 40) };
    }
    case 'clipboard': {
      const text = await vscode.env.clipboard.readText();
      if (!text) throw new LensError('empty-text', 'The clipboard holds no text.');
      return { text, name: 'clipboard' };
    }
    case 'editor': {
      const docs = vscode.workspace.textDocuments.filter((d) => d.uri.scheme !== 'output' && d.uri.toString() !== exclude?.toString() && d.getText().length > 0);
      if (docs.length === 0) throw new LensError('bad-argument', 'No other open editor holds text.');
      const d = await vscode.window.showQuickPick(
        docs.map((doc) => ({ label: vscode.workspace.asRelativePath(doc.uri), description: preview(doc.getText()), doc })),
        { title: `Context ${label}: an open editor`, ignoreFocusOut: true },
      );
      if (!d) return undefined;
      return { text: d.doc.getText(), name: d.label };
    }
    case 'file': {
      const uris = await vscode.window.showOpenDialog({ canSelectMany: false, openLabel: `Use as context ${label}` });
      if (!uris?.length) return undefined;
      const bytes = await vscode.workspace.fs.readFile(uris[0]);
      const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes).slice(0, MAX_FILE_CHARS);
      if (!text) throw new LensError('empty-text', `${uris[0].fsPath} is empty.`);
      return { text, name: vscode.workspace.asRelativePath(uris[0]) };
    }
    case 'saved':
      return { text: pick.saved!.text, name: pick.saved!.name };
  }
}

/** Two contexts, A then B. */
export async function pickTwoContexts(store: ContextStore, exclude?: vscode.Uri): Promise<[string, string] | undefined> {
  const a = await pickContext('A', store, exclude);
  if (!a) return undefined;
  const b = await pickContext('B', store, exclude);
  if (!b) return undefined;
  return [a.text, b.text];
}
