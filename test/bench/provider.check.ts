// npm run check:provider -- --device webgpu|cuda [--model DIR] — does our engine give the CPU's
// numbers on another execution provider? Loads the model on the CPU and on --device, and prints:
// the provider each really got (ONNX Runtime falls back to the CPU with a note), max |Δ logit| of a
// padded two-row batch and of ten cached decode steps, whether greedy generation and PoE-2 give the
// same tokens, and the NLL of a text scored on each. Exit status 1 when the device gives other
// tokens or logits further apart than --tolerance (default 1e-3), 2 when the device did not load.
// Needs a machine with that accelerator: it is run by hand (tools/device/gpu-check.sh), not in CI.
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { CausalLM, type Provider } from '../../src/core/model';
import { generateAll } from '../../src/core/generate';
import { generatePoeAll } from '../../src/core/decoding/poe-generate';
import { scoreText } from '../../src/core/scoring';
import { repoRoot } from '../helpers/shared';
import { maxAbsDiff } from '../helpers/export-runner';

const { values: args } = parseArgs({
  options: { device: { type: 'string' }, model: { type: 'string' }, tolerance: { type: 'string' } },
});
const device = (args.device ?? 'webgpu') as Provider;
const dir = args.model ?? join(repoRoot, 'models/english-base');
const tol = Number(args.tolerance ?? 1e-3);

const cpu = await CausalLM.load(dir, { provider: 'cpu' });
const dev = await CausalLM.load(dir, { provider: device });
console.log(`model ${dir}\nasked for ${device}: got ${dev.provider}${dev.providerNote ? ` (${dev.providerNote})` : ''}`);
if (dev.provider !== device) process.exit(2);

let worst = 0;
// Two rows of different length, left-padded, then ten cached decode steps.
const ids = (t: string) => [cpu.bosId ?? 0, ...cpu.tokenizer.encode(t).map((s) => s.id)];
const a = ids('Once upon a time there was a little dog.');
const b = ids('The sun was hot.');
const L = Math.max(a.length, b.length);
const pad = (r: number[]) => [...new Array(L - r.length).fill(0), ...r];
const mask = (r: number[]) => Uint8Array.from({ length: L }, (_, i) => (i >= L - r.length ? 1 : 0));
let rc = await cpu.forward([pad(a), pad(b)], { newMask: [mask(a), mask(b)] });
let rd = await dev.forward([pad(a), pad(b)], { newMask: [mask(a), mask(b)] });
// Padded positions' logits are meaningless: compare each row's real positions only.
const V = rc.vocab;
for (const [r, row] of [a, b].entries()) {
  const off = r * L * V + (L - row.length) * V;
  worst = Math.max(worst, maxAbsDiff(rc.logits.subarray(off, (r + 1) * L * V), rd.logits.subarray(off, (r + 1) * L * V)));
}
console.log(`prefill, 2 left-padded rows: max |Δ logit| ${worst.toExponential(2)}`);
let stepWorst = 0;
for (let s = 0; s < 10; s++) {
  const next = [[5 + s], [9 + s]];
  rc = await cpu.forward(next, { state: rc.state });
  rd = await dev.forward(next, { state: rd.state });
  stepWorst = Math.max(stepWorst, maxAbsDiff(rc.logits, rd.logits));
}
console.log(`10 cached decode steps: max |Δ logit| ${stepWorst.toExponential(2)}`);
worst = Math.max(worst, stepWorst);

const prompt = 'Once upon a time';
const gc = await generateAll(cpu, prompt, { maxTokens: 64, stopAtEos: false });
const gd = await generateAll(dev, prompt, { maxTokens: 64, stopAtEos: false });
const sameGreedy = gc.ids.every((x, i) => x === gd.ids[i]) && gc.ids.length === gd.ids.length;
console.log(`greedy, 64 tokens: ${sameGreedy ? 'same tokens' : 'DIFFERENT tokens'}\n  cpu: ${JSON.stringify(gc.text)}\n  ${device}: ${JSON.stringify(gd.text)}`);

const experts = (lm: CausalLM) => ['Lily had a cat.', 'Tom went to the park.'].map((context) => ({ model: lm, context }));
const pc = await generatePoeAll(experts(cpu), { maxTokens: 32, stopAtEos: false, sampling: { temperature: 0 } });
const pd = await generatePoeAll(experts(dev), { maxTokens: 32, stopAtEos: false, sampling: { temperature: 0 } });
const samePoe = pc.ids.every((x, i) => x === pd.ids[i]) && pc.ids.length === pd.ids.length;
console.log(`PoE-2 greedy, 32 tokens: ${samePoe ? 'same tokens' : 'DIFFERENT tokens'}; NLL under the experts cpu ${pc.nll_under.map((x) => x.toFixed(4)).join(' / ')}, ${device} ${pd.nll_under.map((x) => x.toFixed(4)).join(' / ')}`);

const text = 'The little girl found a red ball in the garden and she was very happy.';
const sc = await scoreText(cpu, text);
const sd = await scoreText(dev, text);
console.log(`score of a ${sc.n_tokens}-token text: NLL cpu ${sc.nll.toFixed(5)}, ${device} ${sd.nll.toFixed(5)} nats`);

await cpu.dispose();
await dev.dispose();
const ok = sameGreedy && samePoe && worst <= tol;
console.log(ok ? `OK: ${device} matches the CPU (max |Δ logit| ${worst.toExponential(2)} ≤ ${tol})` : `MISMATCH on ${device}`);
process.exit(ok ? 0 : 1);
