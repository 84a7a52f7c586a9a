// Hover over a scored token: its text (whitespace visible), log-prob, probability, rank, entropy and
// the top-k alternatives, each with a command link that branches from there.
import * as vscode from 'vscode';
import type { Heatmap } from './heatmap';
import { visibleToken, num, prob, bits } from '../view/format';

export const BRANCH_COMMAND = 'likelihoodLens.branch';

export interface BranchArgs {
  uri: string;
  version: number;
  tokenIndex: number;
  /** Text of the alternative that replaces the token. */
  text: string;
}

/** The hover's Markdown for token `index` (exported for tests of its exact text). */
export function hoverMarkdown(h: NonNullable<ReturnType<Heatmap['tokenAt']>>, docVersion: number): vscode.MarkdownString {
  const { token: t, index, state } = h;
  const md = new vscode.MarkdownString(undefined, true);
  md.supportHtml = false;
  md.isTrusted = { enabledCommands: [BRANCH_COMMAND] };
  md.appendMarkdown(`**Likelihood Lens** · token ${index + 1} of ${state.result.tokens.length}\n\n`);
  md.appendMarkdown('Token: ');
  md.appendText(`“${visibleToken(t.text)}”`);
  md.appendMarkdown('\n\n');
  if (t.logprob === null) {
    md.appendMarkdown('Not scored (no prediction before the first token).\n');
    return md;
  }
  md.appendMarkdown(`log-prob: **${num(t.logprob, 4)}** nats (${num(bits(t.logprob), 3)} bits) · p = ${prob(t.logprob)}`);
  if (t.rank !== null) md.appendMarkdown(` · rank ${t.rank}`);
  if (t.entropy !== null) md.appendMarkdown(` · entropy ${num(t.entropy, 3)} nats`);
  md.appendMarkdown('\n\n');
  if (t.top.length) {
    md.appendMarkdown('| alternative | p | log-prob | |\n|---|---:|---:|---|\n');
    for (const a of t.top) {
      const args: BranchArgs = { uri: state.uri, version: docVersion, tokenIndex: index, text: a.text };
      const link = `command:${BRANCH_COMMAND}?${encodeURIComponent(JSON.stringify([args]))}`;
      md.appendMarkdown('| ');
      md.appendText(visibleToken(a.text).replace(/\|/g, '¦'));
      md.appendMarkdown(` | ${prob(a.logprob)} | ${num(a.logprob, 3)} | [branch](${link} "Replace the token with this alternative and continue generating") |\n`);
    }
  }
  return md;
}

export class ScoreHover implements vscode.HoverProvider {
  constructor(private readonly heatmap: Heatmap) {}

  provideHover(doc: vscode.TextDocument, pos: vscode.Position): vscode.Hover | undefined {
    const h = this.heatmap.tokenAt(doc, pos);
    if (!h) return undefined;
    const range = new vscode.Range(doc.positionAt(h.state.offset + h.token.start), doc.positionAt(h.state.offset + h.token.end));
    return new vscode.Hover(hoverMarkdown(h, doc.version), range);
  }
}
