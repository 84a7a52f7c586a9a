// `lens --model org/name` as users run it (dist/cli.cjs), configured only by the environment
// (HF_ENDPOINT, HF_HUB_CACHE, HF_TOKEN, HF_HUB_OFFLINE), against the loopback Hub on 127.0.0.1.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { FakeHub } from '../helpers/hub-server';
import { tinyLlamaRepo, type TinyRepo } from '../helpers/hub-fixtures';
import { repoRoot, tempDir } from '../helpers/shared';

const cli = join(repoRoot, 'dist/cli.cjs');
const skip = existsSync(cli) ? false : 'dist/cli.cjs missing: run npm run build';
const REPO = 'test-org/tiny-llama';

let hub: FakeHub;
let llama: TinyRepo;

before(async () => {
  hub = await FakeHub.start();
  llama = tinyLlamaRepo();
  hub.addRepo(REPO, llama.files);
  hub.addRepo('test-org/private', llama.files, { private: true });
});

after(async () => {
  await hub.close();
});

/** Runs the CLI without blocking this process (the Hub answers from here). */
function lens(args: string[], env: Record<string, string>): Promise<{ code: number | null; out: string; err: string }> {
  const base = { ...process.env };
  for (const k of Object.keys(base)) if (k.startsWith('HF_') || k.startsWith('HUGGING')) delete base[k];
  return new Promise((res, rej) => {
    const p = spawn(process.execPath, [cli, ...args], { env: { ...base, HF_HOME: tempDir('lens-hfhome-'), HF_ENDPOINT: hub.url, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    const t = setTimeout(() => p.kill(), 120_000);
    p.on('error', rej);
    p.on('close', (code) => {
      clearTimeout(t);
      res({ code, out, err });
    });
  });
}

test('lens score / info --model org/name: downloads with progress on stderr, then scores like the local folder', { skip }, async () => {
  const cache = tempDir('lens-hubcache-');
  const r = await lens(['score', '--model', REPO, '--text', 'the cat sat on the mat.', '--json'], { HF_HUB_CACHE: cache });
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out);
  assert.match(j.model, new RegExp(`${cache}/models--test-org--tiny-llama/snapshots/[0-9a-f]{40}$`));
  assert.match(r.err, /^downloading test-org\/tiny-llama@main: 4 files, [\d.]+ kB\n/);
  assert.match(r.err, /downloaded test-org\/tiny-llama@main \([\d.]+ kB\) in [\d.]+ s\n$/);
  assert.ok(!r.err.includes('\r'), 'no terminal redraws into a pipe');
  const local = await lens(['score', '--model', llama.dir, '--text', 'the cat sat on the mat.', '--json'], {});
  assert.equal(local.code, 0, local.err);
  assert.deepEqual(j.tokens, JSON.parse(local.out).tokens);

  const info = await lens(['info', '--model', REPO, '--onnx-file', 'fp16', '--json'], { HF_HUB_CACHE: cache });
  assert.equal(info.code, 0, info.err);
  assert.match(JSON.parse(info.out).onnx, /snapshots\/[0-9a-f]{40}\/onnx\/model_fp16\.onnx$/);
  assert.match(info.err, /downloading test-org\/tiny-llama@main: 1 file,/, 'only the new variant was fetched');

  const off = await lens(['info', '--model', REPO, '--json'], { HF_HUB_CACHE: cache, HF_HUB_OFFLINE: '1', HF_ENDPOINT: 'http://127.0.0.1:9' });
  assert.equal(off.code, 0, off.err);
  assert.equal(off.err, '', 'offline cache hit: silent');
});

test('lens: offline miss, 401 and a bad --onnx-file fail with a message and exit 1, no stack trace', { skip }, async () => {
  const cache = tempDir('lens-hubcache-');
  const cases: [string[], Record<string, string>, RegExp][] = [
    [['info', '--model', REPO], { HF_HUB_CACHE: cache, HF_HUB_OFFLINE: '1' }, /^lens: Cannot load test-org\/tiny-llama@main: HF_HUB_OFFLINE is set/],
    [['info', '--model', 'test-org/private'], { HF_HUB_CACHE: cache }, /^lens: The Hub answered 401 for test-org\/private.*set HF_TOKEN/],
    [['info', '--model', REPO, '--onnx-file', 'onnx/nope.onnx'], { HF_HUB_CACHE: cache }, /^lens: onnx\/nope\.onnx is not in test-org\/tiny-llama@main: check --onnx-file/],
  ];
  for (const [args, env, re] of cases) {
    const r = await lens(args, env);
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.err}`);
    assert.match(r.err, re);
    assert.doesNotMatch(r.err, /\n\s+at /, 'no stack trace');
  }
  const ok = await lens(['info', '--model', 'test-org/private', '--json'], { HF_HUB_CACHE: cache, HF_TOKEN: 'hf_ok' }).then((r) => r);
  assert.equal(ok.code, 1, 'an unknown token is refused');
  hub.tokens.add('hf_ok');
  const ok2 = await lens(['info', '--model', 'test-org/private', '--json'], { HF_HUB_CACHE: cache, HF_TOKEN: 'hf_ok' });
  assert.equal(ok2.code, 0, ok2.err);
});

test('two lens processes downloading one model into one cache: the lock lets the blob cross the network once', { skip }, async () => {
  const cache = tempDir('lens-hubcache-');
  hub.log.length = 0;
  // The CDN holds the first transfer (the first process holding the blob's lock meanwhile) until a
  // second after both processes have asked about the ONNX file: the second one, which has only
  // three small files to link before it, then finds the lock taken.
  const heads = () => hub.requests({ method: 'HEAD' }).filter((r) => r.url.endsWith('/onnx/model.onnx')).length;
  let both = 0;
  hub.holdCdn = { until: () => (both ||= heads() >= 2 ? Date.now() : 0) > 0 && Date.now() - both > 1000, timeoutMs: 30_000 };
  let a, b;
  try {
    [a, b] = await Promise.all([
      lens(['info', '--model', REPO, '--json'], { HF_HUB_CACHE: cache }),
      lens(['info', '--model', REPO, '--json'], { HF_HUB_CACHE: cache }),
    ]);
  } finally {
    hub.holdCdn = null;
  }
  assert.equal(a.code, 0, a.err);
  assert.equal(b.code, 0, b.err);
  assert.equal(JSON.parse(a.out).onnx, JSON.parse(b.out).onnx);
  const cdn = hub.requests({ server: 'cdn' });
  assert.equal(cdn.length, 1, `CDN requests: ${cdn.length}\n${a.err}\n${b.err}`);
  assert.match(a.err + b.err, /waiting for another process downloading onnx\/model\.onnx/);
});
