"""Python == the golden trajectories of tests/golden (written by an independent reference from the
specification, read by the C++ tests too): every SignSGD, Signum, dithered, EF-SignSGD and Lion case, on the
fused path and on the reference path, each step to 1e-12 (the README's tolerance)."""

import pytest
import torch

from signopt import optim

from conftest import GOLDEN


def read_cases(path):
    cases, cur = {}, None
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            w = line.split()
            if w[0] == "case":
                cur = {"params": {}, "grads": {}, "expect": {}}
                cases[w[1]] = cur
            elif w[0] == "param":
                cur["params"][int(w[1])] = [float(v) for v in w[3:]]
            elif w[0] in ("grad", "expect"):
                cur[w[0] + ("s" if w[0] == "grad" else "")][(int(w[1]), int(w[2]))] = [float(v) for v in w[4:]]
    return cases


def dither(**kw):
    return dict(kw)


# The cases of tests/golden/README.md this package's classes cover, with their options (the hybrid's come
# with HybridSignSGD).
CASES = {
    "signsgd": (optim.SignSGD, dict(lr=0.01)),
    "signsgd_wd": (optim.SignSGD, dict(lr=0.01, weight_decay=0.1)),
    "signum": (optim.Signum, dict(lr=0.01, momentum=0.9, weight_decay=5e-4)),
    "signum_decoupled": (optim.Signum, dict(lr=0.01, momentum=0.5, weight_decay=0.1, decoupled_weight_decay=True)),
    "signum_dither_default": (optim.Signum, dict(lr=0.01, momentum=0.9, dither=dither(seed=1))),
    "signsgd_dither_abs_uniform_grad": (optim.SignSGD, dict(lr=0.01, dither=dither(
        distribution="uniform", scale="absolute", alpha=0.5, schedule="constant", target="gradient", seed=7))),
    "signum_dither_max3sigma_linear": (optim.Signum, dict(lr=0.01, momentum=0.9, dither=dither(
        scale="max3sigma", alpha=2.0, schedule="linear", alpha_min=0.1, horizon=4, seed=3))),
    "signum_dither_meanabs_cosine_grad": (optim.Signum, dict(lr=0.01, momentum=0.9, dither=dither(
        scale="meanabs", alpha=1.5, schedule="cosine", alpha_min=0.0, horizon=5, target="gradient", seed=11))),
    "signum_dither_rms_exponential_stream": (optim.Signum, dict(lr=0.01, momentum=0.9, dither=dither(
        schedule="exponential", decay_rate=0.8, seed=5, stream=2))),
    "signum_dither_bigseed": (optim.Signum, dict(lr=0.01, momentum=0.9, dither=dither(seed=0x123456789ABCDEF0))),
    "ef_signsgd": (optim.EFSignSGD, dict(lr=0.05)),
    "ef_signsgd_mom": (optim.EFSignSGD, dict(lr=0.05, momentum=0.9, weight_decay=0.01)),
    "lion": (optim.Lion, dict(lr=0.01, betas=(0.9, 0.99), weight_decay=0.1, decoupled_weight_decay=True)),
}

SHAPES = [(3, 4), (5,)]


def run_case(case, cls, options, fused):
    params = [torch.tensor(case["params"][i], dtype=torch.float64).reshape(SHAPES[i]) for i in range(2)]
    opt = cls(params, fused=fused, **options)
    steps = max(step for step, _ in case["expect"])
    worst = 0.0
    for step in range(1, steps + 1):
        for i, p in enumerate(params):
            p.grad = torch.tensor(case["grads"][(step, i)], dtype=torch.float64).reshape(SHAPES[i])
        opt.step()
        for i, p in enumerate(params):
            expect = torch.tensor(case["expect"][(step, i)], dtype=torch.float64).reshape(SHAPES[i])
            worst = max(worst, (p - expect).abs().max().item())
    return worst


@pytest.fixture(scope="module")
def cases():
    return read_cases(GOLDEN)


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("fused", [True, False], ids=["fused", "reference"])
def test_golden_trajectory(cases, name, fused):
    cls, options = CASES[name]
    assert name in cases, f"golden case {name} missing from {GOLDEN}"
    assert run_case(cases[name], cls, options, fused) <= 1e-12


def test_every_non_hybrid_golden_case_is_covered(cases):
    missing = [n for n in cases if not n.startswith("hybrid") and n not in CASES]
    assert not missing, f"golden cases without a Python test: {missing}"
