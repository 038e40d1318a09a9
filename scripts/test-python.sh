#!/usr/bin/env bash
# Builds the Python package's wheel against ./.venv's torch and tests it installed in a clean virtual
# environment: ./build-python/venv holds only the wheel and the pinned test dependencies; torch comes from
# ./.venv through a .pth file (it is 5 GB with its CUDA runtime packages, so it is not installed twice).
# The tests run from the installed wheel, never from python/signopt of the source tree.
# Usage: scripts/test-python.sh [PYTEST ARGS...]   (after scripts/setup.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
PY="$ROOT/.venv/bin/python"
OUT="$ROOT/build-python"
VENV="$OUT/venv"
PIP=(--disable-pip-version-check -q)

"$PY" -c "import torch" 2>/dev/null || {
  echo "[test-python] Python cannot import torch from ./.venv: run scripts/setup.sh (it installs torch's runtime packages)"
  exit 1
}
echo "[test-python] building the wheel (scikit-build-core, against $("$PY" -c 'import torch; print("torch", torch.__version__)'))"
rm -rf "$OUT/dist"
mkdir -p "$OUT"
"$PY" -m pip wheel "${PIP[@]}" --no-build-isolation --no-deps -w "$OUT/dist" . >"$OUT/wheel-build.log" 2>&1 ||
  { tail -40 "$OUT/wheel-build.log"; echo "[test-python] the wheel failed to build (log: $OUT/wheel-build.log)"; exit 1; }
wheel=$(ls "$OUT"/dist/signopt-*.whl)
echo "[test-python] built $(basename "$wheel")"

if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
"$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' >"$site/signopt_test_torch.pth"
# The test extra of pyproject.toml; the peers with --no-deps (their dependency is torch, seen through the .pth).
"$VENV/bin/python" -m pip install "${PIP[@]}" pytest numpy
"$VENV/bin/python" -m pip install "${PIP[@]}" --no-deps pytorch_optimizer==4.1.0 lion-pytorch==0.2.5
"$VENV/bin/python" -m pip install "${PIP[@]}" --no-deps --force-reinstall "$wheel"
cd "$OUT" # not the repository root: `import signopt` must find the installed wheel
"$VENV/bin/python" - "$VENV" <<'PY'
import os, sys
import signopt
where = os.path.realpath(signopt.__file__)
assert where.startswith(os.path.realpath(sys.argv[1])), f"signopt imported from {where}, not from the test venv"
print(f"[test-python] signopt {signopt.__version__} from {os.path.dirname(where)}")
PY
"$VENV/bin/python" -m pytest -q -p no:cacheprovider "$ROOT/python/tests" "$@"
