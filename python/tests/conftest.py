"""Shared helpers of the Python package's tests (run by the README's test command: scripts/test-python.sh)."""

import os

import pytest
import torch

import signopt  # noqa: F401  (loads the operators)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GOLDEN = os.path.join(REPO, "tests", "golden", "trajectories.txt")


def make_params(sizes, dtype, seed):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, generator=g, dtype=dtype) for n in sizes]


def set_grads(params, seed, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    for p in params:
        p.grad = torch.randn(p.shape, generator=g, dtype=p.dtype) * scale


def bitwise_equal(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and torch.equal(a.view(-1).view(torch.uint8), b.view(-1).view(torch.uint8))


@pytest.fixture(autouse=True)
def _deterministic_threads():
    # Results never depend on the thread count (the kernels' chunks are fixed); the tests run on two threads
    # to exercise the parallel split on every machine.
    old = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(old)


def pytest_report_header(config):
    return f"signopt {signopt.__version__} from {os.path.dirname(signopt.__file__)} (operators: {signopt._ops.LIBRARY})"
