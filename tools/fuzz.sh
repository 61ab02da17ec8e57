#!/usr/bin/env bash
# make fuzz: run every libFuzzer target given (build/fuzz/fuzz_*, built by the
# Makefile) for RVF_FUZZ_SECONDS (default 60) each, one after the other, and
# print one summary line per target.
#
#   RVF_FUZZ_SECONDS=N     seconds per target
#   RVF_FUZZ_ONLY="a b"    only these targets (names without build/fuzz/)
#   RVF_FUZZ_TMP=DIR       scratch files (default /dev/shm, see fuzz_util.h)
#
# Corpora: build/fuzz/<target>.corpus collects what the fuzzer finds; it
# also reads (never writes) tests/fuzz/seeds/<target>/ (small seeds kept in
# the repository), tests/fuzz/regress/<target>/ (every crash found so far,
# also replayed by `make test`) and build/fuzz/seeds/<target>/ (written here
# by build/fuzz/mkseeds from the library and the Rust reference fixtures).
# A crash lands in build/fuzz/<target>.artifacts/; the run then stops with
# exit 1 and the input to add under tests/fuzz/regress/<target>/.
set -u
cd "$(dirname "$0")/.."
B=${B:-build}
secs=${RVF_FUZZ_SECONDS:-60}
only=${RVF_FUZZ_ONLY:-}
fail=0
summary=()

if [ $# -eq 0 ]; then
  echo "usage: tools/fuzz.sh build/fuzz/fuzz_<target>... (make fuzz passes them)" >&2
  exit 2
fi
rm -rf "$B/fuzz/seeds"
if ! "$B/fuzz/mkseeds" "$B/fuzz/seeds" tests/fixtures/rvf-reference; then
  echo "fuzz: cannot write the generated seeds" >&2
  exit 1
fi

for bin in "$@"; do
  name=$(basename "$bin")
  if [ -n "$only" ] && ! [[ " $only " == *" $name "* ]]; then
    continue
  fi
  corpus=$B/fuzz/$name.corpus
  art=$B/fuzz/$name.artifacts
  log=$B/fuzz/$name.log
  mkdir -p "$corpus" "$art"
  touch "$art/.start"
  dirs=("$corpus")
  for d in tests/fuzz/seeds/"$name" tests/fuzz/regress/"$name" "$B"/fuzz/seeds/"$name"; do
    [ -d "$d" ] && dirs+=("$d")
  done
  echo "== $name (${secs}s; corpus ${dirs[*]})"
  # -timeout: the slowest seeds (a whole Rust fixture imported under ASan)
  # take about a second, so a minute is a hang even on a loaded machine;
  # -rss_limit_mb (and so the malloc limit): a hostile header must not buy 2 GB.
  "$bin" -max_total_time="$secs" -timeout=60 -report_slow_units=60 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$art/" "${dirs[@]}" >"$log" 2>&1
  rc=$?
  # libFuzzer's last status line: "#N DONE cov: C ft: F corp: K/SIZE ..."
  last=$(grep -E '^#[0-9]+' "$log" | tail -n1)
  execs=$(grep -m1 '^stat::number_of_executed_units:' "$log" | awk '{print $2}')
  rate=$(grep -m1 '^stat::average_exec_per_sec:' "$log" | awk '{print $2}')
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9a-zA-Z]*\).*/\1/p' <<<"$last")
  # crash-, leak-, oom-, timeout- files; a slow-unit- file is no failure
  crashes=$(find "$art" -type f -newer "$art/.start" ! -name 'slow-unit-*' | wc -l)
  line=$(printf '%-20s %5ss  execs %-9s exec/s %-6s cov %-6s ft %-6s corpus %-10s crashes %s' \
    "$name" "$secs" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$crashes")
  summary+=("$line")
  if [ $rc -ne 0 ] || [ "$crashes" -ne 0 ]; then
    fail=1
    echo "   FAILED (rc=$rc, log $log):"
    grep -E '^==[0-9]+==|^SUMMARY|^artifact_prefix|Test unit written' "$log" | head -n 8 | sed 's/^/   | /'
  fi
done

echo
echo "fuzz summary (seconds, executions, exec/s, coverage, features, corpus files/bytes, crash files):"
printf '  %s\n' "${summary[@]}"
exit $fail
