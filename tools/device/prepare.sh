#!/usr/bin/env bash
# Packs what tools/device/gpu-check.sh needs on a GPU machine that has no Node.js and no network
# (the `device` machine of this workplace): Node itself (stripped), onnxruntime-node's Linux x64
# binaries and JavaScript, the bench and provider-check scripts bundled with esbuild, the Llama-2
# tokenizer from ../shared (for the bench's random 32k-vocabulary Llama) and the Vulkan loader that
# ONNX Runtime's WebGPU provider (Dawn) opens. Output: .gpu/payload.tar.xz (~35 MB; keep .gpu/
# out of git: `echo /.gpu/ >> .git/info/exclude`). Then, with the device tool:
#   run(command="bash tools/device/gpu-check.sh", carry=[".gpu"], timeout_s=540)
set -euo pipefail
cd "$(dirname "$0")/../.."
rm -rf .gpu/stage && mkdir -p .gpu/stage/bin .gpu/stage/node_modules .gpu/stage/bench .gpu/stage/shared/tokenizers .gpu/stage/debs
cp /usr/bin/node .gpu/stage/bin/node && strip .gpu/stage/bin/node
for p in onnxruntime-node onnxruntime-common; do
  mkdir -p .gpu/stage/node_modules/$p
  (cd node_modules/$p && tar cf - --exclude=bin --exclude='*.map' .) | (cd .gpu/stage/node_modules/$p && tar xf -)
done
mkdir -p .gpu/stage/node_modules/onnxruntime-node/bin/napi-v6/linux/x64
cp node_modules/onnxruntime-node/bin/napi-v6/linux/x64/* .gpu/stage/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/
for s in generate.bench provider.check; do
  npx esbuild "test/bench/$s.ts" --bundle --platform=node --format=esm --target=node20 \
    --external:onnxruntime-node --external:@huggingface/transformers \
    --banner:js="import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" \
    --outfile=".gpu/stage/bench/$s.mjs" --log-level=warning
done
cp -r ../shared/tokenizers/llama2 .gpu/stage/shared/tokenizers/
echo "stand-in for ../shared on the device machine (tokenizers/llama2 only)" > .gpu/stage/shared/SOURCES.md
(cd .gpu/stage/debs && apt-get download libvulkan1 libglvnd0 libglx0 libegl1 libgl1 libopengl0 libgles2 >/dev/null 2>&1) || echo "warning: could not download the Vulkan / GL loaders"
tar cf - -C .gpu/stage . | xz -T2 -9 > .gpu/payload.tar.xz
rm -rf .gpu/stage
ls -la .gpu/payload.tar.xz
