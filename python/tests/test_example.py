"""examples/fashion_mnist_hybrid.py on the real Fashion-MNIST (a 1024-image subset, 2 epochs): it runs, and
its per-epoch losses and accuracies equal those of the C++ example (examples/fashion_mnist_hybrid.cpp, the
same job) digit for digit, since both run the same kernels on the same initial weights and batches."""

import os
import re
import subprocess
import sys

import pytest

from conftest import REPO

DATA = "/usr/share/datasets/fashion-mnist"
CPP = os.environ.get("SIGNOPT_CPP_EXAMPLE", os.path.join(REPO, "build", "examples", "fashion_mnist_hybrid"))
ARGS = ["--train-subset", "1024", "--epochs", "2", "--threads", "2", "--seed", "3"]
EPOCH_LINE = re.compile(r"^epoch \d+/\d+  train loss [0-9.]+  test accuracy [0-9.]+%", re.M)


@pytest.fixture(scope="module")
def python_run():
    if not os.path.isfile(os.path.join(DATA, "train-images-idx3-ubyte.gz")):
        pytest.skip(f"Fashion-MNIST is not in {DATA} (apt-get install dataset-fashion-mnist)")
    out = subprocess.run([sys.executable, os.path.join(REPO, "examples", "fashion_mnist_hybrid.py")] + ARGS,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_the_example_trains_and_switches(python_run):
    epochs = EPOCH_LINE.findall(python_run)
    assert len(epochs) == 2
    result = re.search(r"result: test accuracy ([0-9.]+)% after 2 epochs; switched to SGD after step (\d+) of (\d+)",
                       python_run)
    assert result, python_run
    assert float(result.group(1)) > 50.0  # chance is 10%
    assert int(result.group(2)) == 8  # the switch follows epoch 1 of 8 steps


def test_the_example_equals_the_cpp_example(python_run):
    if not os.path.isfile(CPP):
        pytest.skip(f"the C++ example {CPP} is not built (scripts/build.sh builds it)")
    out = subprocess.run([CPP] + ARGS, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert EPOCH_LINE.findall(out.stdout) == EPOCH_LINE.findall(python_run)
    assert len(EPOCH_LINE.findall(out.stdout)) == 2
