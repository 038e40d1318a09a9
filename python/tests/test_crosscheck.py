"""Cross-checks against the peers' implementations where the definitions coincide (pinned test
dependencies: pytorch_optimizer 4.1.0, lion-pytorch 0.2.5; pyproject.toml's `test` extra). Each weight-decay
convention is mapped explicitly:
- pytorch_optimizer.SignSGD(momentum=b, weight_decouple=W) is signopt.optim.Signum(momentum=b,
  decoupled_weight_decay=W) (its momentum is the EMA buf.lerp_(g, 1 - b), ours b m + (1 - b) g; its
  decoupled decay p *= 1 - lr wd, as ours);
- lion_pytorch.Lion(lr, betas, weight_decay=wd) is signopt.optim.Lion(lr, betas, weight_decay=wd,
  decoupled_weight_decay=True) (p *= 1 - lr wd before the update).
The peers round some operations differently (lerp, fused multiply-adds), so the trajectories agree to
1e-12 in float64 rather than bit for bit; a flipped sign would move a coordinate by 2 lr."""

from importlib.metadata import version

import pytest
import torch

from signopt import optim

from conftest import make_params, set_grads

pytorch_optimizer = pytest.importorskip("pytorch_optimizer", reason="pip install pytorch_optimizer==4.1.0")
lion_pytorch = pytest.importorskip("lion_pytorch", reason="pip install lion-pytorch==0.2.5")

SIZES = [1, 7, 65, 1000]
STEPS = 20


def compare(ours_cls, ours_opts, peer_cls, peer_opts):
    ours = make_params(SIZES, torch.float64, 5)
    peer = [p.clone() for p in ours]
    a, b = ours_cls(ours, **ours_opts), peer_cls(peer, **peer_opts)
    for t in range(STEPS):
        set_grads(ours, 50 + t)
        set_grads(peer, 50 + t)
        a.step()
        b.step()
    return max((x - y).abs().max().item() for x, y in zip(ours, peer))


def test_versions_are_the_pinned_ones():
    assert version("pytorch_optimizer") == "4.1.0"
    assert version("lion-pytorch") == "0.2.5"


@pytest.mark.parametrize("momentum", [0.0, 0.9])
@pytest.mark.parametrize("decouple", [True, False])
def test_signum_equals_pytorch_optimizer_signsgd(momentum, decouple):
    diff = compare(
        optim.Signum, dict(lr=0.01, momentum=momentum, weight_decay=0.05, decoupled_weight_decay=decouple),
        pytorch_optimizer.SignSGD, dict(lr=0.01, momentum=momentum, weight_decay=0.05, weight_decouple=decouple, foreach=False),
    )
    assert diff <= 1e-12


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_lion_equals_lion_pytorch(weight_decay):
    diff = compare(
        optim.Lion, dict(lr=0.01, betas=(0.9, 0.99), weight_decay=weight_decay, decoupled_weight_decay=True),
        lion_pytorch.Lion, dict(lr=0.01, betas=(0.9, 0.99), weight_decay=weight_decay),
    )
    assert diff <= 1e-12


def test_lion_equals_pytorch_optimizer_lion():
    diff = compare(
        optim.Lion, dict(lr=0.01, betas=(0.9, 0.99), weight_decay=0.1, decoupled_weight_decay=True),
        pytorch_optimizer.Lion, dict(lr=0.01, betas=(0.9, 0.99), weight_decay=0.1, weight_decouple=True),
    )
    assert diff <= 1e-12
