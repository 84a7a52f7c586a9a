#!/bin/bash
# Runs a command with background training paused (SIGSTOP), resuming it (SIGCONT) however the
# command ends: benchmarks on this 2-core machine are meaningless while train.py holds both cores.
#   tools/train/paused.sh npm run bench:generate
pids=$(pgrep -f 'tools/train/train.py' || true)
resume() { [ -n "$pids" ] && kill -CONT $pids 2>/dev/null; }
trap resume EXIT INT TERM
[ -n "$pids" ] && kill -STOP $pids && echo "paused training ($pids)" >&2
"$@"
