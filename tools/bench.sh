#!/usr/bin/env bash
# make bench: run every benchmark program (build/bin/bench-*) in turn. Each
# prints JSON lines and a summary with ratios against its anchor measured in
# the same run. RVF_BENCH_QUICK=1 shrinks data sets for a smoke run.
set -u
cd "$(dirname "$0")/.."
mkdir -p build/bench
rc=0
for b in build/bin/bench-*; do
  [ -x "$b" ] || continue
  name=$(basename "$b")
  echo "== $name"
  "$b" 2>&1 | tee "build/bench/$name.log" || rc=1
done
exit $rc
