#!/usr/bin/env bash
# Builds the fast part of the suite (checkpoint I/O, config parsers, dataset readers, kernels, optimizers,
# sign packing) with AddressSanitizer + UndefinedBehaviorSanitizer into ./build-asan and runs it.
# Usage: scripts/test-sanitized.sh   (after scripts/setup.sh; reuses ./build-asan when it exists)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${SIGNOPT_ASAN_BUILD_DIR:-build-asan}"
JOBS="${SIGNOPT_JOBS:-$(nproc)}"
prefix=$(scripts/torch-prefix.sh)
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  echo "[asan] configuring $BUILD_DIR"
  mkdir -p "$BUILD_DIR"
  # -O1: a sanitizer build is for finding errors, and -O1 compiles much faster than Release's -O3.
  cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=None -DCMAKE_CXX_FLAGS="-O1" -DCMAKE_PREFIX_PATH="$prefix" \
    -DTORCH_CUDA_ARCH_LIST="9.0" \
    -DSIGNOPT_SANITIZE=ON -DSIGNOPT_WITH_CUDA=OFF -DSIGNOPT_BUILD_EXAMPLES=OFF -DSIGNOPT_BUILD_BENCHMARKS=OFF \
    >"$BUILD_DIR/configure.log" 2>&1 ||
    { cat "$BUILD_DIR/configure.log"; echo "[asan] configure failed (log: $BUILD_DIR/configure.log)"; exit 1; }
else
  cmake "$BUILD_DIR" >"$BUILD_DIR/configure.log" 2>&1 || { cat "$BUILD_DIR/configure.log"; exit 1; } # new targets
fi
echo "[asan] compiling the fast tests (tests/CMakeLists.txt: SIGNOPT_FAST_TESTS) with ASan + UBSan ($JOBS jobs)"
cmake --build "$BUILD_DIR" -j "$JOBS" --target fast_tests
# LibTorch's static singletons are never freed, so leak reports would be its, not signopt's.
export ASAN_OPTIONS="detect_leaks=0:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$JOBS" -L '^fast$'
