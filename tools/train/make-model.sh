#!/bin/sh
# Reproduces one zoo model: tokenize its data, train it (resumes from .cache/train/runs/NAME/ckpt.pt
# when present), export it to models/NAME (fp16 weights where the config says so) and write its card.
#   tools/train/make-model.sh NAME          (NAME = a file tools/train/configs/NAME.json)
# Environment: PYTHON (default /usr/bin/python3, needs torch), DEVICE (cpu|cuda, default: cuda when present),
# OPENBLAS_NUM_THREADS (default 2), TRAIN_ONLY=1 to stop after training.
set -eu
NAME=${1:?usage: tools/train/make-model.sh NAME}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
CONFIG=tools/train/configs/$NAME.json
DATA=.cache/train/data/$NAME
RUN=.cache/train/runs/$NAME
[ -f "$CONFIG" ] || { echo "no config $CONFIG" >&2; exit 2; }
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-2}
node --import tsx tools/train/prepare.ts --config "$CONFIG" --out "$DATA"
${PYTHON:-/usr/bin/python3} tools/train/train.py --config "$CONFIG" --data "$DATA" --out "$RUN" ${DEVICE:+--device "$DEVICE"}
[ "${TRAIN_ONLY:-0}" = 1 ] && exit 0
node --import tsx tools/train/publish.ts --name "$NAME"
