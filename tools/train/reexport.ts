// Re-writes a published zoo model's ONNX file with the current exporter, from the same run's
// weights (.cache/train/runs/NAME/model.bin, stored as the config's export.weightsDtype), keeping
// every other file of models/NAME. For exporter changes that leave the weights alone (e.g. the fused
// attention graph): it refuses when config.json would change, and prints how far the new file's
// logits are from the old one's on a sample text, so the stated losses still hold.
//   node --import tsx tools/train/reexport.ts --name NAME [--run DIR]
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { exportLlama2c } from '../../src/core/export/llama2c';
import type { WeightsDtype } from '../../src/core/export/fp16';
import type { HeadCombine } from '../../src/core/export/decoder';
import { CausalLM } from '../../src/core/model';
import { repoRoot, resolveTokenizerDir } from './prepare';

const { values } = parseArgs({ options: { name: { type: 'string' }, run: { type: 'string' } } });
const name = values.name;
if (!name) throw new Error('--name NAME');
const modelDir = path.join(repoRoot, 'models', name);
const runDir = values.run ?? path.join(repoRoot, '.cache/train/runs', name);
const config = JSON.parse(readFileSync(path.join(repoRoot, 'tools/train/configs', `${name}.json`), 'utf8')) as {
  data: { tokenizer: string };
  model: { head_combine?: string };
  export?: { weightsDtype?: WeightsDtype; earlyExitLayers?: number[] };
};
const headCombine = (config.model.head_combine ?? 'standard') as HeadCombine;
const tmp = mkdtempSync(path.join(os.tmpdir(), 'lens-reexport-'));
try {
  const out = path.join(tmp, name);
  exportLlama2c({
    weights: path.join(runDir, 'model.bin'),
    tokenizerDir: resolveTokenizerDir(config.data.tokenizer),
    outDir: out,
    weightsDtype: config.export?.weightsDtype ?? 'float32',
    earlyExitLayers: config.export?.earlyExitLayers,
    headCombine,
  });
  const oldConfig = readFileSync(path.join(modelDir, 'config.json'), 'utf8');
  const newConfig = readFileSync(path.join(out, 'config.json'), 'utf8');
  if (JSON.stringify(JSON.parse(oldConfig)) !== JSON.stringify(JSON.parse(newConfig))) {
    throw new Error(`config.json would change; publish the model instead (tools/train/publish.ts):\nold ${oldConfig}\nnew ${newConfig}`);
  }
  // Logits of both files on the same text (one window).
  const text = 'It was the best of times, it was the worst of times. "Indeed," said Mr. Darcy, "I never saw her."';
  const logits = async (dir: string) => {
    const lm = await CausalLM.load(dir, { threads: 2 });
    const ids = [lm.bosId ?? 0, ...lm.tokenizer.encode(text).map((t) => t.id)].slice(0, lm.maxPositions);
    const r = await lm.forward([ids]);
    await lm.dispose();
    return r.logits;
  };
  const a = await logits(modelDir);
  const b = await logits(out);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  copyFileSync(path.join(out, 'onnx/model.onnx'), path.join(modelDir, 'onnx/model.onnx'));
  // The file sizes the card and training.json state (the float32 twin's too).
  const fp32 = path.join(tmp, 'fp32');
  exportLlama2c({ weights: path.join(runDir, 'model.bin'), tokenizerDir: resolveTokenizerDir(config.data.tokenizer), outDir: fp32, headCombine });
  const onnxBytes = statSync(path.join(modelDir, 'onnx/model.onnx')).size;
  const fp32Bytes = statSync(path.join(fp32, 'onnx/model.onnx')).size;
  const mb = (n: number) => (n / 1e6).toFixed(2);
  const facts = path.join(modelDir, 'training.json');
  if (existsSync(facts)) {
    writeFileSync(facts, readFileSync(facts, 'utf8').replace(/("onnx_bytes": )\d+/, `$1${onnxBytes}`).replace(/("fp32_bytes": )\d+/, `$1${fp32Bytes}`));
  }
  const card = path.join(modelDir, 'MODEL_CARD.md');
  if (existsSync(card)) {
    writeFileSync(card, readFileSync(card, 'utf8').replace(/(in onnx\/model\.onnx: )[\d.]+( MB \(float32: )[\d.]+( MB\))/, `$1${mb(onnxBytes)}$2${mb(fp32Bytes)}$3`));
  }
  console.log(`${name}: wrote ${path.join(modelDir, 'onnx/model.onnx')}; max |Δ logit| against the previous file ${d.toExponential(2)} over ${a.length} values`);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
