"""signopt.optim against itself and torch's optimizer contract: the fused operators equal the reference
composition for every option mix; state_dict loads with weights_only=True and a resumed run continues bit
for bit; non-finite gradients, maximize, param groups, mixed dtypes, schedulers, closures and bad options."""

import io

import pytest
import torch

import signopt
from signopt import optim

from conftest import bitwise_equal, dcp_resume, make_params, set_grads

SIZES = [1, 7, 17, 63, 64, 65, 4099]

# (class, options, bitwise): the fused step equals the reference composition bit for bit where both round
# the same operations alike; with dither (the scale's sum) and EF-SignSGD (||c||_1) the sums run in another
# order, so those agree to a few ulps of the parameter.
MIXES = [
    (optim.SignSGD, dict(lr=0.01), True),
    (optim.SignSGD, dict(lr=0.01, weight_decay=0.1), True),
    (optim.Signum, dict(lr=0.01, momentum=0.9, weight_decay=0.05), True),
    (optim.Signum, dict(lr=0.01, momentum=0.5, weight_decay=0.1, decoupled_weight_decay=True), True),
    (optim.Signum, dict(lr=0.01, momentum=0.9, weight_decay=0.01, dither=True), False),
    (optim.Signum, dict(lr=0.01, momentum=0.9, dither=dict(target="gradient", distribution="uniform", scale="meanabs",
                                                          schedule="cosine", horizon=3, seed=2**64 - 5)), False),
    (optim.SignSGD, dict(lr=0.01, dither=dict(scale="max3sigma", schedule="exponential", decay_rate=0.5, stream=3)), False),
    (optim.Signum, dict(lr=0.01, momentum=0.9, weight_decay=0.01, dither=dict(draw="threshold", seed=4)), False),
    (optim.SignSGD, dict(lr=0.01, dither=dict(draw="threshold", target="gradient", distribution="uniform",
                                              scale="absolute", alpha=0.5)), False),
    (optim.Signum, dict(lr=0.01, momentum=0.9, weight_decay=0.01, dither=dict(scale_from="previous", seed=6)), False),
    (optim.SignSGD, dict(lr=0.01, dither=dict(scale_from="previous", draw="threshold", scale="meanabs")), False),
    (optim.Signum, dict(lr=0.01, momentum=0.9, dither=dict(scale_from="previous", target="gradient",
                                                          scale="max3sigma")), False),
    (optim.EFSignSGD, dict(lr=0.05), False),
    (optim.EFSignSGD, dict(lr=0.05, momentum=0.9, weight_decay=0.01, decoupled_weight_decay=True), False),
    (optim.Lion, dict(lr=0.01, weight_decay=0.1), True),
    (optim.Lion, dict(lr=0.01, betas=(0.8, 0.95), weight_decay=0.1, decoupled_weight_decay=False), True),
]


def run(cls, options, dtype, steps=5, **extra):
    params = make_params(SIZES, dtype, 10)
    opt = cls(params, **options, **extra)
    for t in range(steps):
        set_grads(params, 100 + t)
        opt.step()
    return params, opt


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("mix", range(len(MIXES)))
def test_fused_equals_the_reference_composition(mix, dtype):
    cls, options, bitwise = MIXES[mix]
    fused, opt_f = run(cls, options, dtype, fused=True)
    ref, opt_r = run(cls, options, dtype, fused=False)
    for a, b in zip(fused, ref):
        if bitwise:
            assert bitwise_equal(a, b)
        else:
            lr = options["lr"]
            # A few ulps of each step (5 steps of size lr), and no sign flipped (that would move by 2 lr).
            assert (a - b).abs().max().item() <= 5 * 8 * torch.finfo(dtype).eps * (1 + a.abs().max().item())
            assert (a - b).abs().max().item() < lr
    for p_f, p_r in zip(fused, ref):
        s_f, s_r = opt_f.state[p_f], opt_r.state[p_r]
        assert sorted(s_f) == sorted(s_r)
        assert int(s_f["step"]) == int(s_r["step"]) == 5


def _resume(cls, options, total=6, cut=3):
    params = make_params(SIZES, torch.float64, 10)
    opt = cls(params, **options)
    for t in range(cut):
        set_grads(params, 100 + t)
        opt.step()
    buf = io.BytesIO()
    torch.save({"params": [p.detach().clone() for p in params], "opt": opt.state_dict()}, buf)
    buf.seek(0)
    saved = torch.load(buf, weights_only=True)
    params2 = [p.clone() for p in saved["params"]]
    opt2 = cls(params2, **options)
    opt2.load_state_dict(saved["opt"])
    for t in range(cut, total):
        set_grads(params2, 100 + t)
        opt2.step()
    return params2, opt2


@pytest.mark.parametrize("mix", range(len(MIXES)))
def test_a_resumed_run_ends_bit_for_bit_where_an_uninterrupted_one_ends(mix):
    cls, options, _ = MIXES[mix]
    straight, opt = run(cls, options, torch.float64, steps=6)
    resumed, opt2 = _resume(cls, options)
    for a, b in zip(straight, resumed):
        assert bitwise_equal(a, b)
    for a, b in zip(straight, resumed):
        for key in opt.state[a]:
            assert bitwise_equal(opt.state[a][key], opt2.state[b][key]), key


def test_state_dict_holds_only_tensors_and_plain_values():
    _, opt = run(optim.Signum, dict(lr=0.01, dither=True), torch.float32, steps=2)
    sd = opt.state_dict()

    def plain(v):
        if isinstance(v, dict):
            return all(isinstance(k, (str, int)) and plain(x) for k, x in v.items())
        if isinstance(v, (list, tuple)):
            return all(plain(x) for x in v)
        return v is None or isinstance(v, (bool, int, float, str, torch.Tensor))

    assert plain(sd)
    assert set(sd["state"][0]) == {"step", "momentum_buffer"}
    assert sd["state"][0]["step"].dtype == torch.int64


@pytest.mark.parametrize("fused", [True, False])
def test_the_one_pass_scale_takes_the_previous_steps_base(fused):
    # Signum with dither on the momentum, rms scale: after each step the stored base is rms(m_t), the base the
    # next step scales its noise by; the first step measures its own. A run with the current step's scale differs.
    options = dict(lr=0.01, momentum=0.9, dither=dict(scale_from="previous", seed=3))
    params, opt = run(optim.Signum, options, torch.float32, steps=0, fused=fused)
    for t in range(3):
        set_grads(params, 100 + t)
        opt.step()
        for p in params:
            st = opt.state[p]
            assert st["dither_base"].dtype == torch.float64 and st["dither_base"].shape == (1,)
            rms = st["momentum_buffer"].double().square().mean().sqrt().item()
            assert st["dither_base"].item() == pytest.approx(rms, rel=1e-12)
    current, _ = run(optim.Signum, dict(options, dither=dict(seed=3)), torch.float32, steps=3, fused=fused)
    first, _ = run(optim.Signum, dict(options, dither=dict(seed=3)), torch.float32, steps=1, fused=fused)
    once, _ = run(optim.Signum, options, torch.float32, steps=1, fused=fused)
    assert all(bitwise_equal(a, b) for a, b in zip(first, once))  # step 1: no stored base yet
    assert any(not torch.equal(a, b) for a, b in zip(params, current))


def _reloaded(params, opt, cls, options):
    """The parameters and a new cls optimizer after saving both and loading them back with weights_only=True."""
    buf = io.BytesIO()
    torch.save({"params": [p.detach().clone() for p in params], "opt": opt.state_dict()}, buf)
    buf.seek(0)
    saved = torch.load(buf, weights_only=True)
    resumed = [p.clone() for p in saved["params"]]
    reloaded = cls(resumed, **options)
    reloaded.load_state_dict(saved["opt"])
    return resumed, reloaded


@pytest.mark.parametrize("cls", [optim.Signum, optim.Lion, optim.EFSignSGD])
def test_a_fused_run_resumes_with_its_int64_step_counts(cls):
    # torch's load_state_dict turns a "step" into float32 when a group says fused=True; the ops count in int64.
    options = dict(lr=1e-3, fused=True)
    straight, _ = run(cls, options, torch.float32, steps=6)
    params, opt = run(cls, options, torch.float32, steps=3)
    resumed, opt2 = _reloaded(params, opt, cls, options)
    assert all(opt2.state[p]["step"].dtype == torch.int64 for p in resumed)
    for t in range(3, 6):
        set_grads(resumed, 100 + t)
        opt2.step()
    assert all(torch.equal(a, b) for a, b in zip(straight, resumed))


def test_a_float32_run_with_the_one_pass_scale_resumes_bit_for_bit():
    # torch casts floating state to the parameter's dtype on load; the stored bases must stay float64.
    options = dict(lr=0.01, momentum=0.9, dither=dict(scale_from="previous", seed=8))
    straight, opt = run(optim.Signum, options, torch.float32, steps=6)
    params = make_params(SIZES, torch.float32, 10)
    first = optim.Signum(params, **options)
    for t in range(3):
        set_grads(params, 100 + t)
        first.step()
    resumed, second = _reloaded(params, first, optim.Signum, options)
    assert all(second.state[p]["dither_base"].dtype == torch.float64 for p in resumed)
    for t in range(3, 6):
        set_grads(resumed, 100 + t)
        second.step()
    assert all(bitwise_equal(a, b) for a, b in zip(straight, resumed))
    assert all(bitwise_equal(opt.state[a]["dither_base"], second.state[b]["dither_base"])
               for a, b in zip(straight, resumed))


def test_dither_epoch_clock_uses_set_epoch_and_survives_a_reload():
    options = dict(lr=0.01, dither=dict(clock="epoch", schedule="power", alpha=2.0))
    a, opt_a = run(optim.Signum, options, torch.float64, steps=0)
    b, opt_b = run(optim.Signum, options, torch.float64, steps=0)
    opt_b.set_epoch(5)
    for t in range(2):
        set_grads(a, t)
        set_grads(b, t)
        opt_a.step()
        opt_b.step()
    assert any(not torch.equal(x, y) for x, y in zip(a, b))
    opt_c = optim.Signum([p.clone() for p in b], **options)
    opt_c.load_state_dict(opt_b.state_dict())
    assert opt_c.epoch == 5
    with pytest.raises(ValueError, match="epoch must be an integer >= 0"):
        opt_a.set_epoch(-1)


@pytest.mark.parametrize("policy", ["skip", "throw"])
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_non_finite_gradient_changes_nothing(policy, bad):
    params, opt = run(optim.Signum, dict(lr=0.01, dither=True, nonfinite=policy), torch.float32, steps=2)
    before = [p.clone() for p in params]
    state_before = {i: {k: v.clone() for k, v in opt.state[p].items()} for i, p in enumerate(params)}
    set_grads(params, 7)
    params[3].grad[5] = bad
    if policy == "throw":
        with pytest.raises(RuntimeError, match="contains NaN or infinity; no parameter was changed"):
            opt.step()
    else:
        opt.step()
        assert opt.skipped_steps == 1
    for i, p in enumerate(params):
        assert bitwise_equal(p, before[i])
        for k, v in opt.state[p].items():
            assert bitwise_equal(v, state_before[i][k])


def test_steps_without_gradients_change_nothing_and_create_no_state():
    params = make_params(SIZES, torch.float32, 1)
    before = [p.clone() for p in params]
    opt = optim.Signum(params, lr=0.1)
    opt.step()
    opt.zero_grad()
    opt.step()
    assert all(torch.equal(a, b) for a, b in zip(params, before))
    assert len(opt.state) == 0
    set_grads(params, 1)
    opt.zero_grad()
    assert all(p.grad is None for p in params)


@pytest.mark.parametrize("fused", [True, False])
def test_maximize_ascends(fused):
    up = make_params(SIZES, torch.float64, 1)
    down = [p.clone() for p in up]
    opt_up = optim.Lion(up, lr=0.01, weight_decay=0.1, maximize=True, fused=fused)
    opt_down = optim.Lion(down, lr=0.01, weight_decay=0.1, fused=fused)
    for t in range(3):
        set_grads(up, t)
        set_grads(down, t, scale=-1.0)
        opt_up.step()
        opt_down.step()
    assert all(bitwise_equal(a, b) for a, b in zip(up, down))


def test_param_groups_keep_their_own_options():
    params = make_params(SIZES, torch.float32, 1)
    copies = [p.clone() for p in params]
    opt = optim.Signum([{"params": params[:3], "lr": 0.1}, {"params": params[3:], "momentum": 0.5}], lr=0.01)
    one = optim.Signum(copies[:3], lr=0.1)
    two = optim.Signum(copies[3:], lr=0.01, momentum=0.5)
    for t in range(3):
        set_grads(params, t)
        set_grads(copies, t)
        opt.step()
        one.step()
        two.step()
    assert all(bitwise_equal(a, b) for a, b in zip(params, copies))


def test_mixed_dtypes_in_one_group_equal_separate_runs():
    a = make_params([5, 70], torch.float32, 1) + make_params([9, 130], torch.float64, 2)
    b = [p.clone() for p in a]
    opt = optim.Signum(a, lr=0.01, weight_decay=0.1)
    opts = [optim.Signum([p], lr=0.01, weight_decay=0.1) for p in b]
    for t in range(3):
        set_grads(a, t)
        set_grads(b, t)
        opt.step()
        for o in opts:
            o.step()
    assert all(bitwise_equal(x, y) for x, y in zip(a, b))


def test_tensors_the_operators_do_not_take_use_the_reference_path():
    p = torch.randn(10, 2)[:, 0]  # not contiguous
    q = p.clone()
    opt = optim.Signum([p], lr=0.125)
    p.grad = torch.randn(10)
    opt.step()
    assert torch.equal(p, q - 0.125 * torch.sign(p.grad))
    with pytest.raises(RuntimeError, match="fused=True needs contiguous CPU float32/float64"):
        optim.Signum([p], lr=0.1, fused=True).step()
    # A bfloat16 parameter takes the 16-bit step: float32 arithmetic, here stored to nearest.
    b = torch.randn(10, dtype=torch.bfloat16)
    c = b.clone().float()
    opt = optim.Signum([b], lr=0.125, rounding="nearest")
    b.grad = torch.randn(10, dtype=torch.bfloat16)
    opt.step()
    assert torch.equal(b, (c - 0.125 * torch.sign(b.grad.float())).to(torch.bfloat16))


def test_tensor_lr_and_schedulers():
    params = make_params(SIZES, torch.float32, 1)
    copies = [p.clone() for p in params]
    opt = optim.Signum(params, lr=torch.tensor(0.01))
    ref = optim.Signum(copies, lr=0.01)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    sched_ref = torch.optim.lr_scheduler.StepLR(ref, step_size=2, gamma=0.5)
    for t in range(5):
        set_grads(params, t)
        set_grads(copies, t)
        opt.step()
        ref.step()
        sched.step()
        sched_ref.step()
    assert all(bitwise_equal(a, b) for a, b in zip(params, copies))
    lion = optim.Lion(make_params([10], torch.float32, 1), lr=0.01)
    cycle = torch.optim.lr_scheduler.OneCycleLR(lion, max_lr=0.01, total_steps=4)
    set_grads(lion.param_groups[0]["params"], 1)
    lion.step()
    cycle.step()
    assert lion.param_groups[0]["betas"][0] != 0.9  # OneCycleLR cycles beta1


def test_closure_loss_is_returned():
    w = torch.zeros(3, requires_grad=True)
    opt = optim.SignSGD([w], lr=0.5)

    def closure():
        opt.zero_grad()
        loss = ((w - torch.tensor([1.0, -1.0, 0.0])) ** 2).sum()
        loss.backward()
        return loss

    assert opt.step(closure).item() == 2.0
    assert torch.equal(w.detach(), torch.tensor([0.5, -0.5, 0.0]))


def test_defaults_come_from_the_cpp_registry():
    rows = {r["name"]: r["defaults"] for r in signopt.optimizer_registry()}
    p = [torch.zeros(1)]
    assert optim.Signum(p).defaults["lr"] == rows["signum"]["lr"]
    assert optim.Signum(p).defaults["momentum"] == rows["signum"]["momentum"]
    assert optim.SignSGD(p).defaults["lr"] == rows["signsgd"]["lr"]
    assert optim.EFSignSGD(p).defaults["lr"] == rows["ef-signsgd"]["lr"]
    assert optim.EFSignSGD(p).defaults["momentum"] == rows["ef-signsgd"]["momentum"]
    lion = optim.Lion(p).defaults
    assert lion["betas"] == (rows["lion"]["beta1"], rows["lion"]["beta2"])
    assert lion["decoupled_weight_decay"] is rows["lion"]["decoupled_weight_decay"] is True
    d = optim.Signum(p, dither=True).defaults["dither"]
    assert (d["alpha"], d["scale"], d["schedule"], d["gamma"], d["target"]) == (1.0, "rms", "power", 0.55, "momentum")


@pytest.mark.parametrize("make,message", [
    (lambda p: optim.Signum(p, momentum=1.0), "momentum must be < 1.0"),
    (lambda p: optim.Signum(p, lr=-1), "lr must be a finite number >= 0"),
    (lambda p: optim.Signum(p, weight_decay=float("nan")), "weight_decay must be a finite number"),
    (lambda p: optim.Signum(p, dither={"sigma": 1}), "unknown dither option"),
    (lambda p: optim.Signum(p, dither={"schedule": "linear"}), "horizon must be > 0 for the linear schedule"),
    (lambda p: optim.Signum(p, dither={"scale": "std"}), "scale must be one of absolute, rms, max3sigma, meanabs"),
    (lambda p: optim.Signum(p, dither={"seed": 2**64}), "seed must be an integer"),
    (lambda p: optim.Signum(p, dither={"scale_from": "next"}), "scale_from must be one of current, previous"),
    (lambda p: optim.Signum(p, nonfinite="ignore"), "nonfinite must be one of skip, throw"),
    (lambda p: optim.Lion(p, betas=(0.9,)), "betas must be a pair"),
    (lambda p: optim.EFSignSGD(p, momentum=-0.1), "momentum must be a finite number >= 0"),
    (lambda p: optim.Signum(p, fused=True, foreach=True), "fused and foreach cannot both be True"),
    (lambda p: optim.Signum(p, lr=torch.tensor([0.1, 0.2])), "one-element floating-point CPU tensor"),
    (lambda p: optim.Signum([{"params": p, "momentum": 2.0}]), "momentum must be < 1.0"),
])
def test_bad_options_are_refused_with_a_reason(make, message):
    with pytest.raises(ValueError, match=message.replace("(", "\\(").replace(")", "\\)")):
        make([torch.zeros(2)])


def test_torch_distributed_checkpoint_round_trip_resumes_bit_for_bit():
    def make():
        torch.manual_seed(0)
        m = torch.nn.Linear(6, 3).double()
        opt = optim.Signum(m.parameters(), lr=0.01, dither=dict(clock="epoch"))
        opt.set_epoch(2)
        return m, opt

    a, c, opt_c = dcp_resume(make)
    assert opt_c.epoch == 2
    assert all(bitwise_equal(x, y) for x, y in zip(a.parameters(), c.parameters()))


def test_state_dicts_are_deterministic():
    _, a = run(optim.Signum, dict(lr=0.01, dither=True), torch.float32, steps=3)
    _, b = run(optim.Signum, dict(lr=0.01, dither=True), torch.float32, steps=3)
    sa, sb = a.state_dict(), b.state_dict()
    assert sa["param_groups"] == sb["param_groups"]
    for i in sa["state"]:
        assert all(bitwise_equal(sa["state"][i][k], sb["state"][i][k]) for k in sa["state"][i])


# float32/float64: the same bits. (Not bfloat16: torch 2.15's in-place _foreach_mul_ by a Python scalar rounds
# some bfloat16 products differently from Tensor.mul_, measured on 1356 of 4099 elements.)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("mix", [i for i, (_, o, _) in enumerate(MIXES) if "dither" not in o and MIXES[i][0] is not
                                 optim.EFSignSGD])
def test_foreach_equals_the_per_tensor_reference_bit_for_bit(mix, dtype):
    cls, options, _ = MIXES[mix]
    batched, _ = run(cls, options, dtype, fused=False, foreach=True)
    single, _ = run(cls, options, dtype, fused=False, foreach=False)
    assert all(bitwise_equal(a, b) for a, b in zip(batched, single))


@pytest.mark.parametrize("make", [
    lambda ps: optim.Signum(ps, lr=0.01, weight_decay=0.1, dither=True),
    lambda ps: optim.EFSignSGD(ps, lr=0.05, momentum=0.5),
    lambda ps: optim.HybridSignSGD(ps, lr=0.01, trigger="step", switch_step=2, weight_decay=0.1),
])
def test_grad_scaler_unscales_and_skips_overflow_steps(make):
    # torch.amp.GradScaler's default path (unscale_, then step unless it found an infinity): with a power-of-two
    # scale the unscaled gradients are exact, so the run equals an unscaled one bit for bit.
    torch.manual_seed(0)
    model, ref = torch.nn.Linear(8, 2), torch.nn.Linear(8, 2)
    ref.load_state_dict(model.state_dict())
    opt, opt_ref = make(list(model.parameters())), make(list(ref.parameters()))
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    for t in range(4):
        x = torch.randn(5, 8, generator=torch.Generator().manual_seed(t))
        opt.zero_grad()
        opt_ref.zero_grad()
        scaler.scale(model(x).square().sum()).backward()
        ref(x).square().sum().backward()
        scaler.step(opt)
        scaler.update()
        opt_ref.step()
    assert all(bitwise_equal(a, b) for a, b in zip(model.parameters(), ref.parameters()))
    before = [p.detach().clone() for p in model.parameters()]
    opt.zero_grad()
    scaler.scale(model(torch.full((5, 8), 1e30)).square().sum()).backward()
    scaler.step(opt)
    scaler.update()
    assert all(bitwise_equal(a, b) for a, b in zip(model.parameters(), before))
    assert scaler.get_scale() == 512.0


# ---- 16-bit parameters (docs/optimizers.md, "Low-precision parameters") ----------------------------------

HALF_MIXES = [
    dict(lr=1e-3, momentum=0.9, weight_decay=0.01),
    dict(lr=1e-3, momentum=0.9, momentum_dtype="parameter", rounding_seed=7, decoupled_weight_decay=True,
         weight_decay=0.1),
    dict(lr=1e-3, momentum=0.0, rounding="nearest"),
]


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("mix", range(len(HALF_MIXES)))
def test_sixteen_bit_fused_equals_the_reference_bit_for_bit(mix, dtype):
    fused, opt_f = run(optim.Signum, HALF_MIXES[mix], dtype, steps=4, fused=True)
    ref, opt_r = run(optim.Signum, HALF_MIXES[mix], dtype, steps=4, fused=False)
    for a, b in zip(fused, ref):
        assert a.dtype == dtype
        assert torch.equal(a.view(torch.int16), b.view(torch.int16))
    for a, b in zip(fused, ref):
        if "momentum_buffer" in opt_f.state[a]:
            m = opt_f.state[a]["momentum_buffer"]
            assert m.dtype == (dtype if HALF_MIXES[mix].get("momentum_dtype") == "parameter" else torch.float32)
            assert torch.equal(m, opt_r.state[b]["momentum_buffer"])


def test_sixteen_bit_dithered_steps_agree_with_the_reference():
    # With dither the reference's scale is torch's sum, the fused one its chunk sums: a few float32 ulps apart,
    # which move a stored bfloat16 weight in at most a few of 10^4 elements.
    options = dict(lr=1e-3, momentum=0.9, dither=dict(seed=3))
    fused, _ = run(optim.Signum, options, torch.bfloat16, steps=4, fused=True)
    ref, _ = run(optim.Signum, options, torch.bfloat16, steps=4, fused=False)
    differ = sum(int((a.view(torch.int16) != b.view(torch.int16)).sum()) for a, b in zip(fused, ref))
    assert differ <= 5, differ


@pytest.mark.parametrize("fused", [True, False])
def test_sixteen_bit_one_pass_scale_agrees_with_the_reference_and_resumes(fused):
    # The one-pass scale (dither scale_from "previous") on bfloat16: the fused step and the reference agree as the
    # dithered steps above do, the stored bases stay float64, and a resumed run ends where a straight one ends.
    options = dict(lr=1e-3, momentum=0.9, dither=dict(seed=3, scale_from="previous"))
    fused_params, opt = run(optim.Signum, options, torch.bfloat16, steps=4, fused=True)
    ref, _ = run(optim.Signum, options, torch.bfloat16, steps=4, fused=False)
    differ = sum(int((a.view(torch.int16) != b.view(torch.int16)).sum()) for a, b in zip(fused_params, ref))
    assert differ <= 5, differ
    current, _ = run(optim.Signum, dict(options, dither=dict(seed=3)), torch.bfloat16, steps=4, fused=True)
    assert any(not torch.equal(a, b) for a, b in zip(fused_params, current))  # the lagged scale changes the steps
    straight, _ = run(optim.Signum, options, torch.bfloat16, steps=6, fused=fused)
    params, opt = run(optim.Signum, options, torch.bfloat16, steps=3, fused=fused)
    resumed, opt2 = _reloaded(params, opt, optim.Signum, dict(options, fused=fused))
    assert all(opt2.state[p]["dither_base"].dtype == torch.float64 for p in resumed)
    for t in range(3, 6):
        set_grads(resumed, 100 + t)
        opt2.step()
    assert all(torch.equal(a.view(torch.int16), b.view(torch.int16)) for a, b in zip(straight, resumed))


def test_stochastic_rounding_keeps_steps_below_half_an_ulp():
    p = torch.ones(8192, dtype=torch.bfloat16)
    near = p.clone()
    sr_opt, near_opt = optim.SignSGD([p], lr=1e-3), optim.SignSGD([near], lr=1e-3, rounding="nearest")
    for _ in range(50):
        p.grad = torch.ones_like(p)
        near.grad = torch.ones_like(near)
        sr_opt.step()
        near_opt.step()
    assert float(near.float().max()) == 1.0  # every step of 1e-3 < half an ulp (2^-8) is lost
    assert abs(float(p.double().mean()) - 0.95) < 5e-3  # kept in expectation (sd of the mean ~4e-4)


def test_a_sixteen_bit_run_resumes_bit_for_bit_with_its_float32_momentum():
    options = dict(lr=1e-3, momentum=0.9, rounding_seed=11)
    straight, _ = run(optim.Signum, options, torch.bfloat16, steps=6)
    params, opt = run(optim.Signum, options, torch.bfloat16, steps=3)
    resumed, opt2 = _reloaded(params, opt, optim.Signum, options)
    assert all(opt2.state[p]["momentum_buffer"].dtype == torch.float32 for p in resumed)
    for t in range(3, 6):
        set_grads(resumed, 100 + t)
        opt2.step()
    assert all(torch.equal(a.view(torch.int16), b.view(torch.int16)) for a, b in zip(straight, resumed))


def test_sixteen_bit_options_and_refusals():
    p = [torch.zeros(4, dtype=torch.bfloat16)]
    d = optim.Signum(p).defaults  # the C++ defaults, through registry.json
    assert (d["rounding"], d["rounding_seed"], d["momentum_dtype"]) == ("stochastic", 0, "float32")
    with pytest.raises(ValueError, match="rounding must be one of stochastic, nearest"):
        optim.Signum(p, rounding="up")
    with pytest.raises(ValueError, match="momentum_dtype must be one of float32, parameter"):
        optim.Signum(p, momentum_dtype="float16")
    with pytest.raises(ValueError, match="rounding_seed must be an integer"):
        optim.SignSGD(p, rounding_seed=-1)
    bad = optim.Signum([torch.zeros(4, dtype=torch.bfloat16)])
    bad.param_groups[0]["params"][0].grad = torch.tensor([1.0, float("nan"), 0.0, 0.0], dtype=torch.bfloat16)
    bad.step()
    assert bad.skipped_steps == 1
