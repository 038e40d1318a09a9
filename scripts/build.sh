#!/usr/bin/env bash
# Configures and builds signopt (library, tests, examples) into ./build with the .venv's LibTorch.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${SIGNOPT_BUILD_DIR:-build}"
JOBS="${SIGNOPT_JOBS:-$(nproc)}"
prefix=$(scripts/torch-prefix.sh)
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  echo "[build] configuring $BUILD_DIR"
  # TORCH_CUDA_ARCH_LIST avoids LibTorch's GPU probe on machines without a GPU.
  cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" \
    -DTORCH_CUDA_ARCH_LIST="9.0" "$@" >"$BUILD_DIR.configure.log" 2>&1 ||
    { cat "$BUILD_DIR.configure.log"; exit 1; }
fi
echo "[build] compiling with $JOBS jobs (first build takes several minutes)"
cmake --build "$BUILD_DIR" -j "$JOBS"
