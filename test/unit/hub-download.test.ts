// Hub downloads against a loopback Hub + CDN (test/helpers/hub-server.ts, 127.0.0.1 only): the
// huggingface_hub cache layout, variant choice, external data, resume after a cut, checksum
// failures that leave nothing behind, 401/403/404 messages, offline mode, locking; then the
// downloaded model loads and scores exactly like the folder it was made from.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve, dirname } from 'node:path';
import { resolveModelSpec, type HubProgress, type ResolveModelOptions } from '../../src/core/hub';
import { fileMetadata } from '../../src/core/hub/http';
import { CausalLM } from '../../src/core/model';
import { scoreText } from '../../src/core/scoring';
import { isLensError } from '../../src/core/errors';
import { FakeHub, sha256 } from '../helpers/hub-server';
import { tinyLlamaRepo, tinyGpt2Repo, tinyExternalDataRepo, type TinyRepo } from '../helpers/hub-fixtures';
import { tempDir } from '../helpers/shared';

const LLAMA = 'test-org/tiny-llama';
const GPT2 = 'onnx-community/tiny-gpt2';
const EXT = 'test-org/tiny-llama-ext';
const text = 'the cat sat on the mat, and the dog ran after it.';

let hub: FakeHub;
let llama: TinyRepo;
let gpt2: TinyRepo;
let ext: TinyRepo;
let llamaCommit: string;

before(async () => {
  hub = await FakeHub.start();
  llama = tinyLlamaRepo();
  gpt2 = tinyGpt2Repo();
  ext = tinyExternalDataRepo();
  llamaCommit = hub.addRepo(LLAMA, llama.files);
  hub.addRepo(GPT2, gpt2.files);
  hub.addRepo(EXT, ext.files);
  hub.tokens.add('hf_good');
  hub.tokens.add('hf_accepted');
});

after(async () => {
  await hub.close();
});

/** Options for a fresh (or given) cache, talking to the loopback Hub only. */
function opts(extra: Partial<ResolveModelOptions> = {}): ResolveModelOptions {
  return { endpoint: hub.url, cacheDir: tempDir('lens-hubcache-'), token: '', offline: false, ...extra };
}

function lensErr(code: string, re: RegExp) {
  return (e: unknown) => {
    assert.ok(isLensError(e), `not a LensError: ${(e as Error)?.stack ?? e}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, re);
    return true;
  };
}

async function score(dir: string, onnxFile?: string) {
  const lm = await CausalLM.load(dir, { onnxFile });
  try {
    return { io: lm.io, s: await scoreText(lm, text) };
  } finally {
    await lm.dispose();
  }
}

const repoFolder = (cacheDir: string, repo: string) => join(cacheDir, `models--${repo.replace('/', '--')}`);

test('a normal download: huggingface_hub layout, only the needed files, progress, token kept off the CDN, scores like the source', async () => {
  const o = opts({ token: 'hf_good' });
  const events: HubProgress[] = [];
  hub.log.length = 0;
  const m = await resolveModelSpec(LLAMA, { ...o, onProgress: (p) => events.push({ ...p }) });
  const folder = repoFolder(o.cacheDir!, LLAMA);
  assert.equal(m.source, 'hub');
  assert.equal(m.onnxFile, 'onnx/model.onnx');
  assert.equal(m.dir, join(folder, 'snapshots', llamaCommit));
  assert.equal(m.hub!.commit, llamaCommit);
  assert.equal(readFileSync(join(folder, 'refs/main'), 'utf8'), llamaCommit, 'refs/main holds the commit, no newline');

  // Only what a model folder needs: not the fp16 variant.
  const want = ['config.json', 'onnx/model.onnx', 'tokenizer.json', 'tokenizer_config.json'];
  const listed: string[] = [];
  const walk = (d: string, pre: string) => {
    for (const e of readdirSync(d)) {
      if (lstatSync(join(d, e)).isDirectory()) walk(join(d, e), `${pre}${e}/`);
      else listed.push(`${pre}${e}`);
    }
  };
  walk(m.dir, '');
  assert.deepEqual(listed.sort(), want);
  for (const f of want) {
    const p = join(m.dir, f);
    assert.ok(lstatSync(p).isSymbolicLink(), `${f} is a symlink`);
    const target = readlinkSync(p);
    const etag = hub.file(LLAMA, f).etag;
    assert.equal(target, `${'../'.repeat(f.split('/').length + 1)}blobs/${etag}`, `${f} → relative link to blobs/{etag}`);
    assert.deepEqual(readFileSync(p), llama.files[f]);
  }
  assert.equal(hub.file(LLAMA, 'onnx/model.onnx').etag, sha256(llama.files['onnx/model.onnx']), 'LFS blob named by its sha256');
  assert.equal(hub.file(LLAMA, 'config.json').etag.length, 40, 'git blob named by its sha1');
  assert.deepEqual(readdirSync(join(folder, 'blobs')).sort(), want.map((f) => hub.file(LLAMA, f).etag).sort(), 'no .incomplete left');

  // Progress: resolve first, bytes grow to the total, done last.
  const total = want.reduce((s, f) => s + llama.files[f].length, 0);
  assert.equal(events[0].phase, 'resolve');
  assert.equal(events.at(-1)!.phase, 'done');
  const dl = events.filter((e) => e.phase === 'download');
  for (let i = 1; i < dl.length; i++) assert.ok(dl[i].loaded >= dl[i - 1].loaded, 'loaded never goes back');
  assert.deepEqual([events.at(-1)!.loaded, events.at(-1)!.total, events.at(-1)!.filesDone, events.at(-1)!.filesTotal], [total, total, 4, 4]);
  assert.equal(m.hub!.downloaded, total);

  // The token went to the Hub and never to the CDN (which would answer 400 to it).
  assert.ok(hub.requests({ server: 'hub' }).every((r) => r.authorization === 'Bearer hf_good'));
  const cdn = hub.requests({ server: 'cdn' });
  assert.equal(cdn.length, 1);
  assert.equal(cdn[0].authorization, undefined);

  // A second resolve asks only for the revision's commit, downloads nothing.
  hub.log.length = 0;
  const again = await resolveModelSpec(LLAMA, o);
  assert.equal(again.dir, m.dir);
  assert.equal(again.hub!.downloaded, 0);
  assert.deepEqual(hub.log.map((r) => r.method + ' ' + r.url.split('?')[0]), [`GET /api/models/${LLAMA}/revision/main`]);

  const got = await score(m.dir, m.onnxFile);
  const src = await score(llama.dir);
  assert.deepEqual(got.s.tokens.map((t) => t.logprob), src.s.tokens.map((t) => t.logprob), 'same bytes, same scores');
});

test('--onnx-file variants: dtype name or path; fp16 merged-decoder signature loads; a pinned commit needs no network once cached', async () => {
  const o = opts();
  const m = await resolveModelSpec(LLAMA, { ...o, onnxFile: 'fp16' });
  assert.equal(m.onnxFile, 'onnx/model_fp16.onnx');
  assert.ok(!existsSync(join(m.dir, 'onnx/model.onnx')), 'the float32 graph was not fetched');
  const v = await score(m.dir, m.onnxFile);
  assert.equal(v.io.kvType, 'float16');
  assert.equal(v.io.hasUseCacheBranch, true);
  assert.equal(v.io.hasPositionIds, false);
  const base = await score(llama.dir);
  for (let i = 0; i < base.s.tokens.length; i++) assert.ok(Math.abs(v.s.tokens[i].logprob! - base.s.tokens[i].logprob!) < 3e-2, `token ${i}`);

  hub.log.length = 0;
  const pinned = await resolveModelSpec(`${LLAMA}@${llamaCommit}`, { ...o, onnxFile: 'onnx/model_fp16.onnx' });
  assert.equal(pinned.dir, m.dir);
  assert.equal(hub.log.length, 0, 'commit + explicit file, all cached: no request');

  await assert.rejects(resolveModelSpec(LLAMA, { ...o, onnxFile: 'onnx/model_q9.onnx' }), lensErr('hub-not-found', /onnx\/model_q9\.onnx is not in test-org\/tiny-llama@main: check --onnx-file; ONNX files there: onnx\/model\.onnx, onnx\/model_fp16\.onnx/));
  await assert.rejects(resolveModelSpec(LLAMA, { ...o, onnxFile: 'q4' }), lensErr('hub-not-found', /has no q4 variant/));
  await assert.rejects(resolveModelSpec(LLAMA, { ...o, onnxFile: '../../etc/passwd' }), lensErr('bad-argument', /Invalid --onnx-file/));
});

test('GPT-2 with only decoder_model_merged.onnx, and a graph with external data, download, load and score', async () => {
  const o = opts();
  const g = await resolveModelSpec(GPT2, o);
  assert.equal(g.onnxFile, 'onnx/decoder_model_merged.onnx');
  const gs = await score(g.dir, g.onnxFile);
  assert.equal(gs.io.hasUseCacheBranch, true);
  const gsrc = await score(gpt2.dir);
  assert.deepEqual(gs.s.tokens.map((t) => t.logprob), gsrc.s.tokens.map((t) => t.logprob));

  const e = await resolveModelSpec(EXT, o);
  assert.equal(e.onnxFile, 'onnx/model.onnx');
  assert.ok(lstatSync(join(e.dir, 'onnx/model.onnx_data')).isSymbolicLink(), 'the external data came along');
  assert.ok(statSync(join(e.dir, 'onnx/model.onnx')).size * 4 < statSync(join(e.dir, 'onnx/model.onnx_data')).size, 'most of the weights are outside the graph');
  const es = await score(e.dir, e.onnxFile);
  const esrc = await score(ext.dir);
  assert.deepEqual(es.s.tokens.map((t) => t.logprob), esrc.s.tokens.map((t) => t.logprob), 'ORT read the weights through the snapshot symlink');
});

test('an interrupted transfer resumes with a Range request, in the same call', async () => {
  const o = opts();
  const data = llama.files['onnx/model.onnx'];
  const etag = sha256(data);
  const cutAt = Math.floor(data.length * 0.4);
  hub.cut.set(etag, { after: cutAt, times: 1 });
  hub.log.length = 0;
  const events: HubProgress[] = [];
  try {
    const m = await resolveModelSpec(LLAMA, { ...o, onProgress: (p) => events.push({ ...p }) });
    assert.deepEqual(readFileSync(join(m.dir, 'onnx/model.onnx')), data);
  } finally {
    hub.cut.delete(etag);
  }
  const gets = hub.requests({ server: 'cdn' });
  assert.equal(gets.length, 2, gets.map((g) => g.range).join());
  assert.equal(gets[0].range, undefined);
  assert.equal(gets[1].range, `bytes=${cutAt}-`, 'resumed from where the cut left it');
  const retry = events.find((e) => e.phase === 'retry');
  assert.ok(retry, 'a retry was reported');
  assert.match(retry.message!, new RegExp(`resuming at byte ${cutAt}`));
});

test('a download cancelled through its AbortSignal keeps its partial file, and the next run resumes it', async () => {
  const o = opts();
  const data = llama.files['onnx/model.onnx'];
  const etag = sha256(data);
  const blobs = join(repoFolder(o.cacheDir!, LLAMA), 'blobs');
  const ac = new AbortController();
  hub.throttle = { chunk: 16 * 1024, delayMs: 15 };
  try {
    await assert.rejects(
      resolveModelSpec(LLAMA, {
        ...o,
        signal: ac.signal,
        onProgress: (p) => {
          if (p.phase === 'download' && p.file === 'onnx/model.onnx' && p.loaded - (p.total - data.length) > 40_000) ac.abort();
        },
      }),
      lensErr('aborted', /Cancelled/),
    );
  } finally {
    hub.throttle = { chunk: 0, delayMs: 0 };
  }
  const part = join(blobs, `${etag}.incomplete`);
  const have = statSync(part).size;
  assert.ok(have > 0 && have < data.length, `partial file of ${have} bytes`);
  assert.ok(!existsSync(join(blobs, etag)), 'no blob yet');
  const snap = join(repoFolder(o.cacheDir!, LLAMA), 'snapshots', llamaCommit);
  assert.ok(!existsSync(join(snap, 'onnx/model.onnx')), 'no pointer to a missing blob');

  hub.log.length = 0;
  const m = await resolveModelSpec(LLAMA, o);
  assert.deepEqual(readFileSync(join(m.dir, 'onnx/model.onnx')), data);
  assert.deepEqual(hub.requests({ server: 'cdn' }).map((r) => r.range), [`bytes=${have}-`]);
  assert.equal(m.hub!.downloaded, data.length - have, 'only the rest was fetched');
});

test('a corrupted file: checksum error, nothing poisoned in the cache; a corrupt partial from an earlier run is thrown away too', async () => {
  const o = opts();
  const data = llama.files['onnx/model.onnx'];
  const etag = sha256(data);
  const folder = repoFolder(o.cacheDir!, LLAMA);
  hub.corrupt.add(etag);
  try {
    await assert.rejects(
      resolveModelSpec(LLAMA, o),
      lensErr('checksum', new RegExp(`onnx/model\\.onnx from test-org/tiny-llama@main is corrupt: its sha256 is [0-9a-f]{64} but the Hub says ${etag}\\. The download was discarded`)),
    );
  } finally {
    hub.corrupt.delete(etag);
  }
  assert.ok(!existsSync(join(folder, 'blobs', etag)), 'no blob');
  assert.ok(!existsSync(join(folder, 'blobs', `${etag}.incomplete`)), 'no partial file');
  assert.ok(!existsSync(join(folder, 'snapshots', llamaCommit, 'onnx/model.onnx')), 'no pointer');
  // The good files that came before stay (they verified).
  assert.deepEqual(readFileSync(join(folder, 'snapshots', llamaCommit, 'config.json')), llama.files['config.json']);

  // A partial whose bytes are wrong (another tool, a disk error): resuming it cannot verify.
  const bad = Buffer.from(data.subarray(0, 50_000));
  bad[100] ^= 1;
  writeFileSync(join(folder, 'blobs', `${etag}.incomplete`), bad);
  await assert.rejects(resolveModelSpec(LLAMA, o), lensErr('checksum', /is corrupt/));
  assert.ok(!existsSync(join(folder, 'blobs', `${etag}.incomplete`)), 'the bad partial is gone');

  const m = await resolveModelSpec(LLAMA, o);
  assert.deepEqual(readFileSync(join(m.dir, 'onnx/model.onnx')), data, 'the next run starts clean and succeeds');
});

test('401, 403 and 404 say what to do', async () => {
  hub.addRepo('test-org/private', llama.files, { private: true });
  hub.addRepo('test-org/gated', llama.files, { gated: true, accepted: ['hf_accepted'] });
  const o = opts();
  await assert.rejects(resolveModelSpec('test-org/private', o), lensErr('hub-auth', /answered 401 for test-org\/private: it does not exist, or it is private or gated\. Check the id; if it is private or gated, set HF_TOKEN .* accept the model's license/));
  await assert.rejects(resolveModelSpec('test-org/gated', o), lensErr('hub-auth', /test-org\/gated is gated \(HTTP 401\): accept its license at http:\/\/127\.0\.0\.1:\d+\/test-org\/gated .*set HF_TOKEN/));
  await assert.rejects(resolveModelSpec('test-org/gated', { ...o, token: 'hf_good' }), lensErr('hub-auth', /is gated \(HTTP 403\).*has no access yet.*The Hub said: Access to model test-org\/gated is restricted/));
  await assert.rejects(resolveModelSpec(LLAMA, { ...o, token: 'hf_wrong' }), lensErr('hub-auth', /refused the token.*HF_TOKEN is a valid read token/));
  assert.equal((await resolveModelSpec('test-org/gated', { ...o, token: 'hf_accepted' })).source, 'hub', 'an accepted token gets in');
  assert.equal((await resolveModelSpec('test-org/private', { ...o, token: 'hf_good' })).source, 'hub');

  await assert.rejects(resolveModelSpec('test-org/no-such-model', { ...o, token: 'hf_good' }), lensErr('hub-not-found', /Model test-org\/no-such-model not found at http:\/\/127\.0\.0\.1:\d+ \(HTTP 404\): check the id/));
  await assert.rejects(resolveModelSpec(`${LLAMA}@no-such-branch`, o), lensErr('hub-not-found', /Revision "no-such-branch" not found in test-org\/tiny-llama: check the @revision/));
  const ctx = { endpoint: hub.url, token: undefined, repo: LLAMA, revision: 'main' };
  await assert.rejects(fileMetadata(ctx, 'onnx/missing.onnx'), lensErr('hub-not-found', /onnx\/missing\.onnx not found in test-org\/tiny-llama@main: check the file name \(--onnx-file\) and the revision/));
});

test('offline: a cache hit needs no server (also a cache laid out by Python); a miss says what to do', async () => {
  const o = opts();
  const m = await resolveModelSpec(LLAMA, o);
  hub.log.length = 0;
  const off = await resolveModelSpec(LLAMA, { ...o, offline: true });
  assert.deepEqual([off.dir, off.onnxFile], [m.dir, m.onnxFile]);
  assert.equal(hub.log.length, 0, 'not one request');
  await score(off.dir, off.onnxFile);
  await assert.rejects(resolveModelSpec(`${LLAMA}@dev`, { ...o, offline: true }), lensErr('offline', /Cannot load test-org\/tiny-llama@dev: HF_HUB_OFFLINE is set and it is not in the cache .*Unset HF_HUB_OFFLINE and run once online/));
  await assert.rejects(resolveModelSpec(GPT2, { ...o, offline: true }), lensErr('offline', /HF_HUB_OFFLINE/));
  await assert.rejects(resolveModelSpec(LLAMA, { ...o, offline: true, onnxFile: 'fp16' }), lensErr('offline', /cached snapshot of test-org\/tiny-llama@main has no fp16 variant.*HF_HUB_OFFLINE is set/));

  // A cache as huggingface_hub writes it (blobs named by etag, relative links, refs/main), made by hand.
  const py = tempDir('lens-pycache-');
  const folder = repoFolder(py, GPT2);
  const commit = 'c'.repeat(40);
  for (const [f, data] of Object.entries(gpt2.files)) {
    const etag = hub.file(GPT2, f).etag;
    mkdirSync(join(folder, 'blobs'), { recursive: true });
    writeFileSync(join(folder, 'blobs', etag), data);
    const pointer = join(folder, 'snapshots', commit, f);
    mkdirSync(dirname(pointer), { recursive: true });
    symlinkSync(`${'../'.repeat(f.split('/').length + 1)}blobs/${etag}`, pointer);
  }
  mkdirSync(join(folder, 'refs'), { recursive: true });
  writeFileSync(join(folder, 'refs/main'), commit);
  const p = await resolveModelSpec(GPT2, { cacheDir: py, offline: true, endpoint: 'http://127.0.0.1:9' });
  assert.equal(p.dir, join(folder, 'snapshots', commit));
  assert.equal(p.onnxFile, 'onnx/decoder_model_merged.onnx');
  const s = await score(p.dir, p.onnxFile);
  assert.deepEqual(s.s.tokens.map((t) => t.logprob), (await score(gpt2.dir)).s.tokens.map((t) => t.logprob));
});

test('an unreachable endpoint falls back to the cache with a note, and fails clearly without one', async () => {
  // A port that was free a moment ago: nothing listens there.
  const port = await new Promise<number>((r) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => r(p));
    });
  });
  const o = opts();
  const m = await resolveModelSpec(LLAMA, o);
  const dead = `http://127.0.0.1:${port}`;
  const fb = await resolveModelSpec(LLAMA, { ...o, endpoint: dead });
  assert.equal(fb.dir, m.dir);
  assert.match(fb.hub!.notes.join(' '), /Could not reach http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\).*Using the cached snapshot/);
  await assert.rejects(resolveModelSpec(GPT2, { ...o, endpoint: dead }), lensErr('network', /Could not reach .*Check your connection and HF_ENDPOINT.*Nor is it in the cache/));
});

test('the lock: two downloads of one model into one cache fetch it once; a stale lock left by a dead process is taken over', async () => {
  const o = opts();
  const etag = sha256(llama.files['onnx/model.onnx']);
  hub.log.length = 0;
  hub.throttle = { chunk: 32 * 1024, delayMs: 10 };
  const phases: string[] = [];
  let a, b;
  try {
    [a, b] = await Promise.all([
      resolveModelSpec(LLAMA, o),
      resolveModelSpec(LLAMA, { ...o, onProgress: (p) => phases.push(p.phase) }),
    ]);
  } finally {
    hub.throttle = { chunk: 0, delayMs: 0 };
  }
  assert.equal(a.dir, b.dir);
  assert.equal(hub.requests({ server: 'cdn' }).length, 1, 'the blob crossed the network once');
  assert.ok(phases.includes('wait') || a.hub!.downloaded === 0 || b.hub!.downloaded === 0);
  assert.deepEqual(readFileSync(join(a.dir, 'onnx/model.onnx')), llama.files['onnx/model.onnx']);

  // A lock whose holder died a minute ago (no heartbeat since): taken over, the download goes on.
  const o2 = opts();
  const lock = join(resolve(o2.cacheDir!), '.locks', `models--${LLAMA.replace('/', '--')}`, `${etag}.lens.lock`);
  mkdirSync(lock, { recursive: true });
  const old = new Date(Date.now() - 60_000);
  utimesSync(lock, old, old);
  const m = await resolveModelSpec(LLAMA, o2);
  assert.deepEqual(readFileSync(join(m.dir, 'onnx/model.onnx')), llama.files['onnx/model.onnx']);
  assert.ok(!existsSync(lock), 'released');
});

test('revisions: a branch writes refs/{branch}; a renamed repo is followed', async () => {
  const o = opts();
  const devCommit = hub.addRepo('test-org/tiny-llama-dev', llama.files, { branch: 'dev' });
  const m = await resolveModelSpec('test-org/tiny-llama-dev@dev', o);
  assert.equal(m.hub!.commit, devCommit);
  assert.equal(readFileSync(join(repoFolder(o.cacheDir!, 'test-org/tiny-llama-dev'), 'refs/dev'), 'utf8'), devCommit);
  hub.renamed.set('old-org/tiny', LLAMA);
  const r = await resolveModelSpec('old-org/tiny', opts());
  assert.equal(r.hub!.commit, llamaCommit);
  assert.ok(hub.requests({ method: 'HEAD' }).some((q) => q.url.startsWith('/old-org/tiny/resolve/')), 'HEAD asked the old name and followed the relative redirect');
});

test('a cache that cannot be written, and ETags that would be paths, are refused with a message', async () => {
  const file = join(tempDir(), 'a-file');
  writeFileSync(file, '');
  await assert.rejects(resolveModelSpec(LLAMA, opts({ cacheDir: join(file, 'cache') })), lensErr('bad-file', /Cannot use the Hugging Face cache at .*a-file\/cache \(ENOTDIR.*Set HF_HUB_CACHE \(or HF_HOME\) to a writable folder/));
  hub.fakeEtag.set('config.json', '../../../evil');
  try {
    const o = opts();
    await assert.rejects(resolveModelSpec(LLAMA, o), lensErr('network', /unusable ETag for config\.json/));
    assert.ok(!existsSync(join(o.cacheDir!, 'evil')) && !existsSync(join(dirname(o.cacheDir!), 'evil')));
  } finally {
    hub.fakeEtag.clear();
  }
  // A mirror that claims the wrong git hash for a small file: caught like a corrupt LFS file.
  hub.fakeEtag.set('tokenizer.json', 'f'.repeat(40));
  try {
    await assert.rejects(resolveModelSpec(LLAMA, opts()), lensErr('checksum', /tokenizer\.json from test-org\/tiny-llama@main is corrupt: its git blob sha1 is [0-9a-f]{40} but the Hub says f{40}/));
  } finally {
    hub.fakeEtag.clear();
  }
});
