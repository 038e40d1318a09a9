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


def dcp_resume(make, total=6, cut=3):
    """A run of `total` steps of make() = (model, optimizer), and the same run cut after `cut` steps and resumed
    through torch.distributed.checkpoint's get/set_optimizer_state_dict; returns (uninterrupted model, resumed
    model, resumed optimizer)."""
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict, set_optimizer_state_dict

    def steps(m, opt, ts):
        for t in ts:
            opt.zero_grad()
            g = torch.Generator().manual_seed(t)
            m(torch.randn(4, 6, generator=g, dtype=torch.float64)).square().sum().backward()
            opt.step()

    a, opt_a = make()
    steps(a, opt_a, range(total))
    b, opt_b = make()
    steps(b, opt_b, range(cut))
    sd = get_optimizer_state_dict(b, opt_b)
    c, opt_c = make()
    c.load_state_dict(b.state_dict())
    set_optimizer_state_dict(c, opt_c, sd)
    steps(c, opt_c, range(cut, total))
    return a, c, opt_c


def pytest_report_header(config):
    return f"signopt {signopt.__version__} from {os.path.dirname(signopt.__file__)} (operators: {signopt._ops.LIBRARY})"
