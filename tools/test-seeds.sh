#!/usr/bin/env bash
# make test-seeds: run the test suites (tests/run.sh, the binaries given)
# once per seed, print each seed's verdict and a final tally, and exit 1 if
# any seed failed, naming the seed and the tests. Nothing is rebuilt: the
# binaries read RVF_SEED at run time.
#
#   RVF_SEEDS="1 2 3"        exactly these seeds
#   RVF_SEED_BASE=N          otherwise RVF_SEED_COUNT seeds from N up
#   RVF_SEED_COUNT=N           (defaults 1 and 20: seeds 1..20)
#   RVF_TEST_ONLY="a b"      only these binaries (as in tests/run.sh)
#
# Each seed's full output is in build/test-seeds/seed-<N>.log, its test logs
# under build/test-seeds/seed-<N>/.
set -u
cd "$(dirname "$0")/.."
if [ $# -eq 0 ]; then
  echo "usage: tools/test-seeds.sh build/tests/test_... (make test-seeds passes them)" >&2
  exit 2
fi
if [ -n "${RVF_SEEDS:-}" ]; then
  read -r -a seeds <<<"$RVF_SEEDS"
else
  base=${RVF_SEED_BASE:-1}
  count=${RVF_SEED_COUNT:-20}
  seeds=()
  for ((i = 0; i < count; i++)); do seeds+=($((base + i))); done
fi
out=build/test-seeds
mkdir -p "$out"
ok=0; bad=0; bad_lines=()
echo "test-seeds: ${#seeds[@]} seeds: ${seeds[*]}${RVF_TEST_ONLY:+ (only: $RVF_TEST_ONLY)}"
for s in "${seeds[@]}"; do
  log=$out/seed-$s.log
  start=$(date +%s)
  RVF_SEED=$s RVF_TEST_LOGDIR=$out/seed-$s bash tests/run.sh "$@" >"$log" 2>&1
  rc=$?
  secs=$(( $(date +%s) - start ))
  tally=$(grep -m1 '^tests:' "$log")
  if [ $rc -eq 0 ]; then
    ok=$((ok+1))
    printf 'seed %-6s PASS  %4ds  %s\n' "$s" "$secs" "$tally"
  else
    bad=$((bad+1))
    which=$(sed -n 's/^failed: //p' "$log")
    printf 'seed %-6s FAIL  %4ds  %s\n' "$s" "$secs" "$tally"
    printf '            failed: %s (log %s)\n' "${which:-?}" "$log"
    bad_lines+=("seed $s: ${which:-see $log}")
  fi
done
echo
echo "test-seeds: ${#seeds[@]} seeds run, $ok passed, $bad failed"
for l in "${bad_lines[@]+"${bad_lines[@]}"}"; do
  echo "  $l"
done
[ $bad -eq 0 ]
