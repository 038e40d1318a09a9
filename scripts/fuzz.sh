#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, with clang) into ./build-fuzz and runs each for SECONDS (default 20)
# from its committed seed corpus (fuzz/corpus/TARGET). New inputs go to build-fuzz/corpus/TARGET, crashes
# to build-fuzz/artifacts/; a crash, a leak, a timeout (10 s per input) or 2 GB of memory fails the run.
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]     e.g. scripts/fuzz.sh 3600 fuzz_checkpoint
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET="${1:-20}"
shift || true
BUILD_DIR="${SIGNOPT_FUZZ_BUILD_DIR:-build-fuzz}"
JOBS="${SIGNOPT_JOBS:-$(nproc)}"
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  echo "[fuzz] configuring $BUILD_DIR with clang"
  mkdir -p "$BUILD_DIR"
  cmake -S fuzz -B "$BUILD_DIR" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_PREFIX_PATH="$(scripts/torch-prefix.sh)" \
    -DTORCH_CUDA_ARCH_LIST="9.0" >"$BUILD_DIR/configure.log" 2>&1 ||
    { cat "$BUILD_DIR/configure.log"; echo "[fuzz] configure failed (log: $BUILD_DIR/configure.log)"; exit 1; }
fi
cmake --build "$BUILD_DIR" -j "$JOBS"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for t in fuzz_checkpoint fuzz_config fuzz_sweep fuzz_run_dir fuzz_datasets; do
    [ -x "$BUILD_DIR/$t" ] && targets+=("$t")
  done
fi
mkdir -p "$BUILD_DIR/artifacts"
failed=0
for t in "${targets[@]}"; do
  mkdir -p "$BUILD_DIR/corpus/$t"
  echo "[fuzz] $t for ${SECONDS_PER_TARGET}s (seeds: fuzz/corpus/$t)"
  if ! "$BUILD_DIR/$t" "$BUILD_DIR/corpus/$t" "fuzz/corpus/$t" -max_total_time="$SECONDS_PER_TARGET" -timeout=10 \
      -rss_limit_mb=2048 -malloc_limit_mb=2048 -artifact_prefix="$BUILD_DIR/artifacts/$t-" -print_final_stats=1 \
      >"$BUILD_DIR/$t.log" 2>&1; then
    tail -n 60 "$BUILD_DIR/$t.log"
    echo "[fuzz] $t FAILED (log: $BUILD_DIR/$t.log, input: $BUILD_DIR/artifacts/)"
    failed=1
  else
    grep -E "stat::number_of_executed_units|stat::new_units_added" "$BUILD_DIR/$t.log" | tr '\n' ' '
    echo
  fi
done
exit $failed
