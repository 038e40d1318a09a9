#!/usr/bin/env bash
# Ctrl-C during `signopt train` checkpoints at the next step boundary and exits with 130; --resume
# then finishes the run. Usage: sigint.sh SIGNOPT_BINARY
set -euo pipefail
bin="$1"
dir=$(mktemp -d)/run
trap 'rm -rf "$(dirname "$dir")"' EXIT
"$bin" train --dataset synthetic --synthetic-train 4000 --model mlp --optimizer signum --epochs 3 \
  --batch-size 16 --threads 1 --progress lines --log-every 10 --out "$dir" &
pid=$!
# Wait until training is under way (the first metric rows exist), then interrupt it.
for _ in $(seq 1 600); do
  if [ -f "$dir/metrics.csv" ] && [ "$(wc -l <"$dir/metrics.csv")" -ge 3 ]; then break; fi
  sleep 0.1
done
kill -INT "$pid"
set +e
wait "$pid"
rc=$?
set -e
[ "$rc" -eq 130 ] || { echo "FAIL: exit status $rc after SIGINT, expected 130"; exit 1; }
[ -f "$dir/checkpoint.pt" ] || { echo "FAIL: no checkpoint after SIGINT"; exit 1; }
grep -q '"status": "interrupted"' "$dir/summary.json" || { echo "FAIL: summary.json does not say interrupted"; exit 1; }
"$bin" train --resume "$dir" --progress none
grep -q '"status": "completed"' "$dir/summary.json" || { echo "FAIL: the resumed run did not complete"; exit 1; }
steps=$(grep '"steps"' "$dir/summary.json" | tr -dc 0-9)
[ "$steps" -eq 750 ] || { echo "FAIL: $steps steps after resume, expected 3 x 250"; exit 1; }
echo "PASS: interrupted, checkpointed and resumed to completion"
