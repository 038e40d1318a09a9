#!/usr/bin/env bash
# Installs everything signopt needs on a fresh Debian 12 machine; safe to run again.
#  - Debian packages: compiler, CMake, GoogleTest, Google Benchmark, zlib, the Fashion-MNIST data, clang
#    (libFuzzer).
#  - LibTorch: the pinned torch wheel from PyPI in ./.venv, with its dependencies (the CUDA runtime wheels),
#    which Python's `import torch` and the Python package (docs/python.md) need; SIGNOPT_NO_PYTHON=1 leaves
#    them out (the C++ build on the CPU needs only the wheel).
set -euo pipefail
cd "$(dirname "$0")/.."

TORCH_VERSION="${SIGNOPT_TORCH_VERSION:-2.15.0}"
APT_PACKAGES=(build-essential cmake ccache git python3 python3-venv zlib1g-dev
  python3-dev  # Python.h: torch.compile's C++ code generation (the Python package's tests) includes it
  libgtest-dev libgmock-dev libbenchmark-dev nlohmann-json3-dev libtomlplusplus-dev dataset-fashion-mnist gnuplot-nox
  libboost-math-dev  # Boost.Math: the distributions of src/stats/stats.cpp
  libgloo-dev   # Gloo headers for c10d::ProcessGroupGloo (the torch wheel ships none; docs/distributed.md)
  clang libclang-rt-14-dev)  # libFuzzer for scripts/fuzz.sh

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "[setup] installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PY="${SIGNOPT_PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv with $($PY --version 2>&1)"
  "$PY" -m venv .venv
fi
installed=$(.venv/bin/python -m pip show torch 2>/dev/null | awk '/^Version:/{print $2}' || true)
if [ "$installed" != "$TORCH_VERSION" ]; then
  echo "[setup] installing torch==$TORCH_VERSION (LibTorch) into .venv (about 540 MB)"
  .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps "torch==$TORCH_VERSION"
fi
echo "[setup] LibTorch: torch $TORCH_VERSION, cmake prefix $(scripts/torch-prefix.sh)"
# The wheel's dependencies (the CUDA runtime packages, about 5 GB, 1.5 minutes): Python's `import torch` needs
# them, so the Python package's build and tests do, and so does `signopt train --device cuda`. The C++ build
# on the CPU does not: SIGNOPT_NO_PYTHON=1 skips them (and the Python build tools).
if [ "${SIGNOPT_NO_PYTHON:-0}" != 1 ]; then
  if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
    echo "[setup] installing torch==$TORCH_VERSION's dependencies (CUDA runtime packages, about 5 GB)"
    .venv/bin/python -m pip install -q --disable-pip-version-check "torch==$TORCH_VERSION"
  fi
  # The Python package's build backend (pyproject.toml); the test venv of scripts/test-python.sh gets the rest.
  .venv/bin/python -m pip install -q --disable-pip-version-check "scikit-build-core>=0.10"
  echo "[setup] Python: $(.venv/bin/python -c 'import torch; print("import torch", torch.__version__)') works"
fi
