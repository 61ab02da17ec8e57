#!/usr/bin/env bash
# README's main job (`make run`): build an rvf store from Fashion-MNIST
# (Debian's dataset-fashion-mnist), ingest the 60,000 training images with
# progress, run the 10,000 test images as queries, print recall@10 against
# exact results and the QPS, then show the store's status. A last query runs
# with a metadata filter (the class labels are stored as field 0).
#
# Recall is computed by `rvf query --recall`: an exact brute-force k-NN over
# the vectors read back from the store (tools/data's ground truth, double
# precision, ties to the smaller id), cached in $B/gt-cache keyed by a hash of
# the data, queries, metric and k, so later runs skip the scan but a changed
# data set is never scored against stale results. QPS is timed around the
# searches only (queries loaded before, results written after).
#
# Then rvfd serves the store on loopback: the test queries go through the wire
# protocol and must equal the in-process results, end-to-end QPS and latency
# are printed next to the in-process figures, a burst of invalid datagrams
# shows the drop counters, and the daemon is stopped with SIGTERM.
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

# ---- the query daemon --------------------------------------------------------
# rvfd serves the same store over UDP on loopback; the 10,000 test queries go
# through the wire protocol (rvf remote-query prints what rvf query prints, so
# the two result files must be byte-identical), then a burst of invalid
# datagrams shows where they are dropped (kernel filter counters when BPF is
# loaded, userspace validator counters otherwise).
RVFD=$B/bin/rvfd
if [ ! -x "$RVFD" ]; then
  echo "demo: $RVFD is missing; run make first" >&2
  exit 1
fi
step "rvfd: serve $STORE on 127.0.0.1 (namespace 1, instance demo)"
"$RVFD" --store 1="$STORE" --listen 127.0.0.1:0 --instance demo > "$OUT/rvfd.log" 2>&1 &
RVFD_PID=$!
trap 'kill -TERM $RVFD_PID 2>/dev/null; wait $RVFD_PID 2>/dev/null' EXIT
for _ in $(seq 1 300); do
  grep -q 'rvfd: ready' "$OUT/rvfd.log" && break
  if ! kill -0 $RVFD_PID 2>/dev/null; then
    cat "$OUT/rvfd.log" >&2
    echo "demo: rvfd did not start" >&2
    exit 1
  fi
  sleep 0.1
done
grep -q 'rvfd: ready' "$OUT/rvfd.log" || { cat "$OUT/rvfd.log" >&2; echo "demo: rvfd not ready" >&2; exit 1; }
sed 's/^/  /' "$OUT/rvfd.log"
ADDR=$(sed -n 's/.*listening on \([^,]*\),.*/\1/p' "$OUT/rvfd.log" | head -n1)
FILTER=$(sed -n 's/^rvfd: filter: //p' "$OUT/rvfd.log" | head -n1)

step "the 10,000 test queries through the wire protocol (rvf remote-query $ADDR, k=10, ef=$EF)"
"$RVF" query "$STORE" --queries "$TEST" --k 10 --ef "$EF" --threads 1 > "$OUT/local.jsonl" 2> "$OUT/local.err"
"$RVF" remote-query "$ADDR" --ns 1 --queries "$TEST" --k 10 --ef "$EF" > "$OUT/remote.jsonl" 2> "$OUT/remote.err"
if cmp -s "$OUT/local.jsonl" "$OUT/remote.jsonl"; then
  echo "replies: all $(wc -l < "$OUT/remote.jsonl") equal the in-process results (ids and distances, byte for byte)"
else
  echo "demo: the daemon's replies differ from the in-process results:" >&2
  cmp "$OUT/local.jsonl" "$OUT/remote.jsonl" >&2 || true
  exit 1
fi
LQPS=$(sed -n 's/.*s, \([0-9]*\) QPS.*/\1/p' "$OUT/local.err")
printf '  in process (1 thread):          %6s QPS, mean %.1f us per query\n' "$LQPS" \
  "$(awk -v q="$LQPS" 'BEGIN { print (q > 0 ? 1e6 / q : 0) }')"
RQPS=$(sed -n 's/^queries [0-9]*, [0-9.]* s, \([0-9]*\) QPS.*/\1/p' "$OUT/remote.err")
printf '  end to end (loopback UDP, 1 in flight): %6s QPS, mean %.1f us per query, %s\n' "$RQPS" \
  "$(awk -v q="$RQPS" 'BEGIN { print (q > 0 ? 1e6 / q : 0) }')" \
  "$(sed -n 's/^queries .* latency p50 \([0-9.]* us\) p99 \([0-9.]* us\).*/p50 \1, p99 \2/p' "$OUT/remote.err")"
echo "  (rvf query searches without a query context, which measured 10-20% slower per query here; each rvfd worker keeps one)"
"$RVF" remote-query "$ADDR" --ns 1 --queries "$TEST" --k 10 --ef "$EF" --window 8 --no-results \
  2>&1 | sed 's/^/  pipelined (8 in flight): /'

step "a burst of invalid datagrams (rvf-load, 2 s, 10 bad per valid query: bad magic, wrong dim, wrong namespace, truncated)"
"$B/bin/rvf-load" "$ADDR" --ns 1 --queries "$TEST" --seconds 2 --bad-fraction 0.909 | sed 's/^/  /'
echo "filter level: $FILTER"
"$RVF" stats "$ADDR" | sed 's/^/  /'
PINS=/sys/fs/bpf/rvf/demo
if [ -e "$PINS/rvf_counters" ]; then
  step "the kernel's drop counters, read from the pins ($PINS) without asking the daemon"
  "$RVF" stats --pin-dir "$PINS" | sed 's/^/  /'
  if command -v bpftool >/dev/null; then
    echo "  bpftool prog show name sock_prefilter:"
    bpftool prog show name sock_prefilter 2>&1 | sed 's/^/    /'
    echo "  bpftool map lookup pinned $PINS/rvf_counters key 1 0 0 0 (the socket filter's slot, per CPU;"
    echo "  bpftool map dump shows all three: 0 XDP, 1 socket filter, 2 rvfd's userspace validator):"
    bpftool map lookup pinned "$PINS/rvf_counters" key 1 0 0 0 2>&1 | sed 's/^/    /'
  fi
else
  echo "BPF is not loaded for this daemon (see the filter level above): invalid datagrams were" \
       "dropped by rvfd's userspace validator, counted under 'userspace verdicts'"
fi

step "stop rvfd (SIGTERM)"
kill -TERM $RVFD_PID
rc=0
wait $RVFD_PID || rc=$?
trap - EXIT
tail -n 2 "$OUT/rvfd.log" | sed 's/^/  /'
if [ $rc -ne 0 ]; then
  echo "demo: rvfd exited with $rc" >&2
  exit 1
fi
echo "rvfd exited 0"
