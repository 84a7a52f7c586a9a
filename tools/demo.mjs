// npm run demo — the main job on the default model: score a sentence token by token, then continue it.
// Uses the embedded default model (models/english-base) when the package has one; otherwise exports
// ../shared/models/stories260K once into .cache/models/stories260K.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'dist/cli.cjs');
const run = (args) => execFileSync(process.execPath, [cli, ...args], { stdio: 'inherit' });
if (!existsSync(cli)) execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });

// The embedded default (src/cli/cli.ts DEFAULT_MODEL): lens uses it when --model is absent.
let modelArgs = [];
if (!existsSync(join(root, 'models/english-base/onnx/model.onnx'))) {
  const out = join(root, '.cache/models/stories260K');
  if (!existsSync(join(out, 'onnx/model.onnx'))) {
    const src = join(root, '../shared/models/stories260K');
    if (!existsSync(src)) {
      console.error(`No embedded model and no ${src} to export one from.`);
      process.exit(1);
    }
    run(['export', 'llama2c', '--weights', join(src, 'stories260K.bin'), '--tokenizer', src, '--out', out]);
  }
  modelArgs = ['--model', out];
}
const text = process.argv[2] ?? 'Once upon a time, there was a little girl named Lily. She loved to play outside.';
run(['score', ...modelArgs, '--text', text]);
console.log('\nContinuation (greedy):');
run(['generate', ...modelArgs, '--prompt', text, '--max-tokens', '40']);
