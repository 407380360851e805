#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each for SECONDS (default 30)
# from the seed corpus in tests/data/fuzz/<target>/. A crash, leak or timeout stops the script
# with the input saved as tests/data/fuzz/<target>/crash-*: commit it, fix the bug, and
# fuzz_regression_test.cc replays it from then on. CI runs it briefly: run_fuzzers.sh 20
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_PER_TARGET="${1:-30}"
BUILD="${FUZZ_BUILD_DIR:-build-fuzz}"
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
  -DINPUTPIPE_BUILD_FUZZERS=ON >/dev/null
cmake --build "$BUILD" --target csv_fuzzer tfrecord_fuzzer example_fuzzer state_fuzzer \
  restore_fuzzer
for target in csv tfrecord example state restore; do
  corpus="$(mktemp -d)"  # new inputs stay out of the committed seed corpus
  cp tests/data/fuzz/"$target"/* "$corpus"/
  echo "== ${target}_fuzzer for ${SECONDS_PER_TARGET}s"
  "$BUILD/${target}_fuzzer" "$corpus" -max_total_time="$SECONDS_PER_TARGET" -max_len=65536 \
    -rss_limit_mb=2048 -timeout=10 -artifact_prefix="tests/data/fuzz/$target/" -print_final_stats=1 \
    2>&1 | tail -n 12
  rm -rf "$corpus"
done
