#!/usr/bin/env bash
# make mutants: show that the crash suites can fail. The library is built
# once per deliberate bug (-DRVF_MUTANT_<NAME>, into $B/mutant-<x>/; the
# #ifdef sits at the exact spot in user/storage or user/io), the crash
# suites run against each build, and a table says which suite caught which
# bug and how. Fails if any mutant survives every suite or does not build.
#
# The suites stop at their first failure (RVF_FAILFAST=1). One seed for the
# whole table, RVF_SEED or the clock, printed, so a row can be reproduced:
#   RVF_SEED=<seed> RVF_IO=<be> $B/mutant-<x>/tests/<suite>
set -u
B=${B:-build}
JOBS=${JOBS:-2}
seed=${RVF_SEED:-$(date +%s%N | cut -c1-16)}

mutants=(
  "a|ROOT_BEFORE_SYNC|root written before the data fsync"
  "b|EARLY_REUSE|blocks freed by a commit reused before it is durable"
  "c|NO_ROOT_CHECKSUM|root self-checksum not checked at open"
  "d|ACTIVE_SLOT|root written to the active slot"
  "e|NO_SEGMENT_HASH|segment content hash not checked on read"
)
# suite|backend (empty: the suite picks its own)
suites=("test_bitflip|uring" "test_chain|" "test_crash|syscall" "test_crash|uring")
bins=$(printf '%s\n' "${suites[@]}" | cut -d'|' -f1 | sort -u)

# The first line of a failing log that says what went wrong, made short.
how() {
  local line
  line=$(grep -m1 -E 'crash point [0-9]+:|power lost at|snapshot, (short write|-EIO) at link|flip at 0x|without the newest root|no longer reads its snapshot|runtime error|ERROR: AddressSanitizer' "$1")
  # else the first failed assertion (cmocka: "[  ERROR   ] --- expr", then its line)
  [ -z "$line" ] && line=$(grep -m1 -A1 -F '[  ERROR   ] --- ' "$1" |
    sed -E 'N;s/^\[  ERROR   \] --- (.*)\n\[   LINE   \] --- ([^ ]*): .*/assertion failed: \1 (\2)/')
  [ -z "$line" ] && line="exit status $2"
  sed -E -e 's/^shape ([a-z]+), crash point ([0-9]+): ([a-z_ ]+)[:(].*/\3 at crash point \2 (shape \1)/' \
         -e 's/^(small|large) snapshot, power lost at link ([0-9]+) \(variant ([0-9]+)\): .*\((partial state)\)$/\4 after power loss at link \2 (\1 snapshot, variant \3)/' \
         -e 's/^(small|large) snapshot, power lost at link ([0-9]+) \(variant ([0-9]+)\): (.*)$/power loss at link \2 (\1 snapshot, variant \3): \4/' \
         -e 's/^.*flip at (0x[0-9a-f]+) \^([0-9a-f]+): (.*)$/bit flip accepted: at \1 (^\2) \3/' \
         -e 's/^ERROR: //' <<<"$line" | cut -c1-100
}

echo "mutants: seed $seed (set RVF_SEED to reproduce)"
rows=(); survivors=()
for m in "${mutants[@]}"; do
  IFS='|' read -r id name what <<<"$m"
  dir=$B/mutant-$id
  targets=$(for t in $bins; do printf '%s/tests/%s ' "$dir" "$t"; done)
  echo "  build   mutant $id ($what) in $dir"
  mkdir -p "$dir"
  # shellcheck disable=SC2086
  if ! make -s -j"$JOBS" B="$dir" EXTRA_CFLAGS="-DRVF_MUTANT_$name" $targets >"$dir/build.log" 2>&1; then
    echo "  mutant $id did not build (log: $dir/build.log)"
    tail -n 20 "$dir/build.log" | sed 's/^/        | /'
    survivors+=("$id (build failed)")
    continue
  fi
  caught=0; missed=()
  for s in "${suites[@]}"; do
    IFS='|' read -r t be <<<"$s"
    label="$t${be:+ [$be]}"
    log="$dir/$t${be:+.$be}.log"
    start=$(date +%s)
    RVF_SEED=$seed RVF_FAILFAST=1 RVF_IO="$be" timeout "${RVF_TEST_TIMEOUT:-1200}" \
      "$dir/tests/$t" >"$log" 2>&1
    rc=$?
    secs=$(( $(date +%s) - start ))
    if [ $rc -eq 0 ] || [ $rc -eq 77 ]; then
      missed+=("$label")
      printf '  run     %-22s %4ds  passed (mutant %s not caught here)\n' "$label" "$secs" "$id"
    else
      caught=$((caught+1))
      printf '  run     %-22s %4ds  caught mutant %s\n' "$label" "$secs" "$id"
      rows+=("$(printf '%-2s %-54s %-22s %s' "$id" "$( [ $caught -eq 1 ] && echo "$what")" "$label" "$(how "$log" $rc)")")
    fi
  done
  if [ $caught -eq 0 ]; then
    survivors+=("$id")
    rows+=("$(printf '%-2s %-54s %-22s %s' "$id" "$what" "-" "SURVIVED every suite")")
  elif [ ${#missed[@]} -gt 0 ]; then
    rows+=("$(printf '%-2s %-54s %-22s %s' "" "" "" "(passed: ${missed[*]})")")
  fi
done

echo
printf '%-2s %-54s %-22s %s\n' "" "mutant" "caught by" "how"
printf '%s\n' "${rows[@]}"
echo
if [ ${#survivors[@]} -gt 0 ]; then
  echo "mutants: ${#survivors[@]} of ${#mutants[@]} survived: ${survivors[*]}"
  exit 1
fi
echo "mutants: all ${#mutants[@]} caught"
