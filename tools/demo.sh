#!/usr/bin/env bash
# README's main job (`make run`): build an rvf store from Fashion-MNIST
# (Debian's dataset-fashion-mnist), ingest the 60,000 training images with
# progress, run the 10,000 test images as queries, print recall@10 against
# exact results and the QPS, then show the store's status. A last query runs
# with a metadata filter (the class labels are stored as field 0).
#
# Recall is computed by `rvf query --recall`: an exact brute-force k-NN over
# the vectors read back from the store (user/data's ground truth, double
# precision, ties to the smaller id), cached in $B/gt-cache keyed by a hash of
# the data, queries, metric and k, so later runs skip the scan but a changed
# data set is never scored against stale results. QPS is timed around the
# searches only (queries loaded before, results written after).
#
# Environment: B (build dir, default build), FMNIST_DIR (data directory),
# EF (search beam, default 64), THREADS (search threads for the throughput
# run, default: all cores).
set -euo pipefail

B=${B:-build}
RVF=$B/bin/rvf
DATA=${FMNIST_DIR:-/usr/share/datasets/fashion-mnist}
EF=${EF:-64}
THREADS=${THREADS:-$(nproc)}
OUT=$B/demo
STORE=$OUT/fashion-mnist.rvf

pick() {   # first existing file among the names given
  for f in "$@"; do
    if [ -f "$DATA/$f" ]; then echo "$DATA/$f"; return 0; fi
  done
  return 1
}

if [ ! -x "$RVF" ]; then
  echo "demo: $RVF is missing; run make first" >&2
  exit 1
fi
if ! TRAIN=$(pick train-images-idx3-ubyte.gz train-images-idx3-ubyte) ||
   ! LABELS=$(pick train-labels-idx1-ubyte.gz train-labels-idx1-ubyte) ||
   ! TEST=$(pick t10k-images-idx3-ubyte.gz t10k-images-idx3-ubyte); then
  echo "demo: Fashion-MNIST not found in $DATA" >&2
  echo "      install it with: bash tools/deps.sh   (Debian package dataset-fashion-mnist)" >&2
  exit 1
fi

mkdir -p "$OUT"
rm -f "$STORE"

step() { printf '\n== %s\n' "$*"; }

step "create $STORE (784 dimensions, L2, HNSW M=16 ef_construction=200)"
"$RVF" create "$STORE" --dim 784 --metric l2

step "ingest the 60,000 training images from $TRAIN (class label as metadata field 0)"
"$RVF" ingest "$STORE" "$TRAIN" --labels "$LABELS" --progress

step "query the 10,000 test images (k=10, ef=$EF, 1 thread); results in $OUT/results.jsonl"
"$RVF" query "$STORE" --queries "$TEST" --k 10 --ef "$EF" --threads 1 \
  --recall --gt-cache "$B/gt-cache" > "$OUT/results.jsonl"
echo "first result line: $(head -c 200 "$OUT/results.jsonl")..."

if [ "$THREADS" -gt 1 ]; then
  step "the same queries on $THREADS threads (throughput)"
  "$RVF" query "$STORE" --queries "$TEST" --k 10 --ef "$EF" --threads "$THREADS" --no-results
fi

step "recall / speed trade-off: the same 10,000 queries at other beam widths (1 thread)"
for ef in 16 32 128; do
  echo "ef $ef:"
  "$RVF" query "$STORE" --queries "$TEST" --k 10 --ef "$ef" --no-results \
    --recall --gt-cache "$B/gt-cache" 2>&1 | sed 's/^/  /'
done

step "filtered: the first 1,000 test images among sneakers only (class 7, 10% of the store)"
"$RVF" query "$STORE" --queries "$TEST" --limit 1000 --k 10 --ef "$EF" \
  --filter '{"eq":{"field":0,"value":7}}' --recall > "$OUT/results-sneakers.jsonl"

step "status"
"$RVF" status "$STORE"
