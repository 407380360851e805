#!/usr/bin/env bash
# Installs everything, then runs the main job: the kill-and-resume training demo.
# With --ranks W (data-parallel ranks on torch.distributed) it installs torch too.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install.sh
for arg in "$@"; do
  if [[ "$arg" == --ranks || "$arg" == --ranks=* ]]; then
    echo "== pip install -r demo/requirements-ranks.txt (torch, for --ranks)"
    .venv/bin/pip install -q -r demo/requirements-ranks.txt
    break
  fi
done
exec .venv/bin/python demo/run_demo.py "$@"
