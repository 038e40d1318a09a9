"""HybridSignSGD beyond the golden trajectories (test_golden.py): the sign phase is Signum bit for bit, the fused
and reference paths agree for every option mix, a run resumed before or after the switch ends bit for bit where
an uninterrupted one ends, the triggers, switch_now and the fallback, and bad options."""

import io
import math

import pytest
import torch

import signopt
from signopt import optim

from conftest import bitwise_equal, dcp_resume, make_params, set_grads

SIZES = [1, 7, 17, 63, 64, 65, 4099]

MIXES = [
    dict(trigger="step", switch_step=3),
    dict(trigger="step", switch_step=3, calibration_scope="per-tensor", post_switch_momentum=0.9, weight_decay=1e-3),
    dict(trigger="step", switch_step=2, handover_steps=3, post_switch_momentum=0.5, post_switch_init="momentum"),
    dict(trigger="step", switch_step=3, track_after_switch=True, calibration="swats", decoupled_weight_decay=True,
         weight_decay=0.01),
    dict(trigger="auto", auto_tol=0.3, betas=(0.9, 0.5)),
    dict(trigger="step", switch_step=4, dither=True, calibration="momentum-ls"),
    dict(trigger="step", switch_step=4, dither=dict(draw="threshold", seed=2), weight_decay=0.01),
    dict(trigger="step", switch_step=4, dither=dict(scale_from="previous", seed=2), calibration="momentum-ls"),
    dict(trigger="step", switch_step=3, calibration="fixed", fixed_lr=0.05, post_switch_momentum=0.9,
         post_switch_convention="undampened"),
]


def run(options, steps=8, dtype=torch.float64, **extra):
    params = make_params(SIZES, dtype, 20)
    opt = optim.HybridSignSGD(params, lr=0.01, **options, **extra)
    for t in range(steps):
        set_grads(params, 300 + t)
        opt.step()
    return params, opt


def test_the_sign_phase_is_signum_bit_for_bit():
    a, _ = run(dict(trigger="never", weight_decay=0.01, dither=True))
    b = make_params(SIZES, torch.float64, 20)
    opt = optim.Signum(b, lr=0.01, momentum=0.9, weight_decay=0.01, dither=True)
    for t in range(8):
        set_grads(b, 300 + t)
        opt.step()
    assert all(bitwise_equal(x, y) for x, y in zip(a, b))


@pytest.mark.parametrize("mix", range(len(MIXES)))
def test_fused_and_reference_paths_agree(mix):
    fused, opt_f = run(MIXES[mix], fused=None)
    ref, opt_r = run(MIXES[mix], fused=False)
    assert opt_f.phase == opt_r.phase and opt_f.switch_step == opt_r.switch_step
    assert math.isclose(opt_f.calibrated_lr(), opt_r.calibrated_lr(), rel_tol=1e-9)
    for a, b in zip(fused, ref):
        assert (a - b).abs().max().item() <= 1e-12


@pytest.mark.parametrize("cut", [2, 5])
@pytest.mark.parametrize("mix", range(len(MIXES)))
def test_a_resumed_run_ends_bit_for_bit_where_an_uninterrupted_one_ends(mix, cut):
    straight, opt = run(MIXES[mix])
    params = make_params(SIZES, torch.float64, 20)
    first = optim.HybridSignSGD(params, lr=0.01, **MIXES[mix])
    for t in range(cut):
        set_grads(params, 300 + t)
        first.step()
    buf = io.BytesIO()
    torch.save({"params": params, "opt": first.state_dict()}, buf)
    buf.seek(0)
    saved = torch.load(buf, weights_only=True)
    resumed = [p.clone() for p in saved["params"]]
    second = optim.HybridSignSGD(resumed, lr=0.01, **MIXES[mix])
    second.load_state_dict(saved["opt"])
    for t in range(cut, 8):
        set_grads(resumed, 300 + t)
        second.step()
    assert all(bitwise_equal(a, b) for a, b in zip(straight, resumed))
    assert (second.phase, second.switch_step, second.step_count) == (opt.phase, opt.switch_step, opt.step_count)
    assert second.calibrated_lr() == opt.calibrated_lr()
    assert second.calibration_bank() == opt.calibration_bank()


def test_triggers():
    _, opt = run(dict(trigger="step", switch_step=3))
    assert (opt.phase, opt.switch_step) == ("sgd", 3)
    _, opt = run(dict(trigger="epoch", switch_epoch=2, steps_per_epoch=3))
    assert (opt.phase, opt.switch_step) == ("sgd", 6)
    _, opt = run(dict(trigger="never"))
    assert (opt.phase, opt.switch_step) == ("sign", -1)
    _, opt = run(dict(trigger="auto", auto_tol=0.5, betas=(0.9, 0.5)))
    assert opt.phase == "sgd" and 1 < opt.switch_step <= 8


def test_switch_now_and_the_fallback_rate():
    params = make_params([10], torch.float32, 1)
    opt = optim.HybridSignSGD(params, lr=0.01, trigger="never", fallback_lr=0.125)
    for p in params:
        p.grad = torch.zeros_like(p)  # every estimator skips: Lbar stays 0
    opt.step()
    with pytest.warns(RuntimeWarning, match="using fallback_lr = 0.125"):
        opt.switch_now()
    assert opt.phase == "sgd" and opt.calibrated_lr() == 0.125
    before = params[0].clone()
    params[0].grad = torch.ones(10)
    opt.step()
    assert torch.equal(params[0], before - 0.125)


def test_defaults_come_from_the_cpp_registry_and_class():
    row = {r["name"]: r["defaults"] for r in signopt.optimizer_registry()}["hybrid"]
    d = optim.HybridSignSGD([torch.zeros(1)]).defaults
    assert d["lr"] == row["lr"] and d["betas"] == (row["beta1"], row["beta2"]) and d["eps"] == row["eps"]
    assert (d["trigger"], d["calibration"], d["calibration_scope"], d["auto_tol"]) == ("auto", "norm", "global", 1e-3)


@pytest.mark.parametrize("options,message", [
    (dict(trigger="step"), "switch_step must be > 0 with the step trigger"),
    (dict(trigger="epoch", switch_epoch=2), "the epoch trigger needs switch_epoch > 0 and steps_per_epoch > 0"),
    (dict(calibration="fixed", trigger="step", switch_step=2), "calibration 'fixed' needs fixed_lr > 0"),
    (dict(calibration="fixed", fixed_lr=0.1), "the auto trigger tests the calibration's convergence"),
    (dict(calibration="lsq"), "calibration must be one of"),
    (dict(post_switch_momentum=1.0), "post_switch_momentum must be < 1.0"),
    (dict(fallback_lr=0.0), "fallback_lr must be > 0"),
    (dict(handover_steps=-1), "handover_steps must be an integer >= 0"),
    (dict(betas=(0.9, 1.0)), "beta2 must be < 1.0"),
])
def test_bad_options_are_refused_with_a_reason(options, message):
    with pytest.raises(ValueError, match=message.replace("(", "\\(").replace(")", "\\)")):
        optim.HybridSignSGD([torch.zeros(2)], **options)


def test_torch_distributed_checkpoint_keeps_the_phase_and_calibration():
    def make():
        torch.manual_seed(0)
        m = torch.nn.Linear(6, 3).double()
        return m, optim.HybridSignSGD(m.parameters(), lr=0.01, trigger="step", switch_step=2, post_switch_momentum=0.9)

    a, c, opt_c = dcp_resume(make)
    assert opt_c.phase == "sgd" and opt_c.switch_step == 2
    assert all(bitwise_equal(x, y) for x, y in zip(a.parameters(), c.parameters()))


def test_a_state_dict_without_the_hybrid_state_is_refused():
    _, opt = run(MIXES[0], steps=2)
    sd = opt.state_dict()
    del sd["param_groups"][0]["signopt_state"]
    fresh = optim.HybridSignSGD(make_params(SIZES, torch.float64, 20), lr=0.01, **MIXES[0])
    with pytest.raises(ValueError, match="phase, the switch and the calibration are unknown"):
        fresh.load_state_dict(sd)


# ---- 16-bit parameters (docs/optimizers.md, "Low-precision parameters") -----------------------------------------

HALF_MIXES = [
    dict(trigger="step", switch_step=3, post_switch_momentum=0.9, post_switch_init="momentum", weight_decay=0.01),
    dict(trigger="step", switch_step=3, post_switch_momentum=0.5, momentum_dtype="parameter", rounding_seed=7,
         decoupled_weight_decay=True, weight_decay=0.1),
    dict(trigger="step", switch_step=2, handover_steps=3, post_switch_momentum=0.5, rounding="nearest"),
    dict(trigger="step", switch_step=3, track_after_switch=True, dither=dict(seed=2), momentum_dtype="parameter"),
]


def run16(options, dtype, steps=7, **extra):
    params = [p.to(dtype) for p in make_params(SIZES, torch.float32, 20)]
    opt = optim.HybridSignSGD(params, lr=1e-3, **options, **extra)
    for t in range(steps):
        set_grads(params, 300 + t, scale=0.1)
        opt.step()
    return params, opt


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("mix", range(len(HALF_MIXES)))
def test_sixteen_bit_fused_and_reference_paths_agree(mix, dtype):
    # Both phases in float32 arithmetic, stored by the rounding: the fused operators (hybrid_sign_phase_half_,
    # sgd_step_half_) and the torch-op composition on float32 copies. Their calibration sums differ in summation
    # order (the kernels' chunks vs torch's double sums), so the SGD rates agree to rounding and a stored 16-bit
    # weight may move in a handful of the 4316 elements.
    fused, opt_f = run16(HALF_MIXES[mix], dtype, fused=None)
    ref, opt_r = run16(HALF_MIXES[mix], dtype, fused=False)
    assert (opt_f.phase, opt_f.switch_step) == (opt_r.phase, opt_r.switch_step) == ("sgd", HALF_MIXES[mix]["switch_step"])
    assert math.isclose(opt_f.calibrated_lr(), opt_r.calibrated_lr(), rel_tol=1e-9)
    differ = sum(int((a.view(torch.int16) != b.view(torch.int16)).sum()) for a, b in zip(fused, ref))
    assert differ <= 5, differ
    want = dtype if HALF_MIXES[mix].get("momentum_dtype") == "parameter" else torch.float32
    for p in fused:
        assert p.dtype == dtype
        assert opt_f.state[p]["exp_avg"].dtype == want
        if HALF_MIXES[mix].get("post_switch_momentum", 0) > 0:
            assert opt_f.state[p]["momentum_buffer"].dtype == want
    start = [p.to(dtype) for p in make_params(SIZES, torch.float32, 20)]
    assert all(not torch.equal(a, b) for a, b in zip(fused[1:], start[1:]))


def test_sixteen_bit_rounding_keeps_sgd_steps_below_half_an_ulp():
    # After the switch the SGD step eta g is far below half a bfloat16 ulp: stochastic rounding keeps it in
    # expectation, round to nearest loses it.
    def last_phase(rounding):
        p = torch.ones(8192, dtype=torch.bfloat16)
        opt = optim.HybridSignSGD([p], lr=1e-3, trigger="step", switch_step=1, calibration="fixed", fixed_lr=1e-3,
                                  rounding=rounding)
        for _ in range(51):
            p.grad = torch.ones_like(p)
            opt.step()
        return p
    near = last_phase("nearest")
    assert float(near.float().max()) == 1.0
    # one sign step (lr 1e-3) and 50 SGD steps of 1e-3: 0.949 in expectation; the sd of the mean is ~4e-4
    assert abs(float(last_phase("stochastic").double().mean()) - 0.949) < 5e-3


@pytest.mark.parametrize("mix", [0, 1])  # m and v float32 (torch would cast them to bfloat16 on load), or bfloat16
@pytest.mark.parametrize("cut", [2, 5])
def test_a_sixteen_bit_hybrid_resumes_bit_for_bit(cut, mix):
    options = dict(HALF_MIXES[mix])
    want = torch.bfloat16 if options.get("momentum_dtype") == "parameter" else torch.float32
    straight, opt = run16(options, torch.bfloat16)
    params, first = run16(options, torch.bfloat16, steps=cut)
    buf = io.BytesIO()
    torch.save({"params": params, "opt": first.state_dict()}, buf)
    buf.seek(0)
    saved = torch.load(buf, weights_only=True)
    resumed = [p.clone() for p in saved["params"]]
    second = optim.HybridSignSGD(resumed, lr=1e-3, **options)
    second.load_state_dict(saved["opt"])
    assert all(second.state[p]["exp_avg"].dtype == want for p in resumed)
    if cut == 5:
        assert all(second.state[p]["momentum_buffer"].dtype == want for p in resumed)
    for t in range(cut, 7):
        set_grads(resumed, 300 + t, scale=0.1)
        second.step()
    assert all(bitwise_equal(a, b) for a, b in zip(straight, resumed))
    assert second.calibrated_lr() == opt.calibrated_lr()
