#!/usr/bin/env bash
# Builds the fast part of the suite (checkpoint I/O, config parsers, dataset readers, kernels, optimizers,
# sign packing) with AddressSanitizer + UndefinedBehaviorSanitizer into ./build-asan and runs it.
# Usage: scripts/test-sanitized.sh   (after scripts/setup.sh; reuses ./build-asan when it exists)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${SIGNOPT_ASAN_BUILD_DIR:-build-asan}"
# -O1: a sanitizer build is for finding errors, and -O1 compiles much faster than Release's -O3.
SIGNOPT_BUILD_DIR="$BUILD_DIR" SIGNOPT_CMAKE_ARGS="-DCMAKE_BUILD_TYPE=None -DCMAKE_CXX_FLAGS=-O1 -DSIGNOPT_SANITIZE=ON \
-DSIGNOPT_WITH_CUDA=OFF -DSIGNOPT_BUILD_EXAMPLES=OFF -DSIGNOPT_BUILD_BENCHMARKS=OFF" \
  bash scripts/build.sh fast_tests # the list: SIGNOPT_FAST_TESTS in tests/CMakeLists.txt
# LibTorch's static singletons are never freed, so leak reports would be its, not signopt's.
export ASAN_OPTIONS="detect_leaks=0:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "${SIGNOPT_JOBS:-$(nproc)}" -L '^fast$'
