// A 100k-token text scores with bounded memory: logits are consumed chunk by chunk and windows
// slide, so [tokens × vocab] (here 100k × 32000 floats = 12.8 GB) is never held at once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CausalLM } from '../../src/core/model';
import { scoreText } from '../../src/core/scoring';
import { makeTinyLlama } from '../helpers/fixtures';
import { skipNoShared, sharedDir, tempDir } from '../helpers/shared';

test('a 100k-token text scores without holding its logits (peak RSS growth bounded)', { skip: skipNoShared, timeout: 600_000 }, async () => {
  const dir = makeTinyLlama(join(tempDir(), 'wide'), {
    seed: 3, vocabSize: 32000, dim: 32, hiddenDim: 64, numLayers: 1, numHeads: 4, numKvHeads: 2, maxSeqLen: 1024,
    tokenizerDir: join(sharedDir, 'tokenizers/llama2'),
  }).dir;
  const lm = await CausalLM.load(dir);
  try {
    const corpus = readFileSync(join(sharedDir, 'corpora/tinyshakespeare.txt'), 'utf8');
    let text = corpus.slice(0, 310_000);
    let n = lm.tokenizer.encode(text).length;
    while (n < 100_000) {
      text += corpus.slice(0, 50_000);
      n = lm.tokenizer.encode(text).length;
    }
    global.gc?.();
    const rss0 = process.memoryUsage().rss;
    let peak = rss0;
    let calls = 0;
    const r = await scoreText(lm, text, {
      topK: 1,
      chunk: 256,
      windowContext: 128,
      onProgress: () => {
        if (++calls % 8 === 0) peak = Math.max(peak, process.memoryUsage().rss);
      },
    });
    peak = Math.max(peak, process.memoryUsage().rss);
    const growthMb = (peak - rss0) / 2 ** 20;
    console.log(`${r.tokens.length} tokens in ${r.windows} windows; peak RSS growth ${growthMb.toFixed(0)} MB`);
    assert.ok(r.tokens.length >= 100_000);
    assert.equal(r.n_tokens, r.tokens.length);
    assert.ok(r.windows > 100);
    assert.ok(Number.isFinite(r.nll) && r.perplexity > 1);
    // Holding the logits would take 12.8 GB; one chunk is 256 × 32000 × 4 B = 33 MB.
    assert.ok(growthMb < 1500, `peak RSS grew by ${growthMb.toFixed(0)} MB`);
    assert.equal(r.tokens.at(-1)!.end, text.length);
  } finally {
    await lm.dispose();
  }
});
