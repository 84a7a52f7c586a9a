// How blocked the event loop was while `work` ran, from 1 ms timer ticks: the largest gap between
// ticks, and the blocked time (Σ over ticks of the part of each gap beyond 5 ms). The largest gap alone
// is at the mercy of one OS descheduling on a loaded machine; the blocked time adds up every stall.
export async function maxEventLoopGap(work: () => Promise<unknown>): Promise<{ gap: number; blocked: number; ms: number }> {
  let last = performance.now();
  let gap = 0;
  let blocked = 0;
  const tick = (now: number) => {
    const d = now - last;
    gap = Math.max(gap, d);
    blocked += Math.max(0, d - 5);
    last = now;
  };
  const t = setInterval(() => tick(performance.now()), 1);
  const t0 = performance.now();
  try {
    await work();
  } finally {
    clearInterval(t);
  }
  tick(performance.now());
  return { gap, blocked, ms: performance.now() - t0 };
}
