#!/usr/bin/env bash
# Prints torch.utils.cmake_prefix_path of the project's .venv. It is computed from the package's
# location instead of `import torch`, which would need the CUDA runtime wheels that signopt skips.
# SIGNOPT_TORCH_PREFIX overrides it (e.g. the CMake prefix of Debian's libtorch-dev fallback).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${SIGNOPT_TORCH_PREFIX:-}" ]; then
  echo "$SIGNOPT_TORCH_PREFIX"
  exit 0
fi
.venv/bin/python - <<'PY'
import importlib.util, os
spec = importlib.util.find_spec("torch")
if spec is None:
    raise SystemExit("torch is not installed in .venv: run scripts/setup.sh")
# Same expression as torch/utils/__init__.py: cmake_prefix_path = <torch>/share/cmake
print(os.path.join(os.path.dirname(spec.origin), "share", "cmake"))
PY
