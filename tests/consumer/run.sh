#!/usr/bin/env bash
# Installs the built signopt into a temporary prefix, then builds and runs tests/consumer against it.
# Usage: run.sh BUILD_DIR TORCH_CMAKE_PREFIX
set -euo pipefail
build_dir=$1
torch_prefix=$2
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build_dir" --prefix "$work/prefix" >/dev/null
cmake -S "$here" -B "$work/build" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$work/prefix;$torch_prefix" -DTORCH_CUDA_ARCH_LIST=9.0 >"$work/configure.log" 2>&1 ||
  { cat "$work/configure.log"; exit 1; }
cmake --build "$work/build" >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
"$work/build/consumer"
