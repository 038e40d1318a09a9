#!/bin/bash
# End-to-end step time of distributed training (docs/benchmarks.md): the same global batch trained by one
# process with 2 threads and by 2 workers (`signopt train --nproc 2`) with majority vote and with fp32
# allreduce. Usage: scripts/bench-distributed.sh OUT_DIR [MODEL DATASET STEPS GLOBAL_BATCH LOG_EVERY]
set -euo pipefail
out=${1:?usage: scripts/bench-distributed.sh OUT_DIR [MODEL DATASET STEPS GLOBAL_BATCH LOG_EVERY]}
model=${2:-cnn}; data=${3:-fashion-mnist}; steps=${4:-100}; batch=${5:-128}; every=${6:-10}
bin=${SIGNOPT_BIN:-build/apps/signopt}
mkdir -p "$out"
common=(--dataset "$data" --model "$model" --epochs 1 --max-steps "$steps" --log-every "$every" --progress none --seed 1)
run() { local name=$1; shift; rm -rf "$out/$name"; "$bin" train "${common[@]}" --out "$out/$name" "$@" >/dev/null; }
run 1-sgd --optimizer sgd --batch-size "$batch" --threads 2
run 1-signum --optimizer signum --batch-size "$batch" --threads 2
run 2-sgd-allreduce --optimizer sgd --batch-size $((batch / 2)) --nproc 2
run 2-signum-allreduce --optimizer signum --batch-size $((batch / 2)) --nproc 2 --aggregation allreduce
run 2-signum-vote --optimizer signum --batch-size $((batch / 2)) --nproc 2
echo "| run | workers | ms per step | images/s | ms in collectives per step | kB sent per step and worker |"
echo "|---|---:|---:|---:|---:|---:|"
python3 - "$out" "$batch" <<'PY'
import csv, glob, json, os, sys
out, batch = sys.argv[1], int(sys.argv[2])
for name in ["1-sgd", "1-signum", "2-sgd-allreduce", "2-signum-allreduce", "2-signum-vote"]:
    run = os.path.join(out, name)
    rows = [r for r in csv.DictReader(open(run + "/metrics.csv")) if r["kind"] == "step"][1:]  # first window: warm-up
    rate = sum(float(r["img_per_s"]) for r in rows) / len(rows)
    s = json.load(open(run + "/summary.json"))
    print(f"| {name} | {s['world_size']} | {batch / rate * 1000:.1f} | {rate:.0f} | "
          f"{s.get('comm_seconds_per_step', 0) * 1000:.1f} | {s.get('bytes_sent_per_step', 0) / 1e3:.1f} |")
PY
