#!/usr/bin/env bash
# Installs everything, then runs every test: the C++ GoogleTest binary and the pytest suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install.sh
# Test-only: Keras / Lightning / torch (CPU) for the hook's framework callbacks (not the demo's).
echo "== pip install -r tests/python/requirements-integrations.txt"
.venv/bin/pip install -q -r tests/python/requirements-integrations.txt

echo "== C++ tests"
cmake -S . -B build/cpp -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DINPUTPIPE_BUILD_TESTS=ON -DINPUTPIPE_BUILD_EXAMPLES=ON >/dev/null
cmake --build build/cpp
./build/cpp/inputpipe_tests --gtest_brief=1
for example in build/cpp/*_example; do
  echo "== $example"
  "$example" >/dev/null
done

# Sanitizers (ASan+UBSan over every test, TSan over the threaded ones) and a short fuzz run:
# docs/reliability.md. INPUTPIPE_SKIP_SANITIZERS=1 skips both (a quick local run).
if [ "${INPUTPIPE_SKIP_SANITIZERS:-0}" != "1" ]; then
  bash tools/sanitizers.sh
  bash tools/fuzz.sh
fi

echo "== Python tests"
.venv/bin/python -m pytest -q tests/python
