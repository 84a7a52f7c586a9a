// The generation loop: incremental detokenization, stop strings, EOS, context limit, seeded sampling.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { CausalLM } from '../../src/core/model';
import { generate, generateAll, TextStream } from '../../src/core/generate';
import { buildSamplerChain } from '../../src/core/sampling/factory';
import { LensTokenizer } from '../../src/core/tokenizer';
import { skipNoShared, storiesModelDir, storiesDir, sharedDir } from '../helpers/shared';

test('TextStream pieces concatenate to decode(ids), holding back partial UTF-8 characters', { skip: skipNoShared }, async () => {
  for (const dir of [storiesDir, join(sharedDir, 'tokenizers/gpt2')]) {
    const tok = await LensTokenizer.load(dir);
    const texts = ['Hello wörld — 👍🏽 中文 ok', ' leading space and  two', 'émoji🙂end\nnew line\ttab'];
    for (const text of texts) {
      const ids = tok.encode(text).map((s) => s.id);
      for (const split of [0, 1, 3]) {
        const s = new TextStream((x) => tok.decode(x), ids.slice(0, split));
        const pieces = ids.slice(split).map((id) => s.push(id));
        assert.equal(pieces.join(''), s.text);
        const whole = tok.decode(ids);
        const before = split ? tok.decode(ids.slice(0, split)) : '';
        assert.equal(before + s.text, whole, `${dir} ${JSON.stringify(text)} split ${split}`);
        for (const p of pieces) assert.ok(!p.includes('\uFFFD'), `partial character leaked: ${JSON.stringify(p)}`);
      }
    }
  }
});

test('stop strings cut the text; EOS and max tokens stop; events stream the same text', { skip: skipNoShared }, async () => {
  const lm = await CausalLM.load(storiesModelDir());
  try {
    const full = await generateAll(lm, 'Once upon a time', { maxTokens: 40 });
    const stopAt = full.text.indexOf('.');
    assert.ok(stopAt > 0);
    const r = await generateAll(lm, 'Once upon a time', { maxTokens: 40, stop: ['.'] });
    assert.equal(r.stopReason, 'stop-string');
    assert.equal(r.text, full.text.slice(0, stopAt));
    let streamed = '';
    for await (const ev of generate(lm, 'Once upon a time', { maxTokens: 12 })) streamed += ev.text;
    assert.equal(streamed, (await generateAll(lm, 'Once upon a time', { maxTokens: 12 })).text);
    // Seeded sampling: same seed, same text; the sampler's log-prob is ≤ 0 and the raw one too.
    const a = await generateAll(lm, 'Lily', { maxTokens: 30, sampler: buildSamplerChain({ temperature: 1, seed: 42 }) });
    const b = await generateAll(lm, 'Lily', { maxTokens: 30, sampler: buildSamplerChain({ temperature: 1, seed: 42 }) });
    assert.equal(a.text, b.text);
    for (const t of a.tokens) assert.ok(t.logprob <= 1e-9 && t.rawLogprob <= 1e-9);
    // A prompt that nearly fills the context stops with context-full.
    const long = 'Lily ran. '.repeat(200);
    const c = await generateAll(lm, long, { maxTokens: 100 });
    assert.equal(c.stopReason, 'context-full');
    assert.ok(c.ids.length < 100);
  } finally {
    await lm.dispose();
  }
});
