#!/usr/bin/env bash
# The stable-ABI check of docs/python.md: installs another torch release from PyPI into its own virtual
# environment (./build-python/venv-torch-VERSION, several GB with its CUDA runtime packages), installs the wheel
# that scripts/test-python.sh built against ./.venv's torch (no rebuild), and runs the Python tests there.
# Not part of the README's test command (the download is large); docs/python.md records its runs.
# Usage: scripts/test-python-torch.sh VERSION [PYTEST ARGS...]    e.g. scripts/test-python-torch.sh 2.10.0
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
VERSION="${1:?usage: scripts/test-python-torch.sh TORCH_VERSION [PYTEST ARGS...] (e.g. 2.10.0)}"
shift
wheel=$(ls build-python/dist/signopt-*.whl 2>/dev/null | head -1 || true)
[ -n "$wheel" ] || { echo "[test-python-torch] no wheel in build-python/dist: run scripts/test-python.sh first"; exit 1; }
VENV="$ROOT/build-python/venv-torch-$VERSION"
PIP=(--disable-pip-version-check -q)
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
echo "[test-python-torch] installing torch==$VERSION into $VENV"
"$VENV/bin/python" -m pip install "${PIP[@]}" "torch==$VERSION" pytest numpy
"$VENV/bin/python" -m pip install "${PIP[@]}" --no-deps pytorch_optimizer==4.1.0 lion-pytorch==0.2.5
"$VENV/bin/python" -m pip install "${PIP[@]}" --no-deps --force-reinstall "$wheel"
cd "$ROOT/build-python"
"$VENV/bin/python" -c "import torch, signopt; print('[test-python-torch] torch', torch.__version__, '+ signopt', signopt.__version__, 'from', signopt.__file__)"
"$VENV/bin/python" -m pytest -q -p no:cacheprovider "$ROOT/python/tests" "$@"
