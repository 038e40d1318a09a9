"""The custom operators pass torch.library.opcheck (schema, autograd registration, fake tensors, AOT
dispatch): every step operator and overload, and the pure packing and noise operators."""

import pytest
import torch

from signopt._ops import ops, packed_words

from conftest import make_params


def step_samples(dtype):
    sizes = [1, 7, 65, 4099]
    p = make_params(sizes, dtype, 1)
    g = make_params(sizes, dtype, 2)
    s1 = make_params(sizes, dtype, 3)
    s2 = make_params(sizes, dtype, 4)
    steps = [torch.zeros((), dtype=torch.int64) for _ in sizes]
    return p, g, s1, s2, steps


def dither_args(threshold=False):
    # dither on, gaussian, momentum target, threshold draw, rms, power schedule, alpha, gamma, alpha_min, horizon,
    # decay, seed, stream
    return (True, True, False, threshold, 1, 1, 0.5, 0.55, 0.0, 0, 0.999, 9, 0)


CASES = []
for _dtype in (torch.float32, torch.float64):
    for _lr in ("float", "tensor"):
        CASES.append((_dtype, _lr))


@pytest.mark.parametrize("dtype,lr_kind", CASES)
def test_step_operators_pass_opcheck(dtype, lr_kind):
    lr = torch.tensor(0.01, dtype=torch.float64) if lr_kind == "tensor" else 0.01
    overload = "tensor_lr" if lr_kind == "tensor" else "default"
    found = torch.zeros(1)
    p, g, s1, s2, steps = step_samples(dtype)
    indices = list(range(len(p)))
    torch.library.opcheck(getattr(ops.sign_descent_, overload),
                          (p, g, s1, steps, found, lr, 0.1, False, 0.9, indices, *dither_args(), -1, []))
    p, g, s1, s2, steps = step_samples(dtype)
    torch.library.opcheck(getattr(ops.sign_descent_, overload),
                          (p, g, s1, steps, found, lr, 0.1, False, 0.9, indices, *dither_args(threshold=True), -1, []))
    p, g, s1, s2, steps = step_samples(dtype)
    bases = [torch.full((1,), float("nan") if i % 2 else 0.5, dtype=torch.float64) for i in range(len(p))]
    torch.library.opcheck(getattr(ops.sign_descent_, overload),
                          (p, g, s1, steps, found, lr, 0.1, False, 0.9, indices, *dither_args(), -1, bases))
    p, g, s1, s2, steps = step_samples(dtype)
    half = torch.bfloat16 if dtype == torch.float32 else torch.float16
    p16, g16 = [t.to(half) for t in p], [t.to(half) for t in g]
    torch.library.opcheck(getattr(ops.sign_descent_half_, overload),
                          (p16, g16, s1 if dtype == torch.float32 else [t.to(half) for t in s1], steps, found, lr, 0.1,
                           False, 0.9, indices, *dither_args(), -1, [], True, 5))
    p, g, s1, s2, steps = step_samples(dtype)
    p16, g16 = [t.to(half) for t in p], [t.to(half) for t in g]
    m16 = s1 if dtype == torch.float32 else [t.to(half) for t in s1]
    sums = torch.zeros((len(p), 5), dtype=torch.float64)
    torch.library.opcheck(getattr(ops.hybrid_sign_phase_half_, overload),
                          (p16, g16, m16, steps, found, lr, 0.1, False, 0.9, indices, *dither_args(), -1, [], True, 5,
                           sums))
    torch.library.opcheck(getattr(ops.sgd_step_half_, overload),
                          (p16, g16, m16, steps, lr, 0.1, True, 0.9, True, indices, dtype == torch.float32, 5))
    torch.library.opcheck(ops.stochastic_round.default, (torch.randn(100), dtype == torch.float32, 3, 2, 1))
    p, g, s1, s2, steps = step_samples(dtype)
    torch.library.opcheck(getattr(ops.sgd_step_, overload), (p, g, s1, lr, 0.1, True, 0.9, True))
    p, g, s1, s2, steps = step_samples(dtype)
    torch.library.opcheck(getattr(ops.ef_sign_sgd_step_, overload), (p, g, s1, s2, steps, None, lr, 0.01, False, 0.5))
    p, g, s1, s2, steps = step_samples(dtype)
    torch.library.opcheck(getattr(ops.lion_step_, overload), (p, g, s1, steps, found, lr, 0.1, True, 0.9, 0.99))


def test_pure_operators_pass_opcheck():
    x = torch.randn(1000)
    x[3] = 0
    torch.library.opcheck(ops.pack_signs.default, (x, 0, 1, 2, 0, 0))
    words = ops.pack_signs(x, 1, 1, 2, 0, 0)
    assert words.shape == (packed_words(1000),)
    stacked = torch.stack([words, ops.pack_signs(-x, 1, 1, 2, 1, 0), words])
    torch.library.opcheck(ops.majority_vote.default, (stacked, 1000))
    sign, tie = ops.majority_vote(stacked, 1000)
    torch.library.opcheck(ops.unpack_signs.default, (sign, 1000, 0.5, tie, False))
    torch.library.opcheck(ops.unpack_signs.default, (sign, 1000, 0.5, None, True))
    torch.library.opcheck(ops.dither_noise.default, (torch.zeros(3, 5, dtype=torch.float64), 1, 0, True, 1, 0))
    bad = torch.randn(5000)
    bad[4500] = float("nan")
    torch.library.opcheck(ops.found_nonfinite.default, ([torch.randn(7), bad],))
    assert ops.found_nonfinite([torch.randn(7), bad]).item() == 1.0
    assert ops.found_nonfinite([torch.randn(7), torch.randn(5000, dtype=torch.float64)]).item() == 0.0


def test_vote_of_three_is_the_majority_sign():
    x = torch.randn(300, dtype=torch.float64)
    y = torch.randn(300, dtype=torch.float64)
    words = [ops.pack_signs(t, 1, 0, 0, r, 0) for r, t in enumerate((x, y, x))]
    sign, _ = ops.majority_vote(torch.stack(words), 300)
    assert torch.equal(ops.unpack_signs(sign, 300, 1.0, None, True), torch.where(x >= 0, 1.0, -1.0).double())


def test_dither_noise_is_keyed_by_step_and_parameter():
    like = torch.zeros(1000)
    a = ops.dither_noise(like, 1, 0, True, 1, 0)
    assert torch.equal(a, ops.dither_noise(like, 1, 0, True, 1, 0))
    assert not torch.equal(a, ops.dither_noise(like, 1, 0, True, 2, 0))
    assert not torch.equal(a, ops.dither_noise(like, 1, 0, True, 1, 1))
    # tests/golden/README.md's check values: seed 1, step 1, parameter 0, elements 0..3.
    expect = torch.tensor([1.6981306076049805, 1.5404168367385864, 1.5385715961456299, 0.39437198638916016])
    assert torch.equal(a[:4], expect)
    u = ops.dither_noise(like, 1, 0, False, 1, 0)
    assert torch.equal(u[:4], torch.tensor([-0.8555929660797119, -0.7654891014099121, -0.4334665536880493, -0.9201292991638184]))


def test_bad_inputs_are_refused_with_a_reason():
    p = [torch.zeros(4)]
    with pytest.raises(RuntimeError, match="steps\\[0\\] must be a one-element int64 CPU tensor"):
        ops.lion_step_(p, [torch.zeros(4)], [torch.zeros(4)], [torch.zeros(())], None, 0.1, 0.0, True, 0.9, 0.99)
    with pytest.raises(RuntimeError, match="must be float32 or float64"):
        ops.lion_step_([torch.zeros(4, dtype=torch.float16)], [torch.zeros(4, dtype=torch.float16)],
                       [torch.zeros(4, dtype=torch.float16)], [torch.zeros((), dtype=torch.int64)], None, 0.1, 0.0, True, 0.9,
                       0.99)
    with pytest.raises(RuntimeError, match="dither_schedule must be 0..4"):
        ops.sign_descent_(p, [torch.zeros(4)], [], [torch.zeros((), dtype=torch.int64)], None, 0.1, 0.0, False, 0.0, [0],
                          True, True, False, False, 1, 7, 1.0, 0.55, 0.0, 0, 0.999, 0, 0, -1, [])
    with pytest.raises(RuntimeError, match="dither_bases\\[0\\] must be a one-element float64 CPU tensor"):
        ops.sign_descent_(p, [torch.zeros(4)], [], [torch.zeros((), dtype=torch.int64)], None, 0.1, 0.0, False, 0.0, [0],
                          True, True, False, False, 1, 1, 1.0, 0.55, 0.0, 0, 0.999, 0, 0, -1, [torch.zeros(1)])


def test_dither_alpha_is_the_schedule_of_docs_algorithms():
    # docs/algorithms.md section 3 at chosen ticks, written out by hand (schedule codes: constant, power, linear,
    # cosine, exponential); alpha 2, gamma 0.5, alpha_min 0.5, horizon 10, decay 0.9.
    args = (2.0, 0.5, 0.5, 10, 0.9)
    assert ops.dither_alpha(0, *args, 7) == 2.0
    assert ops.dither_alpha(1, *args, 0) == 2.0
    assert ops.dither_alpha(1, *args, 15) == 2.0 / 16 ** 0.25
    assert ops.dither_alpha(2, *args, 4) == 2.0 + (0.5 - 2.0) * 0.4
    assert ops.dither_alpha(2, *args, 25) == 0.5
    assert ops.dither_alpha(3, *args, 5) == pytest.approx(1.25, abs=1e-15)
    assert ops.dither_alpha(3, *args, 10) == 0.5
    assert ops.dither_alpha(4, *args, 3) == 2.0 * 0.9 ** 3
    assert ops.dither_alpha(1, *args, -4) == 2.0  # negative ticks count as 0
    with pytest.raises(RuntimeError, match="dither_schedule must be 0..4"):
        ops.dither_alpha(5, *args, 1)
    with pytest.raises(RuntimeError, match="need horizon > 0"):
        ops.dither_alpha(3, 2.0, 0.5, 0.5, 0, 0.9, 1)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("gaussian", [True, False])
def test_threshold_sign_is_the_fused_steps_direction(dtype, gaussian):
    g = torch.randn(4099, dtype=dtype, generator=torch.Generator().manual_seed(5)) * 0.3
    g[:5] = 0.0
    torch.library.opcheck(ops.threshold_sign.default, (g, 0.7, 11, 2, gaussian, 3, 4))
    u = ops.threshold_sign(g, 0.7, 11, 2, gaussian, 3, 4)
    assert set(u.unique().tolist()) == {-1.0, 1.0}  # with s > 0 every coordinate, x = 0 included, gets a sign
    p = torch.zeros_like(g)
    steps = [torch.tensor(2, dtype=torch.int64)]  # the op counts this step as step 3
    # SignSGD, lr 1, dither with the absolute scale, constant alpha 0.7, threshold draw, seed 11, stream 2.
    ops.sign_descent_([p], [g], [], steps, None, 1.0, 0.0, False, 0.0, [4], True, gaussian, False, True, 0, 0, 0.7,
                      0.55, 0.0, 0, 0.999, 11, 2, -1, [])
    assert torch.equal(-p, u)
    assert not torch.equal(u, ops.threshold_sign(g, 0.7, 11, 2, gaussian, 4, 4))  # keyed by the step
    assert torch.equal(ops.threshold_sign(torch.tensor([0.0, 2.0, -2.0], dtype=dtype), 0.0, 1, 0, gaussian, 1, 0),
                       torch.tensor([0.0, 1.0, -1.0], dtype=dtype))  # s = 0: sign(x)
