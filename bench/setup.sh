#!/usr/bin/env bash
# Creates bench/.venv: inputpipe plus the peers it is compared with (tf.data from tensorflow-cpu,
# Grain, torchdata with the CPU build of torch) and matplotlib for the plots.
# Idempotent: a second run only (re)installs inputpipe from the working tree.
#   bench/setup.sh            set up everything
#   bench/setup.sh --no-inputpipe   peers only (inputpipe rows are then marked "not installed")
set -euo pipefail
cd "$(dirname "$0")"
BENCH=$PWD
ROOT=$(cd .. && pwd)
WITH_INPUTPIPE=1
[[ "${1:-}" == "--no-inputpipe" ]] && WITH_INPUTPIPE=0

TORCH_VERSION=2.13.0

if [[ ! -x .venv/bin/python ]]; then
  echo "== bench: creating bench/.venv"
  python3 -m venv .venv
fi
PY=".venv/bin/python"
# pip install, quiet; drops the warnings about index folders this machine's pip.conf names.
PIP() {
  shift  # "install"
  .venv/bin/pip install -q "$@" 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }
  return "${PIPESTATUS[0]}"
}

if ! $PY -c "import tensorflow, grain, torchdata, torch, matplotlib, psutil" >/dev/null 2>&1; then
  echo "== bench: pip install peers (tensorflow-cpu, grain, torch ${TORCH_VERSION} CPU, torchdata)"
  PIP install -q --upgrade pip
  # torch first, pinned to the CPU build: otherwise torchdata's dependency pulls a CUDA build.
  # A local CPU wheel (this machine keeps one in /opt/wheels) wins; pip prefers 2.13.0+cpu over
  # 2.13.0 anyway, since the local version label sorts higher.
  CPU_WHEEL=$(ls /opt/wheels/torch-${TORCH_VERSION}+cpu-*.whl 2>/dev/null | head -1 || true)
  if [[ -n "$CPU_WHEEL" ]]; then
    PIP install -q "$CPU_WHEEL"
  else  # only PyPI is reachable here; its Linux wheel is the CUDA build (works on CPU, larger)
    PIP install -q "torch==${TORCH_VERSION}"
  fi
  PIP install -q numpy matplotlib psutil tensorflow-cpu grain torchdata "torch==${TORCH_VERSION}"
fi
# Workload p (bench/parquet.py): pyarrow, and HuggingFace datasets to compare with.
if ! $PY -c "import pyarrow, datasets" >/dev/null 2>&1; then
  echo "== bench: pip install pyarrow datasets (workload p)"
  PIP install -q pyarrow datasets
fi
# Workload s (bench/remote.py): a moto S3 server on loopback, read through fsspec + s3fs; the
# S3 part of the tests' own list (tests/python/requirements-remote.txt), not its GCS emulator.
if ! $PY -c "import moto.server, s3fs, fsspec, boto3" >/dev/null 2>&1; then
  echo "== bench: pip install moto[server] s3fs (workload s)"
  PIP install -q "moto[server]>=5" "s3fs>=2023.1" "fsspec>=2023.1" boto3
fi

if [[ $WITH_INPUTPIPE == 1 ]]; then
  if [[ -f "$ROOT/pyproject.toml" ]]; then
    # Rebuild only when the engine's sources changed since the last install into this venv.
    STAMP=$( (cd "$ROOT" && find CMakeLists.txt pyproject.toml include src python -type f \
               ! -name '*_test.cc' -print0 | sort -z | xargs -0 sha1sum) | sha1sum | cut -c1-40)
    if [[ "$(cat .venv/inputpipe.stamp 2>/dev/null)" != "$STAMP" ]] || ! $PY -c "import inputpipe" 2>/dev/null; then
      echo "== bench: pip install inputpipe from $ROOT (builds the C++ engine)"
      PIP install -q scikit-build-core nanobind
      PIP install -q --no-build-isolation -Cbuild-dir="$ROOT/build/bench-python" "$ROOT"
      echo "$STAMP" > .venv/inputpipe.stamp
    else
      echo "== bench: inputpipe is up to date in bench/.venv"
    fi
  else
    echo "== bench: $ROOT/pyproject.toml not found; inputpipe rows will say 'not installed'"
  fi
fi
TF_CPP_MIN_LOG_LEVEL=3 $PY - 2>/dev/null <<'PYEOF'
import importlib
for m in ["numpy", "tensorflow", "grain", "torch", "torchdata", "matplotlib", "pyarrow", "moto",
          "s3fs", "inputpipe"]:
    try:
        mod = importlib.import_module(m)
        from importlib.metadata import version
        print(f"   {m:12s} {getattr(mod, '__version__', None) or version(m)}")
    except Exception as e:  # report, don't fail: the suite marks missing libraries
        print(f"   {m:12s} MISSING ({type(e).__name__}: {e})")
PYEOF
