#!/usr/bin/env bash
# Fuzzing for a fixed short time, as CI runs it (docs/reliability.md): every parser (CSV,
# TFRecord, tf.train.Example, the state decoder) under libFuzzer with ASan + UBSan, starting from
# the committed corpus in tests/data/fuzz/<target>/. A crash, leak or timeout fails the run and
# leaves the input beside the corpus as tests/data/fuzz/<target>/crash-*: commit it with the fix;
# FuzzRegressionTest (in the ordinary test binary, and under tools/sanitizers.sh) replays the
# whole corpus, crashers included, on every test run.
#
#   tools/fuzz.sh                  # 20 s per target (CI)
#   INPUTPIPE_FUZZ_SECONDS=300 tools/fuzz.sh
#   INPUTPIPE_LONG=1 tools/fuzz.sh # 10 minutes per target
#
# The targets and the build are src/fuzz/ (src/fuzz/run_fuzzers.sh); they need clang, which
# this script installs with apt-get when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${INPUTPIPE_FUZZ_SECONDS:-20}"
if [ "${INPUTPIPE_LONG:-0}" = "1" ] && [ -z "${INPUTPIPE_FUZZ_SECONDS:-}" ]; then seconds=600; fi

# libFuzzer comes with clang (Debian's package); installed here so CI needs nothing by hand.
if ! command -v clang++ >/dev/null; then
  echo "== fuzz: apt-get install clang"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang >/dev/null; }
fi
echo "== fuzz: ${seconds}s per target"
bash src/fuzz/run_fuzzers.sh "$seconds"
echo "== fuzz: no crash, leak or timeout"
