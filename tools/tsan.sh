#!/usr/bin/env bash
# make tsan: run the multi-threaded suites built with -fsanitize=thread
# (build/tsan/tests/<name>, the CLI as build/tsan/bin/rvf) and fail on any
# test failure or any ThreadSanitizer report, in the test or in a child it
# started (every process writes its reports to build/tsan/logs/). No
# suppressions: a report is a race to fix.
#
#   tools/tsan.sh test_hnsw test_store test_cli ...  (make tsan passes TSAN_TESTS)
set -u
cd "$(dirname "$0")/.."
B=${B:-build}
logs=$B/tsan/logs
rm -rf "$logs"
mkdir -p "$logs"
fail=0
# exitcode: a report fails the process even when the test's own checks pass;
# halt_on_error=0 so one run shows every race, not only the first.
export TSAN_OPTIONS="log_path=$PWD/$logs/report halt_on_error=0 exitcode=66 second_deadlock_stack=1 ${TSAN_OPTIONS:-}"
export RVF_BIN=$PWD/$B/tsan/bin/rvf
export RVF_SEED=${RVF_SEED:-1}
echo "tsan: seed $RVF_SEED, reports in $logs/"
for name in "$@"; do
  bin=$B/tsan/tests/$name
  start=$(date +%s)
  "$bin" >"$logs/$name.out" 2>&1
  rc=$?
  secs=$(( $(date +%s) - start ))
  if [ $rc -eq 0 ]; then
    printf '  PASS  %-20s %4ds\n' "$name" "$secs"
  else
    fail=1
    printf '  FAIL  %-20s rc=%d %4ds (output %s)\n' "$name" "$rc" "$secs" "$logs/$name.out"
    tail -n 20 "$logs/$name.out" | sed 's/^/        | /'
  fi
done
reports=$(ls "$logs"/report.* 2>/dev/null | wc -l)
if [ "$reports" -gt 0 ]; then
  fail=1
  echo "tsan: $reports process(es) reported:"
  grep -h -A12 '^WARNING: ThreadSanitizer' "$logs"/report.* | head -n 120 | sed 's/^/  | /'
fi
[ $fail -eq 0 ] && echo "tsan: no reports"
exit $fail
