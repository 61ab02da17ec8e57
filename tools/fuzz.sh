#!/usr/bin/env bash
# make fuzz: build and run every libFuzzer target in tests/fuzz/ for
# RVF_FUZZ_SECONDS (default 60) each.
set -eu
cd "$(dirname "$0")/.."
secs=${RVF_FUZZ_SECONDS:-60}
mkdir -p build/fuzz
srcs=${RVF_FUZZ_SRCS:-$(ls user/*/*.c | grep -v '^user/rvfd/')}
for f in tests/fuzz/fuzz_*.c; do
  [ -f "$f" ] || continue
  name=$(basename "$f" .c)
  clang -g -O1 -D_GNU_SOURCE -Iinclude -Iuser -Itests/helpers -fsanitize=fuzzer,address,undefined \
    -mavx2 -mfma -mavx512f -mavx512bw -mavx512dq -mavx512vl \
    "$f" $srcs -o "build/fuzz/$name" -luring -lxxhash -lcrypto -ljansson -lbpf -lelf -lz -lpthread -lm
  mkdir -p "build/fuzz/$name.corpus"
  # seeds: real files nobody here wrote (the Rust fixtures, as whole files
  # for the segment parsers' Rust-file case, selector byte 5)
  if [ "$name" = fuzz_segments ] && [ -d tests/fixtures/rvf-reference ]; then
    for fx in tests/fixtures/rvf-reference/*.rvf; do
      [ -f "$fx" ] && { printf '\005'; cat "$fx"; } > "build/fuzz/$name.corpus/seed-$(basename "$fx")"
    done
  fi
  echo "== $name (${secs}s)"
  "build/fuzz/$name" -max_total_time="$secs" "build/fuzz/$name.corpus"
done
