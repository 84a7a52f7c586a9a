// Settings, read with the workspace-trust rule: in an untrusted workspace the model path and the
// execution provider come from user settings only (package.json also lists them under
// capabilities.untrustedWorkspaces.restrictedConfigurations, so VS Code does the same).
import * as vscode from 'vscode';
import type { Provider } from '../core/model';
import { isMetric, type Metric } from '../view/buckets';

export const SECTION = 'likelihoodLens';

export type ContextMode = 'ask' | 'none' | 'preceding';
const PROVIDERS: readonly Provider[] = ['cpu', 'cuda', 'webgpu'];

function cfg(): vscode.WorkspaceConfiguration {
  return vscode.workspace.getConfiguration(SECTION);
}

/** A restricted setting: user (global) value or default when the workspace is untrusted. */
function restricted<T>(key: string): T | undefined {
  const c = cfg();
  if (vscode.workspace.isTrusted) return c.get<T>(key);
  const i = c.inspect<T>(key);
  return i?.globalValue ?? i?.defaultValue;
}

export function modelSetting(): string {
  const v = restricted<string>('model');
  return typeof v === 'string' ? v.trim() : '';
}

export function deviceSetting(): Provider {
  const v = restricted<string>('device');
  return PROVIDERS.includes(v as Provider) ? (v as Provider) : 'cpu';
}

export function threadsSetting(): number {
  const v = restricted<number>('threads');
  return typeof v === 'number' && Number.isInteger(v) && v > 0 && v <= 64 ? v : 2;
}

export function metricSetting(): Metric {
  const v = cfg().get<string>('metric');
  return isMetric(v) ? v : 'nll';
}

export function contextModeSetting(): ContextMode {
  const v = cfg().get<string>('scoreContext');
  return v === 'none' || v === 'preceding' || v === 'ask' ? v : 'ask';
}

function int(key: string, dflt: number, min: number, max: number): number {
  const v = cfg().get<number>(key);
  return typeof v === 'number' && Number.isFinite(v) ? Math.min(max, Math.max(min, Math.round(v))) : dflt;
}

export const topKSetting = () => int('topK', 5, 0, 50);
export const maxTokensSetting = () => int('maxTokens', 48, 1, 2048);
export const compareSamplesSetting = () => int('compareSamples', 8, 1, 64);
export const rescoreDelaySetting = () => int('rescoreDelayMs', 600, 0, 10000);
export const maxContextCharsSetting = () => int('maxContextChars', 4000, 0, 1_000_000);

export function temperatureSetting(): number {
  const v = cfg().get<number>('temperature');
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0.8;
}

export const rescoreOnEditSetting = () => cfg().get<boolean>('rescoreOnEdit') !== false;
export const openPanelSetting = () => cfg().get<boolean>('openPanel') !== false;

export async function setUserSetting(key: string, value: unknown): Promise<void> {
  await cfg().update(key, value, vscode.ConfigurationTarget.Global);
}
