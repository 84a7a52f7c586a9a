// Hub ids, ONNX variant choice, environment precedence, ETag/URL conventions, the CLI progress line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { mkdirSync, writeFileSync } from 'node:fs';
import { parseHubId, looksLikeHubId, checkRepoPath } from '../../src/core/hub/spec';
import { chooseOnnxFile, externalDataFiles, modelFiles, HUB_ONNX_PREFERENCE } from '../../src/core/hub/variants';
import { hubEnv, envFlag, readToken } from '../../src/core/hub/env';
import { normalizeEtag, resolveUrl } from '../../src/core/hub/http';
import { resolveModelSpec } from '../../src/core/hub';
import { progressPrinter, formatBytes } from '../../src/cli/progress';
import { isLensError } from '../../src/core/errors';
import { tempDir } from '../helpers/shared';

function lensErr(code: string, re: RegExp) {
  return (e: unknown) => {
    assert.ok(isLensError(e), `not a LensError: ${e}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, re);
    return true;
  };
}

test('Hub ids: org/name[@revision]; bad ones get a message with the expected form', () => {
  assert.deepEqual(parseHubId('onnx-community/gpt2'), { repo: 'onnx-community/gpt2', revision: 'main' });
  assert.deepEqual(parseHubId('HuggingFaceTB/SmolLM2-135M-Instruct@v1.0'), { repo: 'HuggingFaceTB/SmolLM2-135M-Instruct', revision: 'v1.0' });
  assert.deepEqual(parseHubId('a_b/c.d@refs/pr/3'), { repo: 'a_b/c.d', revision: 'refs/pr/3' });
  const sha = '0123456789abcdef0123456789abcdef01234567';
  assert.equal(parseHubId(`Xenova/gpt2@${sha}`).revision, sha);
  for (const ok of ['a/b', 'Qwen/Qwen2.5-0.5B-Instruct', 'x/y@main']) assert.ok(looksLikeHubId(ok), ok);
  for (const no of ['gpt2', 'a/b/c', './a/b', '/abs/path', 'a/', '/b', 'a/-b', 'a b/c']) assert.ok(!looksLikeHubId(no), no);
  assert.throws(() => parseHubId('a--b/c'), lensErr('bad-argument', /'--' and '\.\.' are not allowed.*expected org\/name/));
  assert.throws(() => parseHubId('a/b@'), lensErr('bad-argument', /empty revision/));
  assert.throws(() => parseHubId('a/b@../x'), lensErr('bad-argument', /not a valid git ref/));
  assert.throws(() => parseHubId(`a/${'x'.repeat(100)}`), lensErr('bad-argument', /96/));
  for (const bad of ['../x.onnx', '/etc/passwd', 'onnx//m.onnx', 'C:/x.onnx', 'a\\b.onnx', '']) {
    assert.throws(() => checkRepoPath(bad), lensErr('bad-argument', /Invalid file/), bad);
  }
});

test('ONNX variant choice: best present by default, paths and dtype names on request, listings in errors', () => {
  const repo = ['config.json', 'tokenizer.json', 'onnx/model_q4.onnx', 'onnx/model_fp16.onnx', 'onnx/model_quantized.onnx', 'onnx/model.onnx', 'onnx/model.onnx_data'];
  assert.equal(chooseOnnxFile(repo, undefined, 'r'), 'onnx/model.onnx');
  assert.equal(chooseOnnxFile(repo.filter((f) => f !== 'onnx/model.onnx'), undefined, 'r'), 'onnx/model_fp16.onnx');
  assert.equal(chooseOnnxFile(['onnx/model_q4.onnx', 'onnx/model_quantized.onnx'], undefined, 'r'), 'onnx/model_quantized.onnx');
  assert.equal(chooseOnnxFile(['onnx/decoder_model.onnx', 'onnx/decoder_with_past_model.onnx', 'onnx/decoder_model_merged.onnx'], undefined, 'r'), 'onnx/decoder_model_merged.onnx');
  assert.equal(chooseOnnxFile(repo, 'q4', 'r'), 'onnx/model_q4.onnx');
  assert.equal(chooseOnnxFile(repo, 'q8', 'r'), 'onnx/model_quantized.onnx');
  assert.equal(chooseOnnxFile(repo, 'fp32', 'r'), 'onnx/model.onnx');
  assert.equal(chooseOnnxFile(['onnx/decoder_model_merged_fp16.onnx'], 'fp16', 'r'), 'onnx/decoder_model_merged_fp16.onnx');
  assert.equal(chooseOnnxFile(repo, 'onnx/model_fp16.onnx', 'r'), 'onnx/model_fp16.onnx');
  assert.throws(() => chooseOnnxFile(repo, 'bnb4', 'org/x@main'), lensErr('hub-not-found', /org\/x@main has no bnb4 variant.*ONNX files there: onnx\/model_q4\.onnx/));
  assert.throws(() => chooseOnnxFile(repo, 'onnx/nope.onnx', 'org/x@main'), lensErr('hub-not-found', /onnx\/nope\.onnx is not in org\/x@main: check --onnx-file; ONNX files there/));
  assert.throws(() => chooseOnnxFile(['onnx/encoder_model.onnx'], undefined, 'org/x@main'), lensErr('bad-model', /no ONNX decoder.*encoder_model\.onnx.*--onnx-file/));
  assert.throws(() => chooseOnnxFile(['README.md'], undefined, 'org/x@main'), lensErr('bad-model', /holds no \.onnx file/));
  // Every default candidate is a plain repo path.
  for (const f of HUB_ONNX_PREFERENCE) checkRepoPath(f);

  const files = ['onnx/model.onnx', 'onnx/model.onnx_data', 'onnx/model.onnx_data_1', 'onnx/model.onnx_data_2', 'onnx/model_fp16.onnx', 'onnx/model_fp16.onnx_data', 'x/model.onnx.data', 'onnx/model.onnx_database'];
  assert.deepEqual(externalDataFiles('onnx/model.onnx', files), ['onnx/model.onnx_data', 'onnx/model.onnx_data_1', 'onnx/model.onnx_data_2']);
  assert.deepEqual(externalDataFiles('x/model.onnx', files), ['x/model.onnx.data']);
  assert.deepEqual(
    modelFiles(['config.json', 'tokenizer.json', 'generation_config.json', 'README.md', ...files], 'onnx/model_fp16.onnx', 'r'),
    ['config.json', 'tokenizer.json', 'generation_config.json', 'onnx/model_fp16.onnx', 'onnx/model_fp16.onnx_data'],
  );
  assert.throws(() => modelFiles(['config.json', 'onnx/model.onnx'], 'onnx/model.onnx', 'org/x@main'), lensErr('bad-model', /org\/x@main has no tokenizer\.json/));
});

test('environment: HF_ENDPOINT, HF_TOKEN / token file, HF_HUB_CACHE > HF_HOME > XDG_CACHE_HOME, HF_HUB_OFFLINE', () => {
  const home = tempDir();
  writeFileSync(join(home, 'token'), 'hf_fromfile\n');
  let e = hubEnv({}, { HF_HOME: home });
  assert.equal(e.endpoint, 'https://huggingface.co');
  assert.equal(e.token, 'hf_fromfile');
  assert.equal(e.cacheDir, join(home, 'hub'));
  assert.equal(e.offline, false);
  e = hubEnv({}, { HF_HOME: home, HF_TOKEN: 'hf_env', HF_ENDPOINT: 'http://127.0.0.1:9/', HF_HUB_CACHE: '/c', HF_HUB_OFFLINE: 'TRUE' });
  assert.deepEqual(e, { endpoint: 'http://127.0.0.1:9', token: 'hf_env', cacheDir: '/c', offline: true });
  assert.equal(hubEnv({}, { XDG_CACHE_HOME: '/x' }).cacheDir, '/x/huggingface/hub');
  assert.equal(hubEnv({}, { HUGGINGFACE_HUB_CACHE: '~/hc' }).cacheDir, join(homedir(), 'hc'));
  assert.equal(hubEnv({ offline: false, token: 'hf_opt', endpoint: 'http://h', cacheDir: '/o' }, { HF_HUB_OFFLINE: '1', HF_TOKEN: 'hf_env' }).token, 'hf_opt');
  assert.equal(readToken({ HF_HOME: home, HF_TOKEN: '' }), undefined, 'an empty HF_TOKEN means anonymous');
  assert.equal(readToken({ HF_TOKEN_PATH: join(home, 'token') }), 'hf_fromfile');
  for (const v of ['1', 'on', 'YES', 'true']) assert.ok(envFlag(v));
  for (const v of [undefined, '0', 'no', '']) assert.ok(!envFlag(v));
});

test('ETags and resolve URLs follow huggingface_hub', () => {
  assert.equal(normalizeEtag('W/"abc"'), 'abc');
  assert.equal(normalizeEtag('"abc"'), 'abc');
  assert.equal(normalizeEtag(null), null);
  assert.equal(resolveUrl('https://huggingface.co', 'a/b', 'refs/pr/1', 'onnx/model q4.onnx'), 'https://huggingface.co/a/b/resolve/refs%2Fpr%2F1/onnx/model%20q4.onnx');
});

test('resolveModelSpec: folders and embedded names pass through; dtype names pick among a folder\'s variants', async () => {
  const root = tempDir();
  mkdirSync(join(root, 'm/onnx'), { recursive: true });
  writeFileSync(join(root, 'm/onnx/model.onnx'), '');
  writeFileSync(join(root, 'm/onnx/model_q4.onnx'), '');
  assert.deepEqual(await resolveModelSpec(join(root, 'm')), { dir: join(root, 'm'), onnxFile: undefined, source: 'folder' });
  assert.equal((await resolveModelSpec(join(root, 'm'), { onnxFile: 'q4' })).onnxFile, 'onnx/model_q4.onnx');
  assert.equal((await resolveModelSpec(join(root, 'm'), { onnxFile: 'onnx/other.onnx' })).onnxFile, 'onnx/other.onnx');
  const emb = await resolveModelSpec('m', { embeddedDir: root });
  assert.deepEqual(emb, { dir: join(root, 'm'), onnxFile: undefined, source: 'embedded' });
  await assert.rejects(resolveModelSpec('nothing-here', { embeddedDir: root }), lensErr('missing-file', /not a folder, not an embedded model \(m\), and not a Hub id/));
  await assert.rejects(resolveModelSpec(''), lensErr('bad-argument', /No model given/));
  writeFileSync(join(root, 'file'), '');
  await assert.rejects(resolveModelSpec(join(root, 'file')), lensErr('bad-argument', /not a folder/));
});

test('CLI progress: redraws one line on a terminal, a few plain lines elsewhere', () => {
  const ev = (phase: 'download' | 'retry' | 'done', loaded: number, filesDone: number, message?: string) => ({
    phase, repo: 'o/m', revision: 'main', file: 'onnx/model.onnx', loaded, total: 4 << 20, filesDone, filesTotal: 2, message,
  });
  let t = 0;
  const tty: string[] = [];
  const p = progressPrinter({ isTTY: true, columns: 100, write: (s) => tty.push(s) }, () => t);
  for (let i = 0; i <= 8; i++) {
    t += 200;
    p(ev('download', (i * (4 << 20)) / 8, i === 8 ? 2 : 0));
  }
  p(ev('retry', 4 << 20, 2, 'onnx/model.onnx: connection broke off'));
  p(ev('done', 4 << 20, 2));
  const out = tty.join('');
  assert.match(tty[0], /^downloading o\/m@main: 2 files, 4\.00 MB\n$/);
  assert.ok(tty.filter((s) => s.startsWith('\r\x1b[K[')).length >= 8, 'redraws in place');
  assert.match(out, /\[#{30}\] 100% 4\.00 MB\/4\.00 MB [\d.]+ MB\/s \[2\/2\] onnx\/model\.onnx/);
  for (const s of tty) for (const l of s.split('\n')) assert.ok(l.replace('\r\x1b[K', '').length < 100, `fits the terminal: ${l}`);
  assert.match(out, /\r\x1b\[Konnx\/model\.onnx: connection broke off\n/, 'the bar is cleared before a message');
  assert.match(out, /downloaded o\/m@main \(4\.00 MB\) in [\d.]+ s\n$/);

  const zero: string[] = [];
  const z = progressPrinter({ isTTY: true, columns: 0, write: (s) => zero.push(s) }, () => (t += 200));
  z(ev('download', 1 << 20, 0));
  z(ev('download', 2 << 20, 0));
  assert.match(zero.join(''), /\[0\/2\] onnx\/model\.onnx$/, 'a terminal that reports 0 columns gets 80');

  const plain: string[] = [];
  const q = progressPrinter({ write: (s) => plain.push(s) }, () => (t += 100));
  for (let i = 0; i <= 8; i++) q(ev('download', (i * (4 << 20)) / 8, 0));
  q(ev('done', 4 << 20, 2));
  assert.equal(plain.length, 2, plain.join(''));
  assert.ok(!plain.join('').includes('\r'), 'no carriage returns in a log');
  const none: string[] = [];
  const c = progressPrinter({ write: (s) => none.push(s) });
  c({ ...ev('done', 0, 0), total: 0, filesTotal: 0 });
  assert.deepEqual(none, [], 'silent when everything was cached');
  assert.equal(formatBytes(512), '512 B');
  assert.equal(formatBytes(1536), '1.50 kB');
  assert.equal(formatBytes(3 * 2 ** 30), '3.00 GB');
});
