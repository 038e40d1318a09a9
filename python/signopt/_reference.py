"""The reference path of signopt.optim (``fused=False``, and tensors the fused operators do not take): each
rule of docs/optimizers.md as a composition of torch ops, one tensor at a time, like the C++ library's
kernels/reference.h, and (``foreach``) SignSGD, Signum and Lion without dither over lists with torch's
_foreach ops. The dither's unit noise comes from the ``signopt::dither_noise`` operator (the same
Philox draws as the fused step); the annealing and the scale are computed here, in float64.

Results equal the fused operators' up to the order of the sums in the dither scale and EF-SignSGD's
scale (the tests compare within a few ulps)."""

import contextlib
import math

import torch

from . import _options
from ._ops import ops


@contextlib.contextmanager
def float32_working(t):
    """A 16-bit step's float32 arithmetic on the state buffer t (docs/optimizers.md, "Low-precision parameters"):
    yields t itself (None, float32 or float64), or a float32 copy of a bfloat16/float16 t that is written back to
    t, rounded to nearest, when the block ends."""
    work = t.float() if t is not None and t.dtype in _options.HALF_DTYPES else t
    yield work
    if work is not t:
        t.copy_(work)


def dither_alpha(d, tick):
    """alpha_t of dither options `d` (a validated dict) at tick t0 >= 0 (docs/algorithms.md section 3), computed
    by the C++ library's kernels::dither_alpha (the operator signopt::dither_alpha), as the fused steps do."""
    return ops.dither_alpha(_options.SCHEDULE_CODES[d["schedule"]], d["alpha"], d["gamma"], d["alpha_min"], d["horizon"],
                            d["decay_rate"], max(int(tick), 0))


def dither_base(x, scale):
    n = x.numel()
    if scale == "absolute":
        return 1.0
    if n == 0:
        return 0.0
    x = x.double()
    if scale == "rms":
        return math.sqrt(x.square().sum().item() / n)
    if scale == "max3sigma":
        return x.abs().max().item() / 3.0
    return x.abs().sum().item() / n


def signed_seed(seed):
    """A seed in [0, 2^64) as the int64 the operators take (two's complement)."""
    return seed - 2**64 if seed >= 2**63 else seed


def new_base():
    """A parameter's stored dither base before its first step (the one-pass scale): one float64 NaN."""
    return torch.full((1,), float("nan"), dtype=torch.float64)


def step_scale(x, d, alpha, base=None):
    """s = alpha_t base of the step (kernels::reference::step_scale): base(x) of this step's argument, or, with
    the one-pass scale (`base`, the parameter's one-element float64 "dither_base"), the stored base of the
    previous step once there is one (NaN before the first step); `base` then takes base(x) for the next step."""
    now = dither_base(x, d["scale"])
    if base is None or x.numel() == 0:
        return alpha * now
    stored = base.item()
    base.fill_(now)
    return alpha * (stored if math.isfinite(stored) else now)


def add_dither(x, d, alpha, step, param_index, base=None):
    s = step_scale(x, d, alpha, base)
    noise = ops.dither_noise(x.contiguous(), signed_seed(d["seed"]), d["stream"], d["distribution"] == "gaussian", step, param_index)
    return x + noise * s


def decayed_gradient(p, g, lr, weight_decay, decoupled):
    if weight_decay == 0:
        return g
    if decoupled:
        p.mul_(1.0 - lr * weight_decay)
        return g
    return g + p * weight_decay


def sign_argument(g, buf, beta, d, alpha, step, param_index, base=None):
    """x in sign(x) (kernels::reference::sign_direction): g, dithered when the target is the gradient, through the
    EMA buf <- beta buf + (1 - beta) g when beta > 0 (buf updated in place), dithered when the target is the
    momentum. d: dither options or None; alpha: alpha_t; base: the stored base of the one-pass scale or None."""
    if d is not None and d["target"] == "gradient":
        g = add_dither(g, d, alpha, step, param_index, base)
    x = g
    if beta > 0:
        buf.mul_(beta).add_(g * (1.0 - beta))
        x = buf
    if d is not None and d["target"] == "momentum":
        x = add_dither(x, d, alpha, step, param_index, base)
    return x


def threshold_applies(d, beta):
    """Whether dither options d draw the sign by threshold (kernels::threshold_applies): asked for, and the noise
    does not enter the momentum."""
    return d is not None and d["draw"] == "threshold" and (d["target"] == "momentum" or beta == 0)


def sign_direction(g, buf, beta, d, alpha, step, param_index, base=None):
    """u = sign(x) of a sign step (kernels::reference::sign_direction): sign(sign_argument(...)), or, where the
    threshold draw applies, the EMA (buf updated in place) and the draw at scale step_scale(x), by the fused
    kernels' element rule (the operator signopt::threshold_sign). base: as in sign_argument."""
    if not threshold_applies(d, beta):
        return torch.sign(sign_argument(g, buf, beta, d, alpha, step, param_index, base))
    x = sign_argument(g, buf, beta, None, 0.0, step, param_index)  # the plain argument: no noise is added
    s = step_scale(x, d, alpha, base)
    exact = x.dtype in (torch.float32, torch.float64)
    u = ops.threshold_sign((x if exact else x.float()).contiguous(), s, signed_seed(d["seed"]), d["stream"],
                           d["distribution"] == "gaussian", step, param_index)
    return u.to(x.dtype)


def sign_descent(p, g, buf, step, lr, weight_decay, decoupled, beta, d, tick, param_index, base=None):
    """One SignSGD/Signum step (buf is None when beta is 0); `step` is the parameter's count after this step;
    base: the stored base of the one-pass scale or None."""
    g = decayed_gradient(p, g, lr, weight_decay, decoupled)
    alpha = dither_alpha(d, tick) if d is not None else 0.0
    p.add_(sign_direction(g, buf, beta, d, alpha, step, param_index, base), alpha=-lr)


def calibration_sums(u, g, m):
    """The hybrid's raw calibration sums of one tensor for the sign direction u: <u, g>, ||g||^2, nnz(u), ||m||_1
    and ||m||^2 (g with coupled decay, m the momentum), as torch's float64 sums."""
    u, g, m = u.double(), g.double(), m.double()
    return [torch.sum(u * g).item(), torch.sum(g * g).item(), u.abs().sum().item(), m.abs().sum().item(),
            torch.sum(m * m).item()]


def worker_argument(p, g, i, step, rank, weight_decay, beta, m, d, tick, base=None):
    """One data-parallel worker's sign argument (signopt.distributed): coupled decay into g, the worker's dither
    stream (d's stream + rank), then sign_direction (base: the worker's stored base of the one-pass scale or
    None); returns (direction, g with decay): the direction's signs are the argument's, so the vote packs either
    alike."""
    g = g.reshape(p.shape)
    if weight_decay != 0:
        g = g + p.detach() * weight_decay
    if d is not None:
        d = dict(d, stream=d["stream"] + rank)
    alpha = dither_alpha(d, tick) if d is not None else 0.0
    return sign_direction(g, m, beta, d, alpha, step, i, base), g


def decayed_gradients_foreach(params, grads, lr, weight_decay, decoupled):
    """decayed_gradient over lists with torch's _foreach ops (the same element operations, so the same bits)."""
    if weight_decay == 0:
        return grads
    if decoupled:
        torch._foreach_mul_(params, 1.0 - lr * weight_decay)
        return grads
    return torch._foreach_add(grads, torch._foreach_mul(params, weight_decay))


def sign_descent_foreach(params, grads, bufs, lr, weight_decay, decoupled, beta):
    """sign_descent without dither over lists (the foreach path): the per-tensor rule's operations, batched."""
    g = decayed_gradients_foreach(params, grads, lr, weight_decay, decoupled)
    x = g
    if beta > 0:
        torch._foreach_mul_(bufs, beta)
        torch._foreach_add_(bufs, torch._foreach_mul(g, 1.0 - beta))
        x = bufs
    torch._foreach_add_(params, torch._foreach_sign(x), alpha=-lr)


def lion_foreach(params, grads, exp_avgs, lr, weight_decay, decoupled, beta1, beta2):
    """lion over lists (the foreach path)."""
    g = decayed_gradients_foreach(params, grads, lr, weight_decay, decoupled)
    c = torch._foreach_add(torch._foreach_mul(exp_avgs, beta1), torch._foreach_mul(g, 1.0 - beta1))
    torch._foreach_add_(params, torch._foreach_sign(c), alpha=-lr)
    torch._foreach_mul_(exp_avgs, beta2)
    torch._foreach_add_(exp_avgs, torch._foreach_mul(g, 1.0 - beta2))


def ef_sign_sgd(p, g, error, buf, lr, weight_decay, decoupled, momentum):
    """c = lr g + e (g the momentum when momentum > 0); Delta = (||c||_1 / d) sign(c); p -= Delta; e = c - Delta."""
    g = decayed_gradient(p, g, lr, weight_decay, decoupled)
    if momentum > 0:
        buf.mul_(momentum).add_(g)
        g = buf
    corrected = g * lr + error
    d = max(corrected.numel(), 1)
    delta = torch.sign(corrected) * (corrected.double().abs().sum().item() / d)
    p.sub_(delta)
    error.copy_(corrected - delta)


def lion(p, g, exp_avg, lr, weight_decay, decoupled, beta1, beta2):
    """c = beta1 m + (1 - beta1) g; p -= lr sign(c); m = beta2 m + (1 - beta2) g."""
    g = decayed_gradient(p, g, lr, weight_decay, decoupled)
    c = exp_avg * beta1 + g * (1.0 - beta1)
    p.add_(torch.sign(c), alpha=-lr)
    exp_avg.mul_(beta2).add_(g * (1.0 - beta2))
