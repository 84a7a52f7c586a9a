// Download progress on stderr: on a terminal one line redrawn in place (at most ~8 times a second);
// elsewhere (pipes, CI logs) a line when a download starts, on retries and waits, and at the end.
import type { HubProgress } from '../core/hub';

export interface ProgressStream {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const u = ['kB', 'MB', 'GB', 'TB'];
  let x = n / 1024;
  let i = 0;
  while (x >= 1024 && i < u.length - 1) {
    x /= 1024;
    i++;
  }
  return `${x.toFixed(x < 10 ? 2 : 1)} ${u[i]}`;
}

/** Returns the onProgress callback for resolveModelSpec; call `.end()` when done or failed. */
export function progressPrinter(stream: ProgressStream = process.stderr, now: () => number = Date.now) {
  const tty = !!stream.isTTY;
  let started = 0;
  let startLoaded = 0;
  let lastDraw = 0;
  let drawn = false;
  let announced = false;

  const clear = () => {
    if (drawn) stream.write('\r\x1b[K');
    drawn = false;
  };
  const line = (p: HubProgress) => {
    const pct = p.total > 0 ? Math.min(100, Math.floor((100 * p.loaded) / p.total)) : 0;
    const secs = (now() - started) / 1000;
    const rate = secs > 0.2 ? (p.loaded - startLoaded) / secs : 0;
    const tail = `${String(pct).padStart(3)}% ${formatBytes(p.loaded)}/${formatBytes(p.total)}${rate > 0 ? ` ${formatBytes(rate)}/s` : ''} [${p.filesDone}/${p.filesTotal}] ${p.file ?? ''}`;
    const cols = stream.columns || 80; // a pseudo-terminal may report 0
    const width = Math.max(10, Math.min(30, cols - tail.length - 4));
    const fill = Math.round((width * pct) / 100);
    const s = `[${'#'.repeat(fill)}${'-'.repeat(width - fill)}] ${tail}`;
    return s.length > cols - 1 ? s.slice(0, cols - 1) : s;
  };

  const onProgress = (p: HubProgress) => {
    if (p.phase === 'download' && !announced && p.filesTotal > 0) {
      announced = true;
      started = now();
      startLoaded = p.loaded;
      stream.write(`downloading ${p.repo}@${p.revision}: ${p.filesTotal} file${p.filesTotal === 1 ? '' : 's'}, ${formatBytes(p.total)}${p.loaded > 0 ? ` (resuming, ${formatBytes(p.loaded)} already here)` : ''}\n`);
    }
    if ((p.phase === 'wait' || p.phase === 'retry') && p.message) {
      clear();
      stream.write(`${p.message}\n`);
      return;
    }
    if (p.phase === 'done') {
      clear();
      if (announced) stream.write(`downloaded ${p.repo}@${p.revision} (${formatBytes(p.loaded)}) in ${((now() - started) / 1000).toFixed(1)} s\n`);
      return;
    }
    if (tty && p.phase === 'download' && announced) {
      const t = now();
      if (t - lastDraw < 120 && p.loaded < p.total) return;
      lastDraw = t;
      stream.write(`\r\x1b[K${line(p)}`);
      drawn = true;
    }
  };
  return Object.assign(onProgress, { end: clear });
}
