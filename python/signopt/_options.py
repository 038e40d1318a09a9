"""Validation of the optimizers' options, with the C++ classes' rules and messages that say what was wrong,
which value, and what is allowed."""

import math
import numbers

import torch

from . import _registry

# The 16-bit parameter dtypes (docs/optimizers.md, "Low-precision parameters").
HALF_DTYPES = frozenset((torch.bfloat16, torch.float16))

SCALES = ("absolute", "rms", "max3sigma", "meanabs")
SCHEDULES = ("constant", "power", "linear", "cosine", "exponential")
# The operators' integer codes of the scales and schedules (python/csrc/signopt_ops.cpp).
SCALE_CODES = {name: i for i, name in enumerate(SCALES)}
SCHEDULE_CODES = {name: i for i, name in enumerate(SCHEDULES)}
DISTRIBUTIONS = ("gaussian", "uniform")
TARGETS = ("momentum", "gradient")
DRAWS = ("additive", "threshold")
SCALE_FROM = ("current", "previous")
ROUNDINGS = ("stochastic", "nearest")
MOMENTUM_DTYPES = ("float32", "parameter")
CLOCKS = ("step", "epoch")
NONFINITE = ("skip", "throw")
MAX_SEED = 2**64 - 1
MAX_STREAM = 2**63 - 1

_DITHER_KEYS = tuple(_registry.DITHER_DEFAULTS)


def fail(owner, message):
    raise ValueError(f"signopt.optim.{owner}: {message}")


def number(owner, name, value, low=0.0, high=None, high_open=False):
    """A finite real >= low (and <= high, or < high when high_open)."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            fail(owner, f"{name} must be a number or a one-element tensor, got a tensor of {value.numel()} elements")
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value < low:
        fail(owner, f"{name} must be a finite number >= {low}, got {value!r}")
    if high is not None and (value >= high if high_open else value > high):
        fail(owner, f"{name} must be {'<' if high_open else '<='} {high}, got {value!r}")
    return value


def choice(owner, name, value, valid):
    if value not in valid:
        fail(owner, f"{name} must be one of {', '.join(valid)}; got {value!r}")
    return value


def flag(owner, name, value):
    if not isinstance(value, bool):
        fail(owner, f"{name} must be True or False, got {value!r}")
    return value


def lr(owner, value):
    """A learning rate: a number >= 0 or a one-element CPU tensor (what LR schedulers keep under torch.compile)."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1 or value.device.type != "cpu" or not value.is_floating_point():
            fail(owner, "a tensor lr must be a one-element floating-point CPU tensor "
                        f"(got {value.numel()} elements, {value.dtype}, on {value.device})")
    number(owner, "lr", value)
    return value


def dither(owner, value):
    """None/False (no dithering), True (every default) or a dict of DitherOptions fields, validated and
    completed with the defaults; the dict holds only strings and numbers, so state_dicts load with
    weights_only=True."""
    if value is None or value is False:
        return None
    if value is True:
        value = {}
    if not isinstance(value, dict):
        fail(owner, f"dither must be None, True or a dict of dither options, got {type(value).__name__}")
    unknown = sorted(set(value) - set(_DITHER_KEYS))
    if unknown:
        fail(owner, f"unknown dither option(s) {', '.join(unknown)} (valid: {', '.join(_DITHER_KEYS)})")
    d = dict(_registry.DITHER_DEFAULTS)
    d.update(value)
    who = owner + " dither"
    number(who, "alpha", d["alpha"])
    number(who, "gamma", d["gamma"])
    number(who, "alpha_min", d["alpha_min"])
    number(who, "decay_rate", d["decay_rate"], low=0.0, high=1.0)
    if d["decay_rate"] == 0:
        fail(who, "decay_rate must be in (0, 1], got 0")
    choice(who, "scale", d["scale"], SCALES)
    choice(who, "schedule", d["schedule"], SCHEDULES)
    choice(who, "distribution", d["distribution"], DISTRIBUTIONS)
    choice(who, "target", d["target"], TARGETS)
    choice(who, "draw", d["draw"], DRAWS)
    choice(who, "scale_from", d["scale_from"], SCALE_FROM)
    choice(who, "clock", d["clock"], CLOCKS)
    for key, high in (("seed", MAX_SEED), ("stream", MAX_STREAM), ("horizon", MAX_STREAM)):
        if isinstance(d[key], bool) or not isinstance(d[key], int) or not 0 <= d[key] <= high:
            fail(who, f"{key} must be an integer in [0, {high}], got {d[key]!r}")
    if d["schedule"] in ("linear", "cosine") and d["horizon"] <= 0:
        fail(who, f"horizon must be > 0 for the {d['schedule']} schedule, got {d['horizon']} (T in steps or epochs)")
    for key in ("alpha", "gamma", "alpha_min", "decay_rate"):
        d[key] = float(d[key])
    return d


def low_precision(owner, group):
    """The 16-bit parameters' options of SignSGD, Signum and HybridSignSGD (docs/optimizers.md, "Low-precision parameters")."""
    choice(owner, "rounding", group["rounding"], ROUNDINGS)
    seed = group["rounding_seed"]
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        fail(owner, f"rounding_seed must be an integer in [0, {MAX_SEED}], got {seed!r}")
    choice(owner, "momentum_dtype", group["momentum_dtype"], MOMENTUM_DTYPES)


def momentum_dtype(group, p):
    """The dtype of a momentum buffer of parameter p: float32 for a 16-bit p under momentum_dtype "float32", else
    p's (None)."""
    return torch.float32 if p.dtype in HALF_DTYPES and group["momentum_dtype"] == "float32" else None


def common(owner, group):
    """The options every signopt optimizer has."""
    lr(owner, group["lr"])
    number(owner, "weight_decay", group["weight_decay"])
    flag(owner, "decoupled_weight_decay", group["decoupled_weight_decay"])
    flag(owner, "maximize", group["maximize"])
    choice(owner, "nonfinite", group["nonfinite"], NONFINITE)
    if group["fused"] not in (None, True, False):
        fail(owner, f"fused must be None (automatic), True or False, got {group['fused']!r}")
    if group["foreach"] not in (None, True, False):
        fail(owner, f"foreach must be None, True or False, got {group['foreach']!r}")
    if group["fused"] and group["foreach"]:
        fail(owner, "fused and foreach cannot both be True")
    if group.get("differentiable", False):
        fail(owner, "differentiable=True is not supported (the steps run under no_grad)")


def stored_base(d):
    """Whether dither options d (or None) take the scale from the previous step's argument, which each parameter
    keeps in its state as "dither_base" (the one-pass scale; the absolute scale has no base)."""
    return d is not None and d["scale_from"] == "previous" and d["scale"] != "absolute"
