#!/usr/bin/env bash
# The plain CMake invocation a LibTorch user types, without scripts/build.sh's TORCH_CUDA_ARCH_LIST, must
# configure and build signopt's CUDA kernels with the installed nvcc (it used to fail with "nvcc fatal:
# Unsupported gpu architecture 'compute_50'"). Usage: plain_configure.sh SOURCE_DIR TORCH_CMAKE_PREFIX.
# Exit 77 (skipped) where there is no nvcc.
set -euo pipefail
src=$1
prefix=$2
if ! command -v nvcc >/dev/null 2>&1 && [ ! -x /usr/local/cuda/bin/nvcc ]; then
  echo "no nvcc on this machine: skipped"
  exit 77
fi
dir=$(mktemp -d /tmp/signopt-plain-cmake.XXXXXX)
trap 'rm -rf "$dir"' EXIT
unset TORCH_CUDA_ARCH_LIST
cmake -S "$src" -B "$dir" -DCMAKE_PREFIX_PATH="$prefix" >"$dir/configure.log" 2>&1 ||
  { cat "$dir/configure.log"; echo "FAILED: plain configure"; exit 1; }
grep -q "signopt: TORCH_CUDA_ARCH_LIST=9.0 (from SIGNOPT_CUDA_ARCHITECTURES)" "$dir/configure.log" ||
  { cat "$dir/configure.log"; echo "FAILED: LibTorch did not get signopt's architectures"; exit 1; }
if ! grep -q "signopt: CUDA kernels enabled" "$dir/configure.log"; then
  echo "nvcc found but the CUDA kernels are not configured (no CUDA runtime?): skipped"
  exit 77
fi
cmake --build "$dir" --target signopt_cuda_kernels >"$dir/build.log" 2>&1 ||
  { tail -30 "$dir/build.log"; echo "FAILED: building the CUDA kernels"; exit 1; }
echo "plain configure and CUDA kernel build: ok"
