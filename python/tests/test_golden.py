"""Python == the golden trajectories of tests/golden (written by an independent reference from the
specification, read by the C++ tests too): every case (SignSGD, Signum, dithered, the hybrid, EF-SignSGD,
Lion) on the fused path and on the reference path, each step to 1e-12 (the README's tolerance); the hybrid's
phase and calibrated rate after each step (relative 1e-12) where the file has them."""

import os

import pytest
import torch

from signopt import optim

from conftest import GOLDEN, REPO, bitwise_equal

# Where ctest's golden replays write the C++ library's trajectories (tests/support/golden.cpp).
CPP_DIR = os.environ.get("SIGNOPT_CPP_GOLDEN_DIR", os.path.join(REPO, "build", "tests", "golden_cpp"))


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
            elif w[0] == "hybrid":
                cur.setdefault("hybrid", {})[int(w[1])] = (int(w[2]), float(w[3]))
            elif w[0] in ("grad", "expect"):
                cur[w[0] + ("s" if w[0] == "grad" else "")][(int(w[1]), int(w[2]))] = [float(v) for v in w[4:]]
    return cases


def dither(**kw):
    return dict(kw)


def hybrid(**kw):
    # The golden file's hybrid defaults (tests/golden/README.md): lr 0.01, b1 0.9, eps 1e-8, least-squares.
    o = dict(lr=0.01, betas=(0.9, kw.pop("b2", 0.999)), eps=1e-8, calibration="least-squares")
    o.update(kw)
    return (optim.HybridSignSGD, o)


# The cases of tests/golden/README.md, with their options.
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
    "hybrid_step3": hybrid(trigger="step", switch_step=3),
    "hybrid_pertensor_mom": hybrid(trigger="step", switch_step=3, calibration_scope="per-tensor",
                                   post_switch_momentum=0.9, weight_decay=1e-3),
    "hybrid_handover": hybrid(b2=0.9, trigger="step", switch_step=2, handover_steps=3),
    "hybrid_auto": hybrid(b2=0.5, trigger="auto", auto_tol=0.3),
    "hybrid_dither": hybrid(trigger="step", switch_step=4, dither=dither(seed=2)),
    "hybrid_nobias": hybrid(trigger="step", switch_step=3, bias_correction=False),
    "hybrid_swats": hybrid(b2=0.9, trigger="step", switch_step=3, calibration="swats"),
    "hybrid_norm_mom": hybrid(b2=0.9, trigger="step", switch_step=3, calibration="norm", post_switch_momentum=0.9),
    "hybrid_mls_undampened": hybrid(b2=0.9, trigger="step", switch_step=3, calibration="momentum-ls",
                                    post_switch_momentum=0.9, post_switch_convention="undampened"),
    "hybrid_fixed_continue": hybrid(trigger="step", switch_step=3, calibration="fixed", fixed_lr=0.05,
                                    post_switch_momentum=0.9, post_switch_init="momentum"),
    "hybrid_swats_pertensor_scale": hybrid(b2=0.9, trigger="step", switch_step=3, calibration_scope="per-tensor",
                                           calibration="swats", calibration_scale=0.5, weight_decay=1e-3),
    "hybrid_auto_absolute": hybrid(b2=0.5, trigger="auto", auto_tol=7.8e-4, auto_criterion="swats"),
    "hybrid_norm_dither": hybrid(trigger="step", switch_step=4, calibration="norm", dither=dither(seed=2)),
    "hybrid_ls_undampened_continue": hybrid(b2=0.9, trigger="step", switch_step=3, calibration_scale=2.0,
                                            weight_decay=5e-4, post_switch_momentum=0.9,
                                            post_switch_convention="undampened", post_switch_init="momentum"),
    "signum_dither_threshold": (optim.Signum, dict(lr=0.01, momentum=0.9, dither=dither(seed=13, draw="threshold"))),
    "signsgd_dither_threshold_uniform_grad": (optim.SignSGD, dict(lr=0.01, dither=dither(
        distribution="uniform", scale="absolute", alpha=0.8, schedule="constant", target="gradient", seed=21,
        draw="threshold"))),
}

SHAPES = [(3, 4), (5,)]


def run_case(case, cls, options, fused, trajectory=None):
    params = [torch.tensor(case["params"][i], dtype=torch.float64).reshape(SHAPES[i]) for i in range(2)]
    opt = cls(params, fused=fused, **options)
    steps = max(step for step, _ in case["expect"])
    worst = 0.0
    for step in range(1, steps + 1):
        for i, p in enumerate(params):
            p.grad = torch.tensor(case["grads"][(step, i)], dtype=torch.float64).reshape(SHAPES[i])
        opt.step()
        if trajectory is not None:
            trajectory.update({(step, i): p.detach().clone().reshape(-1) for i, p in enumerate(params)})
        for i, p in enumerate(params):
            expect = torch.tensor(case["expect"][(step, i)], dtype=torch.float64).reshape(SHAPES[i])
            worst = max(worst, (p - expect).abs().max().item())
        if "hybrid" in case:
            phase, rate = case["hybrid"][step]
            assert opt.phase == ("sgd" if phase else "sign"), f"step {step}"
            assert abs(opt.calibrated_lr() - rate) <= 1e-12 * abs(rate), f"step {step}: {opt.calibrated_lr()} vs {rate}"
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


def read_cpp_trajectory(name):
    out = {}
    with open(os.path.join(CPP_DIR, name + ".txt"), encoding="utf-8") as f:
        for line in f:
            w = line.split()
            out[(int(w[0]), int(w[1]))] = torch.tensor([float.fromhex(v) for v in w[2:]], dtype=torch.float64)
    return out


@pytest.mark.parametrize("name", sorted(CASES))
def test_fused_trajectory_equals_the_cpp_library_bit_for_bit(cases, name):
    if not os.path.isdir(CPP_DIR):
        pytest.skip(f"no C++ trajectories in {CPP_DIR}: run ctest first (it writes them), or set SIGNOPT_CPP_GOLDEN_DIR")
    path = os.path.join(CPP_DIR, name + ".txt")
    assert os.path.isfile(path), f"ctest replayed no golden case {name} ({path} is missing)"
    cls, options = CASES[name]
    ours = {}
    run_case(cases[name], cls, options, True, ours)
    theirs = read_cpp_trajectory(name)
    assert sorted(ours) == sorted(theirs)
    for key in ours:
        assert bitwise_equal(ours[key], theirs[key]), f"{name}: step {key[0]}, parameter {key[1]}"


def test_every_golden_case_is_covered(cases):
    missing = [n for n in cases if n not in CASES]
    assert not missing, f"golden cases without a Python test: {missing}"
