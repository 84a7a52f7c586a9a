// Bad input gets a clear, specific error (a LensError with a code), never a crash.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, readFileSync, rmSync, cpSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { CausalLM } from '../../src/core/model';
import { scoreText } from '../../src/core/scoring';
import { generateAll } from '../../src/core/generate';
import { makeTinyLlama, makeTinyGpt2 } from '../helpers/fixtures';
import { tempDir, skipNoShared, sharedDir } from '../helpers/shared';

function rejectsWith(p: Promise<unknown>, code: string, re: RegExp) {
  return assert.rejects(p, (e: Error & { code?: string }) => {
    assert.equal(e.name, 'LensError', `not a LensError: ${e.stack}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, re);
    return true;
  });
}

function fixture(): string {
  const dir = join(tempDir(), 'tiny');
  makeTinyLlama(dir, { seed: 7 });
  return dir;
}

test('missing folder, config, tokenizer or ONNX file', async () => {
  await rejectsWith(CausalLM.load('/nonexistent/model'), 'missing-file', /Model folder not found/);
  const d1 = fixture();
  rmSync(join(d1, 'config.json'));
  await rejectsWith(CausalLM.load(d1), 'missing-file', /config\.json not found/);
  const d2 = fixture();
  rmSync(join(d2, 'tokenizer.json'));
  await rejectsWith(CausalLM.load(d2), 'missing-file', /tokenizer\.json/);
  const d3 = fixture();
  rmSync(join(d3, 'onnx'), { recursive: true });
  await rejectsWith(CausalLM.load(d3), 'missing-file', /No ONNX model .*onnx\/model\.onnx/);
});

test('corrupted files', async () => {
  const d1 = fixture();
  writeFileSync(join(d1, 'config.json'), '{"model_type": "llama", ');
  await rejectsWith(CausalLM.load(d1), 'bad-file', /config\.json is not valid JSON/);
  const d2 = fixture();
  const onnx = join(d2, 'onnx/model.onnx');
  const bytes = readFileSync(onnx);
  writeFileSync(onnx, bytes.subarray(0, Math.floor(bytes.length / 3))); // truncated download
  await rejectsWith(CausalLM.load(d2), 'bad-model', /ONNX Runtime could not load .*model\.onnx/);
  const d3 = fixture();
  writeFileSync(join(d3, 'tokenizer.json'), 'not json');
  await rejectsWith(CausalLM.load(d3), 'bad-file', /tokenizer\.json/);
  const d4 = fixture();
  writeFileSync(join(d4, 'config.json'), JSON.stringify({ model_type: 'llama', vocab_size: 512 }));
  await rejectsWith(CausalLM.load(d4), 'bad-config', /lacks num_hidden_layers/);
});

test('a config that contradicts the graph', async () => {
  const d = fixture();
  const cfg = JSON.parse(readFileSync(join(d, 'config.json'), 'utf8'));
  writeFileSync(join(d, 'config.json'), JSON.stringify({ ...cfg, num_hidden_layers: cfg.num_hidden_layers + 1 }));
  await rejectsWith(CausalLM.load(d), 'bad-config', /config\.json says 4 layers but .* has 3 past_key_values inputs/);
  writeFileSync(join(d, 'config.json'), JSON.stringify({ ...cfg, vocab_size: 600 }));
  await rejectsWith(CausalLM.load(d), 'bad-config', /vocab_size 600 but the graph's logits have 512/);
  writeFileSync(join(d, 'config.json'), JSON.stringify({ ...cfg, num_key_value_heads: 4, head_dim: undefined }));
  await rejectsWith(CausalLM.load(d), 'bad-config', /4 key\/value heads but the graph's cache has 2/);
});

test('a tokenizer whose vocabulary does not fit the logits', { skip: skipNoShared }, async () => {
  const d = join(tempDir(), 'tiny');
  makeTinyLlama(d, { seed: 7, vocabSize: 512, tokenizerDir: join(sharedDir, 'models/stories260K') });
  cpSync(join(sharedDir, 'tokenizers/llama2/tokenizer.json'), join(d, 'tokenizer.json'));
  await rejectsWith(CausalLM.load(d), 'vocab-mismatch', /tokenizer has 32000 tokens but the model's logits have 512/);
});

test('empty texts and prompts', async () => {
  const lm = await CausalLM.load(fixture());
  try {
    await rejectsWith(scoreText(lm, ''), 'empty-text', /text is empty/);
    await rejectsWith(scoreText(lm, '', { context: 'Hello' }), 'empty-text', /empty/);
    await rejectsWith(generateAll(lm, '', { bos: false }), 'empty-text', /prompt is empty/);
  } finally {
    await lm.dispose();
  }
});

test('a GPT-2 model without BOS in front cannot score a one-token text, and says why', async () => {
  const d = join(tempDir(), 'g');
  makeTinyGpt2(d, { seed: 3 });
  const lm = await CausalLM.load(d);
  try {
    await rejectsWith(scoreText(lm, 'a', { bos: false }), 'empty-text', /single token/);
    const r = await scoreText(lm, 'a');
    assert.equal(r.n_tokens, 1);
  } finally {
    await lm.dispose();
  }
});

test('an unavailable execution provider falls back to CPU with a clear note', async () => {
  const d = fixture();
  for (const provider of ['cuda', 'webgpu'] as const) {
    const lm = await CausalLM.load(d, { provider });
    try {
      if (lm.provider === 'cpu') assert.match(lm.providerNote!, new RegExp(`The ${provider} execution provider could not be used .*running on CPU instead`));
      else assert.equal(lm.providerNote, null); // a machine where it works
      const r = await scoreText(lm, 'hello');
      assert.ok(Number.isFinite(r.nll));
    } finally {
      await lm.dispose();
    }
  }
});

test('an ONNX file that is not a decoder with a KV cache', async () => {
  const d = fixture();
  mkdirSync(join(d, 'onnx'), { recursive: true });
  // A valid ONNX graph with the wrong signature: reuse the exporter's builder on a tiny identity graph.
  const { GraphBuilder } = await import('../../src/core/onnx/graph');
  const g = new GraphBuilder('identity');
  const x = g.input('input_ids', 'int64', ['batch', 'seq']);
  g.output('out', g.op('Identity', [x]), 'int64', ['batch', 'seq']);
  writeFileSync(join(d, 'onnx/model.onnx'), g.toBytes());
  await rejectsWith(CausalLM.load(d), 'bad-model', /no logits output|no past_key_values/);
});
