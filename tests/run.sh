#!/usr/bin/env bash
# Run every test binary given on the command line and print one closing line:
#   tests: N passed, N failed, N skipped
# A test whose source carries the marker "rvf-test: both-backends" runs twice,
# once per I/O backend (RVF_IO=uring, RVF_IO=syscall). Exit code 77 is a skip;
# the test itself must print why.
#
# Crash suites print one line "crash points: N, lost commits: N, partial
# states: N"; their sum over the run is printed before the closing line, and
# with RVF_MIN_CRASH_POINTS set (make test) a smaller sum fails the run.
set -u
pass=0; fail=0; skip=0; failed=()
cp_total=0; cp_lost=0; cp_partial=0; cp_suites=0
logdir=build/test-logs
mkdir -p "$logdir"
for bin in "$@"; do
  name=$(basename "$bin")
  src=$(ls tests/"$name".c tests/*/"$name".c 2>/dev/null | head -n1)
  backends=("")
  if [ -n "$src" ] && grep -q 'rvf-test: both-backends' "$src"; then
    backends=(uring syscall)
  fi
  for be in "${backends[@]}"; do
    label="$name${be:+ [$be]}"
    log="$logdir/$name${be:+.$be}.log"
    start=$(date +%s)
    RVF_IO="${be:-}" timeout "${RVF_TEST_TIMEOUT:-1200}" "$bin" >"$log" 2>&1
    rc=$?
    secs=$(( $(date +%s) - start ))
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
    fi
  done
done
echo
if [ $cp_suites -gt 0 ]; then
  echo "crash points: $cp_total, lost commits: $cp_lost, partial states: $cp_partial (total over $cp_suites crash suite runs)"
  if [ -n "${RVF_MIN_CRASH_POINTS:-}" ] && [ "$cp_total" -lt "$RVF_MIN_CRASH_POINTS" ]; then
    echo "crash points: $cp_total is below the required $RVF_MIN_CRASH_POINTS"
    fail=$((fail+1)); failed+=("crash-point total")
  fi
fi
[ ${#failed[@]} -gt 0 ] && echo "failed: ${failed[*]}"
echo "tests: $pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
