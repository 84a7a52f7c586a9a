#!/usr/bin/env bash
# Runs on the GPU machine (see tools/device/prepare.sh): unpacks .gpu/payload.tar.xz, then checks
# that our engine gives the CPU's numbers on ONNX Runtime's WebGPU provider and times generation there
# and on that machine's CPU. Logs go to $OUT (the device tool brings them back). Each step has its own
# time limit so that one hang does not cost the rest.
set -uo pipefail
OUT=${OUT:-/tmp/gpu-check-out}; mkdir -p "$OUT"
REPO=$(pwd)
RUN=$REPO/.gpu-run
step() { local name=$1 limit=$2; shift 2; echo "=== $name (limit ${limit}s) $(date +%T)"; timeout "$limit" "$@" 2>&1 | tee "$OUT/$name.log"; echo "=== $name: exit ${PIPESTATUS[0]}"; }
mkdir -p "$RUN" && xz -dc .gpu/payload.tar.xz | tar xf - -C "$RUN"
export PATH=$RUN/bin:$PATH
rm -rf node_modules && mv "$RUN/node_modules" node_modules
[ -e ../shared ] || cp -r "$RUN/shared" ../shared
# (LENS_DEVICE_SIM=1: a dry run on a machine without a GPU; leaves / alone)
[ -n "${LENS_DEVICE_SIM:-}" ] || { for f in "$RUN"/debs/*.deb; do dpkg -x "$f" /; done; ldconfig; }
for f in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json; do
  [ -f "$f" ] && { export VK_DRIVER_FILES=$f; break; }
done
{ nvidia-smi -L; node --version; nproc; echo "VK_DRIVER_FILES=${VK_DRIVER_FILES:-none}"; ldconfig -p | grep -i vulkan; } 2>&1 | tee "$OUT/env.log"
B="node $RUN/bench/generate.bench.mjs --no-tfjs --reps 2"
step provider-webgpu 60 node "$RUN/bench/provider.check.mjs" --device webgpu
if grep -q "asked for webgpu: got webgpu" "$OUT/provider-webgpu.log"; then
  step gen-webgpu 100 $B --only gen --model models/english-base --device webgpu
  step long-webgpu 100 $B --only long --device webgpu
  step big-webgpu 120 $B --only long --device webgpu --tokens 128 --llama 1024,8,16,4,2816
else
  echo "WebGPU did not load: its benches are skipped"
fi
if [ -z "${LENS_GPU_ONLY:-}" ]; then
  step gen-cpu 70 $B --only gen --model models/english-base
  step big-cpu 120 $B --only long --tokens 128 --llama 1024,8,16,4,2816
fi
echo "done $(date +%T)"
