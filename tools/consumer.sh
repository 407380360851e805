#!/usr/bin/env bash
# The C++ package as a user gets it: builds the engine, installs it into a temporary prefix,
# checks the installed headers, then builds examples/consumer/ outside the source tree twice,
# with CMake (find_package(inputpipe CONFIG REQUIRED)) and with pkg-config, and runs both.
#
#   tools/consumer.sh
#
# Environment:
#   CONSUMER_BUILD_DIR   the engine's build directory (default build/consumer-lib: a plain
#                        Release build without tests, so no sanitizer runtime leaks into the
#                        consumer; ccache makes it cheap after the test builds)
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

build_dir="${CONSUMER_BUILD_DIR:-build/consumer-lib}"
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi

tmp="$(mktemp -d /tmp/inputpipe_consumer.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
prefix="$tmp/prefix"

echo "== build and install the engine into $prefix"
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DINPUTPIPE_BUILD_TESTS=OFF \
  -DINPUTPIPE_BUILD_EXAMPLES=OFF "${launcher[@]}" >/dev/null
cmake --build "$build_dir"
cmake --install "$build_dir" --prefix "$prefix" >/dev/null

echo "== the installed headers are the public ones and include only each other"
installed=$(cd "$prefix/include" && find . -type f | sort)
expected=$(cd include && find . -type f -name '*.h' | sort)
if [ "$installed" != "$expected" ]; then
  echo "installed headers differ from include/:" >&2
  diff <(echo "$expected") <(echo "$installed") >&2 || true
  exit 1
fi
if grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$prefix"/include/inputpipe/*.h |
    grep -v '#[[:space:]]*include[[:space:]]*"inputpipe/[A-Za-z0-9_]*\.h"'; then
  echo "a public header includes a non-public header (only \"inputpipe/NAME.h\" is allowed)" >&2
  exit 1
fi
if find "$prefix" -path "$prefix/include" -prune -o -name '*.h' -print | grep .; then
  echo "headers installed outside include/" >&2
  exit 1
fi

# A copy outside the tree: nothing can reach the source tree's include/ or src/ by accident.
cp -r examples/consumer "$tmp/src"

echo "== consumer built with find_package(inputpipe CONFIG REQUIRED)"
cmake -S "$tmp/src" -B "$tmp/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$tmp/build"
"$tmp/build/consumer"

echo "== consumer built with pkg-config"
pc_file=$(find "$prefix" -name inputpipe.pc)
[ -n "$pc_file" ] || { echo "inputpipe.pc not installed" >&2; exit 1; }
export PKG_CONFIG_PATH="$(dirname "$pc_file")"
flags=$(pkg-config --cflags --libs --static inputpipe)
echo "pkg-config --cflags --libs --static inputpipe: $flags"
case "$flags" in *"$root"*) echo "pkg-config flags point into the source tree" >&2; exit 1 ;; esac
# shellcheck disable=SC2086  # the flags are words
g++ -std=c++20 -O1 "$tmp/src/main.cc" -o "$tmp/consumer_pkg_config" $flags
"$tmp/consumer_pkg_config"
echo "== the installed C++ package works both ways"
