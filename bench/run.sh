#!/usr/bin/env bash
# Builds and runs the optimizer benchmark, then prints the markdown tables for docs/benchmarks.md.
# Usage: bench/run.sh [OUT_JSON]   (env: SIGNOPT_BENCH_THREADS, default 2; SIGNOPT_BENCH_MAX_SIZE)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build/bench_optimizers.json}
bash scripts/build.sh bench_optimizers >/dev/null
./build/bench/bench_optimizers --benchmark_min_time=0.5 --benchmark_out="$out" --benchmark_out_format=json >&2
python3 bench/report.py "$out"
