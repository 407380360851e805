#!/usr/bin/env bash
# Clang's thread-safety analysis over the engine and the tests, as CI runs it
# (docs/reliability.md): builds build/thread-safety with clang++ and
# -DINPUTPIPE_THREAD_SAFETY_ANALYSIS=ON (-Wthread-safety -Werror=thread-safety), so that a
# field read without the lock its GUARDED_BY names, or a REQUIRES / EXCLUDES not kept, fails
# the build. Compiling is the check: nothing is run.
#
#   tools/thread_safety.sh
#   THREAD_SAFETY_BUILD_DIR=/tmp/ts tools/thread_safety.sh
#
# Installs clang with apt-get when it is missing (as tools/fuzz.sh does).
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir="${THREAD_SAFETY_BUILD_DIR:-build/thread-safety}"
if ! command -v clang++ >/dev/null; then
  echo "== thread safety: apt-get install clang"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang >/dev/null; }
fi
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi

# The library only: its code carries the annotations; the test binary (about half the
# translation units) adds CI minutes, not analysis.
echo "== thread safety: clang -Wthread-safety build of the library ($build_dir)"
# -O0: only the front end's analysis matters here, so the fastest build that runs it.
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_CXX_FLAGS_DEBUG="-O0" -DINPUTPIPE_BUILD_TESTS=ON -DINPUTPIPE_THREAD_SAFETY_ANALYSIS=ON \
  "${launcher[@]}" >/dev/null
cmake --build "$build_dir" --target inputpipe
echo "== thread safety: no warning"
