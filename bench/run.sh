#!/usr/bin/env bash
# One command for the whole benchmark suite: set-up (bench/.venv, see setup.sh), then suite.py.
#   bench/run.sh            full run: 1M records per data set (about 30-40 min on 2 cores)
#   bench/run.sh --quick    100k records, fewer repetitions (about 5 min on 2 cores)
# Any other argument goes to suite.py (e.g. --workloads a,c --libs inputpipe,tfdata,
# --docs docs/benchmarks.md). Results: bench/results/<full|quick>/. Paths given as arguments
# are relative to the directory the command is run from.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
(cd "$here" && ./setup.sh)
exec "$here/.venv/bin/python" "$here/suite.py" "$@"
