#!/usr/bin/env bash
# Checks signopt's CUDA kernels on a GPU machine and times them: one prepared run for a lent GPU.
#
# Runs cuda_kernel_check (tests/cuda/): every rule and option mix on the GPU against the kernels'
# host model, bit for bit (sizes 0..100003 and 11M, float32/float64 and the sign and SGD cases on four 16-bit
# layouts, several grid sizes), then
# ms/step and GB/s at 11M parameters. That program needs only the CUDA driver (static CUDA runtime,
# static libstdc++, no LibTorch), so a GPU machine without LibTorch or CMake can run it: build it
# here and carry the binary, e.g. with the device tool
#   SIGNOPT_BUILD_DIR=build-cuda SIGNOPT_JOBS=1 bash scripts/build.sh cuda_kernel_check
#   run: bash scripts/gpu-check.sh        carry: ["build-cuda/cuda_kernel_check"]
# Without a usable carried binary it is compiled here with nvcc alone (one command, ~1 min).
# test_fused_cuda (the GPU against the CPU kernels through LibTorch) also runs when its LibTorch
# libraries resolve on this machine (they live in the build machine's .venv, too large to carry).
#
# Usage: scripts/gpu-check.sh [cuda_kernel_check options, e.g. --no-large]
# Env: SIGNOPT_CUDA_CHECK=path of the binary; SIGNOPT_CUDA_ARCH=90 (nvcc fallback's sm_XX);
#      OUT=folder for logs and the fallback build (default: a temporary folder).
# Exit status: that of cuda_kernel_check (0 pass, 1 mismatch or CUDA error, 77 no usable GPU).
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-$(mktemp -d)}"
mkdir -p "$out"
log="$out/gpu-check.log"
exec > >(tee "$log") 2>&1

echo "== signopt gpu-check $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname)"
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv || true
else
  echo "nvidia-smi: not found"
fi

# A binary that runs here: the given/carried one, else one built with nvcc.
runs() { [ -x "$1" ] && "$1" --no-such-flag >/dev/null 2>&1; [ $? -eq 2 ]; }
bin=""
for candidate in "${SIGNOPT_CUDA_CHECK:-}" build-cuda/cuda_kernel_check build/cuda_kernel_check; do
  if [ -n "$candidate" ] && runs "$candidate"; then
    bin=$candidate
    break
  elif [ -n "$candidate" ] && [ -e "$candidate" ]; then
    echo "found $candidate but it does not run here:"
    "$candidate" --no-such-flag 2>&1 | head -3
  fi
done
if [ -z "$bin" ]; then
  nvcc=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
  if [ ! -x "$nvcc" ]; then
    echo "FAIL: no runnable cuda_kernel_check (carry build-cuda/cuda_kernel_check) and no nvcc to build one"
    exit 1
  fi
  arch="${SIGNOPT_CUDA_ARCH:-90}"
  echo "== building cuda_kernel_check with $nvcc (sm_$arch)"
  start=$(date +%s)
  "$nvcc" -std=c++17 -O3 -fmad=false -Xcompiler=-ffp-contract=off -gencode "arch=compute_$arch,code=[sm_$arch,compute_$arch]" \
    -DSIGNOPT_CUDA_ARCH_STRING="\"$arch\"" -Iinclude src/kernels/fused_cuda.cu tests/cuda/cuda_kernel_check.cpp \
    -o "$out/cuda_kernel_check" || { echo "FAIL: nvcc build failed"; exit 1; }
  echo "built in $(($(date +%s) - start)) s"
  bin="$out/cuda_kernel_check"
fi

echo "== $bin $*"
"$bin" "$@"
status=$?

tests=build-cuda/tests/test_fused_cuda
if [ -x "$tests" ]; then
  if ldd "$tests" 2>/dev/null | grep -q "not found"; then
    echo "== $tests skipped: its LibTorch libraries do not resolve here:"
    ldd "$tests" | grep "not found" | head -5
  else
    echo "== $tests"
    "$tests" --gtest_brief=1 || status=1
  fi
else
  echo "== test_fused_cuda not present (it needs LibTorch; the host model ties the GPU to the CPU kernels)"
fi
echo "== gpu-check exit status $status (log: $log)"
exit $status
