#!/usr/bin/env bash
# Training throughput of `signopt train` vs the same model, batch, optimizer (SGD momentum) and
# threads in Python PyTorch of the same release. Both time W warmup steps and then N steps of
# real Fashion-MNIST batches (batching + forward + backward + step).
# Usage: bench/train_throughput.sh        (env: THREADS=2, MODELS="cnn resnet18", REPEATS=3)
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS="${THREADS:-2}"
MODELS="${MODELS:-cnn resnet18}"
REPEATS="${REPEATS:-3}"
py=.venv/bin/python
# The wheel is installed without its CUDA runtime packages (the C++ build needs none); Python's
# `import torch` loads libtorch_cuda, which needs these four.
if ! "$py" -c "import torch" 2>/dev/null; then
  echo "[bench] installing the CUDA runtime packages that Python's import torch needs"
  .venv/bin/pip install -q --no-deps nvidia-cusparselt-cu13==0.8.1 nvidia-nvshmem-cu13==3.7.2 nvidia-cufile nvidia-nccl-cu13==2.30.7
fi
bash scripts/build.sh signopt_cli >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), threads $THREADS"
for model in $MODELS; do
  if [ "$model" = cnn ]; then warmup=20 steps=300; else warmup=3 steps=12; fi
  for r in $(seq 1 "$REPEATS"); do
    out="$tmp/$model-$r"
    ./build/apps/signopt train --dataset fashion-mnist --model "$model" --optimizer sgd --lr 0.01 --momentum 0.9 \
      --lr-schedule constant --batch-size 128 --threads "$THREADS" --max-steps $((warmup + steps)) --log-every 1 \
      --progress none --out "$out" >/dev/null
    awk -F, -v w="$warmup" -v n="$steps" -v m="$model" -v t="$THREADS" '
      $1 == "step" && $4 == w { a = $12 } $1 == "step" && $4 == w + n { b = $12 }
      END { printf "signopt train: %s batch 128 threads %s: %.2f ms/step = %.0f img/s over %d steps\n", m, t, (b - a) / n * 1e3, n * 128 / (b - a), n }' \
      "$out/metrics.csv"
    "$py" bench/train_throughput.py --model "$model" --threads "$THREADS" --warmup "$warmup" --steps "$steps" 2>/dev/null
  done
done
