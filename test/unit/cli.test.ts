// The `lens` CLI (the bundled dist/cli.cjs, as users run it): JSON contracts, tables, errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot, skipNoShared, storiesDir, tempDir } from '../helpers/shared';

const cli = join(repoRoot, 'dist/cli.cjs');
const skip = skipNoShared || (existsSync(cli) ? false : 'dist/cli.cjs missing: run npm run build');

function lens(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', input, timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

let model = '';
function exported(): string {
  if (model) return model;
  const out = join(tempDir(), 'stories');
  const r = lens(['export', 'llama2c', '--weights', join(storiesDir, 'stories260K.bin'), '--tokenizer', storiesDir, '--out', out]);
  assert.equal(r.code, 0, r.err);
  model = out;
  return out;
}

test('lens export + generate reproduces the golden greedy text', { skip }, () => {
  const r = lens(['generate', '--model', exported(), '--max-tokens', '200', '--json']);
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out);
  assert.equal(j.text, readFileSync(join(storiesDir, 'expected_greedy_t0_n200.txt'), 'utf8'));
  assert.equal(j.tokens.length, 200);
  for (const t of j.tokens) {
    assert.equal(typeof t.id, 'number');
    assert.equal(typeof t.text, 'string');
    assert.ok(t.logprob <= 0);
  }
});

test('lens score --json follows the documented schema; --context gives the conditional NLL', { skip }, () => {
  const r = lens(['score', '--model', exported(), '--text', 'Hi nice to meet you.', '--json', '--top-k', '3']);
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out);
  assert.equal(typeof j.model, 'string');
  assert.equal(j.n_tokens, j.tokens.length);
  for (const t of j.tokens) {
    assert.deepEqual(Object.keys(t).sort(), ['end', 'entropy', 'id', 'logprob', 'rank', 'start', 'text', 'top']);
    assert.equal(t.top.length, 3);
    assert.deepEqual(Object.keys(t.top[0]).sort(), ['id', 'logprob', 'text']);
  }
  assert.ok(Math.abs(j.perplexity - Math.exp(j.nll / j.n_tokens)) < 1e-9);
  const m = JSON.parse(lens(['score', '--model', exported(), '--text', 'Hi', '--json']).out);
  const c = JSON.parse(lens(['score', '--model', exported(), '--text', 'nice to meet you.', '--context', 'Hi', '--json']).out);
  assert.ok(Math.abs(c.nll - (j.nll - m.nll)) < 1e-4);
  assert.equal(c.tokens[0].start, 0);
  assert.equal(c.tokens.at(-1).end, 'nice to meet you.'.length);
});

test('lens score reads stdin and prints a table; lens info and rank work', { skip }, () => {
  const r = lens(['score', '--model', exported()], 'Once upon a time\tthere was a cat.\n');
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /token\s+logprob/);
  assert.match(r.out, /\\t/); // whitespace made visible
  assert.match(r.out, /perplexity/);
  const info = lens(['info', '--model', exported(), '--json']);
  const d = JSON.parse(info.out);
  assert.equal(d.layers, 5);
  // 260K parameters: 512·64 embedding + 5 layers + final norm (the RoPE tables are computed in the graph).
  assert.ok(d.parameters > 250_000 && d.parameters < 300_000, String(d.parameters));
  assert.equal(d.vocab, 512);
  assert.equal(d.context, 512);
  assert.equal(d.provider, 'cpu');
  const rank = lens(['rank', '--model', exported(), '--context', 'Lily went to the', '--candidate', 'park.', '--candidate', 'zzzq xq.', '--json']);
  const rk = JSON.parse(rank.out);
  assert.equal(rk.ranked[0].candidate, 'park.');
});

test('bad input gives a clear message and a non-zero exit, never a stack trace', { skip }, () => {
  const cases: [string[], RegExp][] = [
    [['score', '--model', '/nonexistent', '--text', 'x'], /Model not found: \/nonexistent/],
    [['score', '--model', exported(), '--text', ''], /text is empty/],
    [['score', '--model', exported(), '--bogus'], /Unknown option '--bogus'/],
    [['generate', '--model', exported(), '--max-tokens=-3'], /--max-tokens must be a non-negative integer/],
    [['export', 'llama2c', '--weights', '/nonexistent.bin', '--tokenizer', storiesDir, '--out', join(tempDir(), 'x')], /nonexistent\.bin/],
    [['frobnicate'], /unknown command/],
  ];
  for (const [args, re] of cases) {
    const r = lens(args);
    assert.notEqual(r.code, 0, args.join(' '));
    assert.match(r.err, re, `${args.join(' ')} → ${r.err}`);
    assert.doesNotMatch(r.err, /\n\s+at /, `stack trace for ${args.join(' ')}: ${r.err}`);
  }
});

test('lens poe --json: per-token expert log-probs and nll_under; lens compare and speculative', { skip }, () => {
  const r = lens(['poe', '--model', exported(), '--context', 'I am a cat.', '--context', 'I am a dog.', '--max-tokens', '10', '--temperature', '0.7', '--seed', '3', '--json']);
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out);
  assert.equal(j.experts.length, 2);
  assert.equal(j.nll_under.length, 2);
  assert.ok(j.tokens.length > 0);
  for (const t of j.tokens) assert.equal(t.expert_logprobs.length, 2);
  const sum = (i: number) => -j.tokens.reduce((a: number, t: { expert_logprobs: number[] }) => a + t.expert_logprobs[i], 0);
  assert.ok(Math.abs(sum(0) - j.nll_under[0]) < 1e-6);
  const again = JSON.parse(lens(['poe', '--model', exported(), '--context', 'I am a cat.', '--context', 'I am a dog.', '--max-tokens', '10', '--temperature', '0.7', '--seed', '3', '--json']).out);
  assert.equal(again.text, j.text); // seeded
  const bad = lens(['poe', '--model', exported(), '--context', 'a', '--preset', 'cfg']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.err, /cfg preset takes 2 experts/);
  const c = JSON.parse(lens(['compare', '--model', exported(), '--context', 'I am a cat.', '--context', 'I am a dog.', '--samples', '2', '--max-tokens', '5', '--json']).out);
  assert.deepEqual(c.methods.map((m: { name: string }) => m.name), ['A', 'B', 'poe', 'concat']);
  const s = JSON.parse(lens(['speculative', '--draft', exported(), '--target', exported(), '--prompt', 'Once upon a time', '--max-tokens', '20', '--json']).out);
  const g = JSON.parse(lens(['generate', '--model', exported(), '--prompt', 'Once upon a time', '--max-tokens', '20', '--json']).out);
  assert.equal(s.text, g.text);
  assert.equal(s.stats.acceptanceRate, 1);
});
