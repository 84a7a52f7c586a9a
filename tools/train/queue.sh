#!/bin/sh
# Background queue: trains the zoo models one after another (two cores: never two at once).
#   nohup nice -n 10 tools/train/queue.sh NAME... > .cache/train/queue.log 2>&1 &
# Each model's progress is in .cache/train/runs/NAME/train.log; rerunning resumes.
cd "$(dirname "$0")/../.."
for name in "$@"; do
  echo "$(date '+%F %T') queue: $name"
  tools/train/make-model.sh "$name" || echo "$(date '+%F %T') queue: $name failed ($?)"
done
echo "$(date '+%F %T') queue: done"
