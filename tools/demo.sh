#!/usr/bin/env bash
# Installs everything, then runs the main job: the kill-and-resume training demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install.sh
exec .venv/bin/python demo/run_demo.py "$@"
