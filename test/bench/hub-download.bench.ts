// What verification, locking and the cache cost: a 128 MiB LFS file over loopback (127.0.0.1),
// downloaded by resolveModelSpec (HEAD, lock, stream to blobs/{etag}.incomplete with sha256, rename,
// symlink) vs a bare fetch streamed to a file (no hash, no lock) in the same run. Prints MB/s and
// the ratio. Run: node --import tsx test/bench/hub-download.bench.ts
import { randomBytes } from 'node:crypto';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { resolveModelSpec } from '../../src/core/hub';
import { FakeHub, sha256 } from '../helpers/hub-server';
import { tempDir } from '../helpers/shared';

const SIZE = 128 * 1024 * 1024;
const RUNS = 3;

const hub = await FakeHub.start();
const big = randomBytes(SIZE);
hub.addRepo('bench/big', { 'config.json': Buffer.from('{}'), 'tokenizer.json': Buffer.from('{}'), 'onnx/model.onnx': big });
const cdnUrl = `${hub.cdnUrl}/lfs/${sha256(big)}?X-Amz-Signature=bench`;

async function bare(): Promise<number> {
  const file = join(tempDir('lens-bench-'), 'blob');
  const t0 = performance.now();
  const res = await fetch(cdnUrl);
  const fh = await open(file, 'w');
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) await fh.write(chunk);
  await fh.close();
  const ms = performance.now() - t0;
  await rm(file);
  return ms;
}

async function ours(): Promise<number> {
  const cacheDir = tempDir('lens-bench-');
  const t0 = performance.now();
  await resolveModelSpec('bench/big', { endpoint: hub.url, cacheDir, token: '', offline: false });
  const ms = performance.now() - t0;
  await rm(cacheDir, { recursive: true });
  return ms;
}

const mbps = (ms: number) => SIZE / 1e6 / (ms / 1000);
const best = async (f: () => Promise<number>) => {
  let m = Infinity;
  for (let i = 0; i < RUNS; i++) m = Math.min(m, await f());
  return m;
};
await bare(); // warm up
const b = await best(bare);
const o = await best(ours);
console.log(`128 MiB over loopback, best of ${RUNS}:`);
console.log(`  bare fetch → file          ${mbps(b).toFixed(0)} MB/s (${b.toFixed(0)} ms)`);
console.log(`  resolveModelSpec (verified) ${mbps(o).toFixed(0)} MB/s (${o.toFixed(0)} ms)`);
console.log(`  ratio ours / bare: ${(o / b).toFixed(2)}× the time`);
await hub.close();
