#!/usr/bin/env bash
# Installs everything, then runs every test: the C++ GoogleTest binary and the pytest suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install.sh
# Test-only: Keras / Lightning / torch (CPU) for the hook's framework callbacks (not the demo's).
echo "== pip install -r tests/python/requirements-integrations.txt"
.venv/bin/pip install -q -r tests/python/requirements-integrations.txt
# Test-only: a real S3 server (moto) and fsspec's S3 store for the remote-file tests.
.venv/bin/pip install -q -r tests/python/requirements-remote.txt
# Test-only: pyarrow for the Parquet / Arrow readers' tests (a wheel, seconds).
echo "== pip install -r tests/python/requirements-parquet.txt"
.venv/bin/pip install -q -r tests/python/requirements-parquet.txt

export CCACHE_DIR="$PWD/build/ccache" CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=true
stage() { echo "== [$(date +%T), ${SECONDS}s] $*"; }

# The C++ tests run under AddressSanitizer + UndefinedBehaviorSanitizer (every test and the
# example programs), then the threaded suites under ThreadSanitizer, then a short fuzz run:
# docs/reliability.md. INPUTPIPE_SKIP_SANITIZERS=1 runs the C++ tests in a plain build instead
# (a quick local run).
if [ "${INPUTPIPE_SKIP_SANITIZERS:-0}" != "1" ]; then
  stage "C++ tests under ASan+UBSan"
  bash tools/sanitizers.sh asan
  stage "C++ threaded tests under TSan"
  bash tools/sanitizers.sh tsan
  stage "thread-safety analysis (clang -Wthread-safety)"
  bash tools/thread_safety.sh
  stage "fuzzing"
  bash tools/fuzz.sh
else
  stage "C++ tests (plain build)"
  cmake -S . -B build/cpp -G Ninja -DCMAKE_BUILD_TYPE=Release -DINPUTPIPE_BUILD_TESTS=ON \
    -DINPUTPIPE_BUILD_EXAMPLES=ON -DCMAKE_CXX_COMPILER_LAUNCHER=ccache >/dev/null
  cmake --build build/cpp
  ./build/cpp/inputpipe_tests --gtest_brief=1
  for example in build/cpp/*_example; do "$example" >/dev/null; done
fi
stage "C++ consumer of the installed package"
bash tools/consumer.sh

stage "wheel: pip wheel, auditwheel, install into a fresh venv without a compiler, smoke test"
bash tools/wheel.sh

stage "typecheck: mypy over tests/python and demo/"; bash tools/typecheck.sh
stage "docs: the user guide built to HTML, warnings as errors"; bash tools/docs.sh
stage "Python tests"
.venv/bin/python -m pytest -q tests/python
stage "all tests passed"
