// The engine (exporter → CausalLM → generate) reproduces llama2.c's own greedy output exactly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CausalLM } from '../../src/core/model';
import { generateAll } from '../../src/core/generate';
import { skipNoShared, storiesDir, storiesModelDir } from '../helpers/shared';

test('greedy decoding from BOS reproduces expected_greedy_t0_n200.txt byte for byte', { skip: skipNoShared }, async () => {
  const lm = await CausalLM.load(storiesModelDir());
  try {
    // llama2.c's -n 200 runs 200 forwards starting at BOS: 200 generated tokens.
    const r = await generateAll(lm, '', { maxTokens: 200, stopAtEos: false });
    const golden = readFileSync(join(storiesDir, 'expected_greedy_t0_n200.txt'), 'utf8');
    assert.equal(r.ids.length, 200);
    assert.equal(r.text, golden);
    // The streamed pieces concatenate to the same text.
    assert.equal(r.tokens.map((t) => t.text).join(''), golden);
  } finally {
    await lm.dispose();
  }
});

test('generation with a prompt keeps the first token\'s leading space and stops at max tokens', { skip: skipNoShared }, async () => {
  const lm = await CausalLM.load(storiesModelDir());
  try {
    const full = await generateAll(lm, '', { maxTokens: 12 });
    // Continuing the golden text's first words must reproduce the rest of it (greedy is deterministic).
    const words = full.text.split(' ');
    const prompt = words.slice(0, 3).join(' ');
    const cont = await generateAll(lm, prompt, { maxTokens: 4 });
    assert.equal(cont.stopReason, 'max-tokens');
    assert.equal(cont.ids.length, 4);
    assert.ok(cont.text.startsWith(' '), `continuation ${JSON.stringify(cont.text)} should start with a space`);
    assert.ok(full.text.startsWith(prompt + cont.text), `${JSON.stringify(prompt + cont.text)} vs ${JSON.stringify(full.text)}`);
  } finally {
    await lm.dispose();
  }
});
