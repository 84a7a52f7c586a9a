// The typed message protocol between the extension host and the Likelihood Lens webview.
// Discriminated unions on `type`; every message carries an `id`; replies name the request they
// answer in `replyTo`. The host validates everything the webview sends with parseWebviewMessage
// (a webview is a web page: treat its messages as untrusted input).
import type { ScoreResult } from '../core/scoring';
import type { CompareResult, PoeResult } from './worker';
import { isMetric, type Metric } from '../view/buckets';

export type { Metric };

export interface RankEntry {
  candidate: string;
  /** −ln p(candidate | question), nats. */
  nll: number;
  tokens: number;
  meanNll: number;
}

export type PanelView =
  | { kind: 'score'; title: string; metric: Metric; result: ScoreResult }
  | { kind: 'poe'; title: string; prompt: string; contexts: string[]; metric: Metric; result: PoeResult }
  | { kind: 'compare'; title: string; prompt: string; contexts: [string, string]; result: CompareResult }
  | { kind: 'rank'; title: string; question: string; ranking: RankEntry[] };

export type ViewKind = PanelView['kind'];
export const VIEW_KINDS: readonly ViewKind[] = ['score', 'poe', 'compare', 'rank'];
export type ExportFormat = 'json' | 'csv' | 'svg';
export const EXPORT_FORMATS: readonly ExportFormat[] = ['json', 'csv', 'svg'];

export type HostToWebview =
  | { type: 'show'; id: number; view: PanelView }
  | { type: 'setMetric'; id: number; metric: Metric }
  /** Ask the webview for its plots as one standalone SVG document (answered by `svg`). */
  | { type: 'requestSvg'; id: number }
  | { type: 'busy'; id: number; message: string | null };

export type WebviewToHost =
  | { type: 'ready'; id: number }
  /** A view finished rendering: how many token elements it made. */
  | { type: 'rendered'; id: number; kind: ViewKind; tokens: number }
  | { type: 'svg'; id: number; replyTo: number; svg: string | null }
  | { type: 'export'; id: number; format: ExportFormat }
  | { type: 'setMetric'; id: number; metric: Metric }
  /** Reveal token `tokenIndex` of the shown score in its editor. */
  | { type: 'reveal'; id: number; tokenIndex: number }
  | { type: 'cspViolation'; id: number; directive: string; blocked: string }
  | { type: 'error'; id: number; message: string };

/** Longest SVG the host accepts from the webview (characters). */
export const MAX_SVG = 8_000_000;
const MAX_TEXT = 2000;

type Check = (o: Record<string, unknown>) => boolean;

const isId = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isStr = (max: number) => (v: unknown): v is string => typeof v === 'string' && v.length <= max;

const checks: { [K in WebviewToHost['type']]: Check } = {
  ready: () => true,
  rendered: (o) => typeof o.kind === 'string' && (VIEW_KINDS as readonly string[]).includes(o.kind) && isId(o.tokens),
  svg: (o) => isId(o.replyTo) && (o.svg === null || (isStr(MAX_SVG)(o.svg) && /^<svg[\s>]/.test(o.svg as string))),
  export: (o) => typeof o.format === 'string' && (EXPORT_FORMATS as readonly string[]).includes(o.format),
  setMetric: (o) => isMetric(o.metric),
  reveal: (o) => isId(o.tokenIndex),
  cspViolation: (o) => isStr(MAX_TEXT)(o.directive) && isStr(MAX_TEXT)(o.blocked),
  error: (o) => isStr(MAX_TEXT)(o.message),
};

/** Allowed keys per message type (anything else makes the message invalid). */
const keys: { [K in WebviewToHost['type']]: readonly string[] } = {
  ready: [],
  rendered: ['kind', 'tokens'],
  svg: ['replyTo', 'svg'],
  export: ['format'],
  setMetric: ['metric'],
  reveal: ['tokenIndex'],
  cspViolation: ['directive', 'blocked'],
  error: ['message'],
};

/** The message as a WebviewToHost, or a string saying why it is not one. */
export function parseWebviewMessage(m: unknown): WebviewToHost | string {
  if (typeof m !== 'object' || m === null || Array.isArray(m)) return 'not an object';
  const o = m as Record<string, unknown>;
  if (typeof o.type !== 'string' || !Object.hasOwn(checks, o.type)) return `unknown message type ${JSON.stringify(String(o.type)).slice(0, 60)}`;
  const type = o.type as WebviewToHost['type'];
  if (!isId(o.id)) return `${type}: id must be a non-negative integer`;
  for (const k of Object.keys(o)) if (k !== 'type' && k !== 'id' && !keys[type].includes(k)) return `${type}: unexpected field ${JSON.stringify(k).slice(0, 60)}`;
  if (!checks[type](o)) return `${type}: malformed fields`;
  return o as WebviewToHost;
}

/** Messages the webview accepts (it checks the shape too: defence in depth). */
export function isHostToWebview(m: unknown): m is HostToWebview {
  if (typeof m !== 'object' || m === null) return false;
  const o = m as Record<string, unknown>;
  if (!isId(o.id)) return false;
  switch (o.type) {
    case 'show':
      return typeof o.view === 'object' && o.view !== null && (VIEW_KINDS as readonly unknown[]).includes((o.view as { kind?: unknown }).kind);
    case 'setMetric':
      return isMetric(o.metric);
    case 'requestSvg':
      return true;
    case 'busy':
      return o.message === null || typeof o.message === 'string';
    default:
      return false;
  }
}
