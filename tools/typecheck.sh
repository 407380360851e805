#!/usr/bin/env bash
# Type-checks the code that uses inputpipe as a user would, against the installed package (its
# annotations, py.typed and the _core.pyi stubs written at build time): tests/python, demo/ and
# the Python examples, with mypy --check-untyped-defs (config: mypy.ini).
#   bash tools/typecheck.sh          (after tools/install.sh: uses ./.venv)
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/pip install -q -r requirements-typecheck.txt
targets=(tests/python demo)
while IFS= read -r -d '' f; do targets+=("$f"); done < <(find examples -name '*.py' -print0)
# `inputpipe` resolves to site-packages: python/ is not on mypy's search path.
.venv/bin/mypy --config-file mypy.ini --check-untyped-defs "${targets[@]}"
