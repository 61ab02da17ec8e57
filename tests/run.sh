#!/usr/bin/env bash
# Run every test binary given on the command line and print one closing line:
#   tests: N passed, N failed, N skipped
#
# Markers in a test's source:
#   "rvf-test: both-backends"  run once per I/O backend (RVF_IO=uring, RVF_IO=syscall)
#   "rvf-test: every-simd"     run once more per distance kernel set this CPU
#                              has (RVF_SIMD=scalar, avx2, avx512); a set the
#                              CPU lacks is said once, as an info: line
# Exit code 77 is a skip; the test itself must print why.
#
# Seeds: every binary gets the same RVF_SEED, printed first, so one number
# reproduces the whole run. It defaults to a fixed value, so `make test`
# gives the same verdict on the same tree; RVF_SEED=random draws a fresh one
# (still printed), and `make test-seeds` (tools/test-seeds.sh) runs many.
#
# RVF_TEST_ONLY="test_hnsw test_store" runs only those binaries (by name).
#
# After the binaries, tools/check-layers.sh (the include layering) runs as
# one more PASS/FAIL line, "check_layers".
#
# Crash suites print one line "crash points: N, lost commits: N, partial
# states: N"; their sum over the run is printed before the closing line, and
# with RVF_MIN_CRASH_POINTS set (make test) a smaller sum fails the run.
set -u
pass=0; fail=0; skip=0; failed=()
cp_total=0; cp_lost=0; cp_partial=0; cp_suites=0
logdir=${RVF_TEST_LOGDIR:-build/test-logs}
mkdir -p "$logdir"

seed=${RVF_SEED:-1}
if [ "$seed" = random ]; then
  seed=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
fi
export RVF_SEED=$seed
echo "seed: $RVF_SEED (RVF_SEED=$RVF_SEED reproduces this run)"

# The kernel sets the library would accept when forced, by the same CPU
# features user/index/distance.c checks. Should the two ever disagree, the
# forced run fails with -ENOTSUP, or is skipped here with the info line.
flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null)
has() { for f in "$@"; do [[ " $flags " == *" $f "* ]] || return 1; done; }
simd_sets=(scalar)
simd_missing=()
if has avx2 fma; then simd_sets+=(avx2); else simd_missing+=(avx2); fi
if has avx2 fma avx512f avx512bw avx512dq avx512vl; then simd_sets+=(avx512); else simd_missing+=(avx512); fi
simd_said=0

only=${RVF_TEST_ONLY:-}
[ -n "$only" ] && echo "only: $only"

run_one() {   # label log env...
  local label=$1 log=$2 start rc secs
  shift 2
  start=$(date +%s)
  env "$@" timeout "${RVF_TEST_TIMEOUT:-1200}" "$bin" >"$log" 2>&1
  rc=$?
  secs=$(( $(date +%s) - start ))
  local cp n l p
  cp=$(grep -m1 -E '^crash points: [0-9]+, lost commits: [0-9]+, partial states: [0-9]+' "$log")
  if [ -n "$cp" ]; then
    read -r n l p < <(sed -E 's/^crash points: ([0-9]+), lost commits: ([0-9]+), partial states: ([0-9]+).*/\1 \2 \3/' <<<"$cp")
    cp_total=$((cp_total+n)); cp_lost=$((cp_lost+l)); cp_partial=$((cp_partial+p))
    cp_suites=$((cp_suites+1))
  fi
  if [ $rc -eq 0 ]; then
    pass=$((pass+1)); printf '  PASS  %-40s %4ds\n' "$label" "$secs"
    grep -E '^(crash points|summary|info):' "$log" | sed 's/^/        /'
  elif [ $rc -eq 77 ]; then
    skip=$((skip+1)); printf '  SKIP  %-40s %s\n' "$label" "$(grep -m1 -i 'skip' "$log")"
  else
    fail=$((fail+1)); failed+=("$label")
    printf '  FAIL  %-40s rc=%d (log: %s)\n' "$label" "$rc" "$log"
    tail -n 40 "$log" | sed 's/^/        | /'
    printf '        reproduce: %s RVF_SEED=%s %s\n' "$*" "$RVF_SEED" "$bin"
  fi
}

for bin in "$@"; do
  name=$(basename "$bin")
  if [ -n "$only" ] && ! [[ " $only " == *" $name "* ]]; then
    continue
  fi
  src=$(ls tests/"$name".c tests/*/"$name".c 2>/dev/null | head -n1)
  backends=("")
  if [ -n "$src" ] && grep -q 'rvf-test: both-backends' "$src"; then
    backends=(uring syscall)
  fi
  for be in "${backends[@]}"; do
    run_one "$name${be:+ [$be]}" "$logdir/$name${be:+.$be}.log" RVF_IO="${be:-}"
  done
  if [ -n "$src" ] && grep -q 'rvf-test: every-simd' "$src"; then
    for set in "${simd_sets[@]}"; do
      run_one "$name [simd=$set]" "$logdir/$name.simd-$set.log" RVF_SIMD="$set"
    done
    if [ ${#simd_missing[@]} -gt 0 ] && [ $simd_said -eq 0 ]; then
      echo "  info: RVF_SIMD=${simd_missing[*]} not run: this CPU lacks ${simd_missing[*]} (those kernels are not exercised here)"
      simd_said=1
    fi
  fi
done
# The include-layer check (tools/check-layers.sh) counts as one line, like a
# suite; RVF_TEST_ONLY names it check_layers.
if [ -z "$only" ] || [[ " $only " == *" check_layers "* ]]; then
  bin=tools/check-layers.sh
  run_one check_layers "$logdir/check_layers.log"
fi
echo
if [ $cp_suites -gt 0 ]; then
  echo "crash points: $cp_total, lost commits: $cp_lost, partial states: $cp_partial (total over $cp_suites crash suite runs)"
  if [ -n "${RVF_MIN_CRASH_POINTS:-}" ] && [ "$cp_total" -lt "$RVF_MIN_CRASH_POINTS" ]; then
    echo "crash points: $cp_total is below the required $RVF_MIN_CRASH_POINTS"
    fail=$((fail+1)); failed+=("crash-point total")
  fi
fi
[ ${#failed[@]} -gt 0 ] && echo "failed: ${failed[*]}"
echo "seed: $RVF_SEED"
echo "tests: $pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
