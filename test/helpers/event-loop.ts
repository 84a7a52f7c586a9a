// The largest gap between 1 ms timer ticks while `work` runs: how long the event loop was blocked.
export async function maxEventLoopGap(work: () => Promise<unknown>): Promise<{ gap: number; ms: number }> {
  let last = performance.now();
  let gap = 0;
  const t = setInterval(() => {
    const now = performance.now();
    gap = Math.max(gap, now - last);
    last = now;
  }, 1);
  const t0 = performance.now();
  try {
    await work();
  } finally {
    clearInterval(t);
  }
  return { gap: Math.max(gap, performance.now() - last), ms: performance.now() - t0 };
}
