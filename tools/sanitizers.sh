#!/usr/bin/env bash
# Builds the C++ test binary under AddressSanitizer + UndefinedBehaviorSanitizer and under
# ThreadSanitizer, runs it, and fails on the first report (docs/reliability.md).
#
#   tools/sanitizers.sh            # both: ASan+UBSan over every test, TSan over the threaded ones
#   tools/sanitizers.sh asan       # only ASan+UBSan
#   tools/sanitizers.sh tsan       # only TSan
#
# Environment:
#   ASAN_BUILD_DIR, TSAN_BUILD_DIR   build directories (default build/asan, build/tsan)
#   TSAN_FILTER                      gtest filter of the suites run under TSan (default: the
#                                    suites with threads: parallel map, prefetch, interleave, the
#                                    hook's background writer, the reliability fault/soak tests)
#   INPUTPIPE_LONG=1                 also passed through: the long variants of the reliability
#                                    tests (slow under sanitizers; not for CI)
#
# A finding is fatal twice over: halt_on_error stops the run at the first report (non-zero exit),
# and every report is also written under <build>/sanitizer-logs, which must stay empty.
set -euo pipefail
cd "$(dirname "$0")/.."

which="${1:-all}"
# The soak's CI size (200,000 elements) is slow under sanitizers: 50,000 unless told otherwise.
if [ -z "${INPUTPIPE_SOAK_ELEMENTS:-}" ] && [ "${INPUTPIPE_LONG:-0}" != "1" ]; then
  export INPUTPIPE_SOAK_ELEMENTS=50000
fi
ASAN_BUILD_DIR="${ASAN_BUILD_DIR:-build/asan}"
TSAN_BUILD_DIR="${TSAN_BUILD_DIR:-build/tsan}"
TSAN_FILTER="${TSAN_FILTER:-ParallelMap*:Prefetch*:Interleave*:WorkerThreads*:Hook*:Storage*:Reliability*}"

launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi

# build DIR SANITIZERS
build() {
  # -O1: a sanitized build compiles much faster than at -O2 and still runs the tests briskly;
  # -g1 (line tables) gives reports with file:line at a fraction of full debug info's cost.
  # The examples are built too, so that they also run sanitized.
  cmake -S . -B "$1" -G Ninja -DCMAKE_BUILD_TYPE=Sanitize -DCMAKE_CXX_FLAGS_SANITIZE="-O1 -g1" \
    -DINPUTPIPE_BUILD_TESTS=ON -DINPUTPIPE_BUILD_EXAMPLES=ON -DINPUTPIPE_SANITIZE="$2" \
    "${launcher[@]}" >/dev/null
  cmake --build "$1"
}

# run_checked LOGDIR NAME COMMAND...: runs the command; fails if it fails or if LOGDIR holds any
# report (one the run did not stop on), printing the reports.
run_checked() {
  local logs="$1" name="$2" rc=0
  shift 2
  "$@" || rc=$?
  if compgen -G "$logs/*" >/dev/null; then
    echo "== $name: sanitizer reports:" >&2
    cat "$logs"/* >&2
    return 1
  fi
  if [ "$rc" -ne 0 ]; then
    echo "== $name: tests failed (exit $rc)" >&2
    return "$rc"
  fi
  echo "== $name: tests passed, zero sanitizer reports"
}

run_asan() {
  echo "== ASan+UBSan: build ($ASAN_BUILD_DIR)"
  build "$ASAN_BUILD_DIR" "address,undefined"
  local logs="$ASAN_BUILD_DIR/sanitizer-logs"
  rm -rf "$logs" && mkdir -p "$logs"
  echo "== ASan+UBSan: every C++ test"
  ASAN_OPTIONS="halt_on_error=1:abort_on_error=0:detect_leaks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1:log_path=$PWD/$logs/asan" \
  UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$PWD/$logs/ubsan" \
    run_checked "$logs" "ASan+UBSan" "./$ASAN_BUILD_DIR/inputpipe_tests" --gtest_brief=1
  for example in "$ASAN_BUILD_DIR"/*_example; do
    echo "== ASan+UBSan: $example"
    ASAN_OPTIONS="halt_on_error=1:log_path=$PWD/$logs/asan" \
    UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$PWD/$logs/ubsan" \
      run_checked "$logs" "$example" "$example" >/dev/null
  done
}

run_tsan() {
  echo "== TSan: build ($TSAN_BUILD_DIR)"
  build "$TSAN_BUILD_DIR" "thread"
  local logs="$TSAN_BUILD_DIR/sanitizer-logs"
  rm -rf "$logs" && mkdir -p "$logs"
  echo "== TSan: $TSAN_FILTER"
  TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:log_path=$PWD/$logs/tsan" \
    run_checked "$logs" "TSan" "./$TSAN_BUILD_DIR/inputpipe_tests" --gtest_brief=1 \
    --gtest_filter="$TSAN_FILTER"
}

case "$which" in
  asan) run_asan ;;
  tsan) run_tsan ;;
  all) run_asan; run_tsan ;;
  *) echo "usage: $0 [asan|tsan|all]" >&2; exit 2 ;;
esac
