#!/usr/bin/env bash
# Usage: bash docs/probe/probes.sh (after scripts/build.sh and the checkpoint of runs/fmnist-cpu/select/sgd-lr0.1-seed0:
#   signopt train --preset fmnist-cnn --val-fraction 0.1 --optimizer sgd --lr 0.1 --seed 0 --threads 1 --out runs/fmnist-cpu/select/sgd-lr0.1-seed0)
# The probes of docs/probe/ rerun with the sign-flip symmetry test and the dither shares (issue 19).
set -euo pipefail
cd "$(dirname "$0")/../.."  # the repository root
S=./build/apps/signopt
T=runs/fmnist-cpu/select/sgd-lr0.1-seed0
run() { local name=$1; shift; rm -rf runs/probe19/$name; $S probe-noise "$@" --samples 200 --threads 2 --out runs/probe19/$name > runs/probe19/$name.log 2>&1; echo "done $name"; }
run fresh-b32 --batch-size 32
run fresh-b128 --batch-size 128
run trained-sgd-b32 --from $T --batch-size 32
run trained-sgd-b128 --from $T --batch-size 128
run trained-sgd-b32-all --from $T --batch-size 32 --coords 0
