// Independent reference arithmetic for the combine tests (plain arrays, float64).
import assert from 'node:assert/strict';

export function softmax(z: number[]): number[] {
  const m = Math.max(...z);
  const e = z.map((x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}

export const probs = (lp: Float64Array): number[] => Array.from(lp, Math.exp);

export function close(a: number[], b: number[], tol = 1e-9, msg = ''): void {
  assert.equal(a.length, b.length, `${msg} lengths`);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= tol, `${msg} [${i}] ${a[i]} vs ${b[i]}`);
}
