// float16 weight storage (exportLlama2c weightsDtype / `lens export llama2c --weights-dtype fp16`):
// the file holds float16 matrices cast to float32 in the graph, is about half the size, and its
// logits stay within float16 rounding of the float32 export on the real stories260K checkpoint.

import assert from 'node:assert/strict';
import { readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import onnxProto from 'onnx-proto';
import { exportLlama2c } from '../../src/core/export/llama2c';
import { float16Initializers } from '../../src/core/export/fp16';
import { halfToFloat } from '../../src/core/half';
import { CausalLM } from '../../src/core/model';
import { main } from '../../src/cli/cli';
import { isLensError } from '../../src/core/errors';
import { skipNoShared, storiesDir, tempDir } from '../helpers/shared';

const { onnx } = onnxProto;
const tmp = tempDir('lens-fp16-');
after(() => rmSync(tmp, { recursive: true, force: true }));

test('float16Initializers stores large float32 initializers as float16 behind a Cast', { skip: skipNoShared }, () => {
  const out32 = path.join(tmp, 'f32');
  exportLlama2c({ weights: path.join(storiesDir, 'stories260K.bin'), tokenizerDir: storiesDir, outDir: out32 });
  const bytes = readFileSync(path.join(out32, 'onnx/model.onnx'));
  const before = onnx.ModelProto.decode(bytes);
  const half = onnx.ModelProto.decode(float16Initializers(bytes, { minElements: 1024 }));
  const FLOAT = onnx.TensorProto.DataType.FLOAT;
  const FLOAT16 = onnx.TensorProto.DataType.FLOAT16;
  const byName = new Map(before.graph!.initializer!.map((t) => [t.name!, t]));
  let converted = 0;
  for (const t of half.graph!.initializer!) {
    const n = (t.dims ?? []).reduce<number>((a, d) => a * Number(d), 1);
    if (t.dataType === FLOAT16) {
      converted++;
      assert.ok(n >= 1024, `${t.name} (${n} elements) should have stayed float32`);
      assert.ok(t.name!.endsWith('.fp16'));
      const orig = byName.get(t.name!.slice(0, -'.fp16'.length))!;
      const a = new Float32Array(Uint8Array.from(orig.rawData!).buffer);
      const b = halfToFloat(new Uint16Array(Uint8Array.from(t.rawData!).buffer));
      for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) <= Math.abs(a[i]!) * 2 ** -11 + 2 ** -24, `${t.name}[${i}]`);
      const cast = half.graph!.node!.find((nd) => nd.opType === 'Cast' && nd.input![0] === t.name);
      assert.ok(cast, `no Cast reads ${t.name}`);
      assert.equal(cast.output![0], orig.name);
      assert.equal(Number(cast.attribute![0]!.i), FLOAT);
    } else {
      assert.ok(n < 1024 || t.dataType !== FLOAT, `${t.name} (${n} elements) was left float32`);
    }
  }
  // Per layer: the packed Q/K/V, O, packed gate/up and down matrices; plus the embedding.
  assert.ok(converted >= 5 * 4 + 1, `only ${converted} initializers converted`);
});

test('fp16 export: half the file, logits within float16 rounding of fp32', { skip: skipNoShared }, async () => {
  const out32 = path.join(tmp, 'm32');
  const out16 = path.join(tmp, 'm16');
  const weights = path.join(storiesDir, 'stories260K.bin');
  exportLlama2c({ weights, tokenizerDir: storiesDir, outDir: out32 });
  exportLlama2c({ weights, tokenizerDir: storiesDir, outDir: out16, weightsDtype: 'float16' });
  const s32 = statSync(path.join(out32, 'onnx/model.onnx')).size;
  const s16 = statSync(path.join(out16, 'onnx/model.onnx')).size;
  assert.ok(s16 < 0.56 * s32, `fp16 file ${s16} B vs fp32 ${s32} B`);
  const a = await CausalLM.load(out32, { threads: 1 });
  const b = await CausalLM.load(out16, { threads: 1 });
  const ids = [1, 403, 261, 365, 280, 382, 262, 302, 324, 267, 458, 284, 272, 347];
  const ra = await a.forward([ids]);
  const rb = await b.forward([ids]);
  let maxDiff = 0;
  let anyDiff = false;
  for (let i = 0; i < ra.logits.length; i++) {
    const d = Math.abs(ra.logits[i]! - rb.logits[i]!);
    maxDiff = Math.max(maxDiff, d);
    anyDiff ||= d > 0;
  }
  assert.ok(anyDiff, 'fp16 weights should change the logits a little');
  assert.ok(maxDiff < 0.05, `max |logit diff| ${maxDiff}`);
});

test('lens export llama2c --weights-dtype: fp16 accepted, anything else a clear error', { skip: skipNoShared }, async () => {
  const out = path.join(tmp, 'cli16');
  const errs: string[] = [];
  const origErr = console.error;
  const origLog = console.log;
  console.error = (...m: unknown[]) => void errs.push(m.join(' '));
  console.log = () => {};
  try {
    const weights = path.join(storiesDir, 'stories260K.bin');
    assert.equal(await main(['export', 'llama2c', '--weights', weights, '--tokenizer', storiesDir, '--out', out, '--weights-dtype', 'fp16']), 0);
    const m = onnx.ModelProto.decode(readFileSync(path.join(out, 'onnx/model.onnx')));
    assert.ok(m.graph!.initializer!.some((t) => t.dataType === onnx.TensorProto.DataType.FLOAT16));
    // --primitive-ops: the opset-17 graph without ONNX's fused Attention / RotaryEmbedding.
    const prim = path.join(tmp, 'cliprim');
    assert.equal(await main(['export', 'llama2c', '--weights', weights, '--tokenizer', storiesDir, '--out', prim, '--primitive-ops']), 0);
    const p = onnx.ModelProto.decode(readFileSync(path.join(prim, 'onnx/model.onnx')));
    assert.equal(Number(p.opsetImport![0]!.version), 17);
    assert.ok(!p.graph!.node!.some((n) => n.opType === 'Attention'));
    assert.equal(Number(m.opsetImport![0]!.version), 23);
    assert.equal(await main(['export', 'llama2c', '--weights', weights, '--tokenizer', storiesDir, '--out', out, '--weights-dtype', 'int3']), 1);
    assert.match(errs.join('\n'), /--weights-dtype takes fp32 or fp16/);
  } finally {
    console.error = origErr;
    console.log = origLog;
  }
  assert.throws(
    () => exportLlama2c({ weights: path.join(storiesDir, 'stories260K.bin'), tokenizerDir: storiesDir, outDir: out, weightsDtype: 'bf16' as 'float16' }),
    (e: unknown) => isLensError(e) && /weightsDtype/.test((e as Error).message),
  );
});
