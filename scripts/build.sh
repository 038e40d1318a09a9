#!/usr/bin/env bash
# Configures and builds signopt into ./build with the .venv's LibTorch.
# Usage: scripts/build.sh [TARGET...]   (no target: library, tests and examples)
# SIGNOPT_BUILD_DIR: another build folder; SIGNOPT_CMAKE_ARGS: more configure options (a first configure
# only; they come after the defaults, so -DCMAKE_BUILD_TYPE=... there wins); SIGNOPT_JOBS: parallel jobs.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${SIGNOPT_BUILD_DIR:-build}"
JOBS="${SIGNOPT_JOBS:-$(nproc)}"
prefix=$(scripts/torch-prefix.sh)
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  echo "[build] configuring $BUILD_DIR"
  mkdir -p "$BUILD_DIR"
  # TORCH_CUDA_ARCH_LIST skips LibTorch's GPU probe, which fails on machines without a GPU.
  # shellcheck disable=SC2086 # SIGNOPT_CMAKE_ARGS is a list of options
  cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" \
    -DTORCH_CUDA_ARCH_LIST="9.0" ${SIGNOPT_CMAKE_ARGS:-} >"$BUILD_DIR/configure.log" 2>&1 ||
    { cat "$BUILD_DIR/configure.log"; echo "[build] configure failed (log: $BUILD_DIR/configure.log)"; exit 1; }
elif [ $# -gt 0 ]; then
  # A named target may be new since the last configure; the Makefiles learn it only from a regeneration.
  cmake "$BUILD_DIR" >"$BUILD_DIR/configure.log" 2>&1 ||
    { cat "$BUILD_DIR/configure.log"; echo "[build] configure failed (log: $BUILD_DIR/configure.log)"; exit 1; }
fi
targets=()
for t in "$@"; do targets+=(--target "$t"); done
echo "[build] compiling ${*:-everything} with $JOBS jobs (a first build takes several minutes)"
cmake --build "$BUILD_DIR" -j "$JOBS" "${targets[@]}"
