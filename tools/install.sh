#!/usr/bin/env bash
# Installs everything inputpipe needs on a fresh Debian machine, then builds and installs the
# Python package into ./.venv. Safe to run again: each step is idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages: compiler, CMake/Ninja, GoogleTest and zlib (Debian's, so no network at build);
# pkgconf for tools/consumer.sh's pkg-config build.
APT_PACKAGES="g++ cmake ninja-build libgtest-dev zlib1g-dev ccache pkgconf"
missing=$(dpkg-query -W -f='${Status} ${Package}\n' $APT_PACKAGES 2>/dev/null | grep -v "install ok installed" || true)
if [[ -n "$missing" ]] || ! dpkg-query -W $APT_PACKAGES >/dev/null 2>&1; then
  echo "== apt-get install $APT_PACKAGES"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq $APT_PACKAGES >/dev/null || { apt-get update -qq && apt-get install -y -qq $APT_PACKAGES >/dev/null; }
fi

# Python: a project-local virtual environment, so nothing depends on what the machine has.
if [[ ! -x .venv/bin/python ]]; then
  echo "== creating .venv"
  python3 -m venv .venv
fi
echo "== pip install (build tools, numpy, pytest)"
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -r requirements-dev.txt
echo "== pip install . (builds the C++ engine and the inputpipe._core extension)"
# ccache: the test builds compile the same engine sources again; a cache inside build/ turns
# those repeats into copies, and a second run of this script into seconds.
export CCACHE_DIR="$PWD/build/ccache" CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=true
.venv/bin/pip install -q --no-build-isolation -Cbuild-dir=build/python \
  -Ccmake.define.CMAKE_CXX_COMPILER_LAUNCHER=ccache .
