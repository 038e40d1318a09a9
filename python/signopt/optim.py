"""signopt's optimizers as ``torch.optim.Optimizer`` subclasses, in the shape of torch/optim/sgd.py: param
groups, lazy state, ``fused`` (on by default where the tensors allow), ``maximize``, tensor learning rates,
every LR scheduler, ``zero_grad`` and closures. Each step runs one custom operator per param group
(``torch.ops.signopt``, the C++ library's fused kernels), so Python and C++ give bit-identical results.

State (``state_dict``) is in torch's format and holds only tensors and plain Python values, so it loads with
``torch.load(weights_only=True)``. Each parameter's state has an int64 ``step`` tensor (it keys the dither's
random draws, so a resumed run continues bit for bit) and the rule's buffers, named as in the C++ classes.
The optimizer-wide state (the epoch of the dither clock "epoch", the count of skipped steps, the hybrid's
phase and calibration) is saved in the first param group under ``"signopt_state"``, where
torch.distributed.checkpoint's get/set_optimizer_state_dict keep it.

Non-finite gradients: with ``nonfinite="skip"`` (the default, as in C++) a step in which any gradient has a
NaN or an infinity changes nothing, step counts included, and ``skipped_steps`` counts it; with ``"throw"``
the step raises RuntimeError before changing anything.
"""

import torch
from torch.optim.optimizer import Optimizer

from . import _options, _reference, _registry
from ._ops import ops

__all__ = ["SignSGD", "Signum", "EFSignSGD", "Lion"]

_FUSED_DTYPES = frozenset((torch.float32, torch.float64))
_HALF_DTYPES = _options.HALF_DTYPES
# The dtypes signopt::found_nonfinite reads.
_CHECKED_DTYPES = _FUSED_DTYPES | _HALF_DTYPES
# The state buffers whose dtype momentum_dtype sets for a 16-bit parameter (Signum's m; the hybrid's m and v).
_MOMENTUM_KEYS = frozenset(("momentum_buffer", "exp_avg"))


def _dither_op_args(d):
    """The dither arguments of signopt::sign_descent_ and hybrid_sign_phase_ for dither options d (or None)."""
    if d is None:
        return (False, True, False, False, _options.SCALE_CODES["rms"], _options.SCHEDULE_CODES["power"], 0.0, 0.0, 0.0,
                0, 1.0, 0, 0)
    return (True, d["distribution"] == "gaussian", d["target"] == "gradient", d["draw"] == "threshold",
            _options.SCALE_CODES[d["scale"]],
            _options.SCHEDULE_CODES[d["schedule"]], d["alpha"], d["gamma"], d["alpha_min"], d["horizon"], d["decay_rate"],
            _reference.signed_seed(d["seed"]), d["stream"])


def _stored_base(state):
    """A parameter's stored dither base of the one-pass scale (state "dither_base", as in C++): one float64 value,
    NaN until the parameter's first dithered step measures one."""
    if "dither_base" not in state:
        state["dither_base"] = _reference.new_base()
    return state["dither_base"]


def _dither_bases(d, states):
    """The dither_bases argument of the sign operators: each parameter's stored base under the one-pass scale
    (dither scale_from "previous"), else empty."""
    return [_stored_base(s) for s in states] if _options.stored_base(d) else []


def _checked_by_op(g):
    """Whether signopt::found_nonfinite reads the gradient g (contiguous CPU float32/float64/bfloat16/float16)."""
    return g.is_cpu and g.dtype in _CHECKED_DTYPES and g.is_contiguous()


def _half_supported(tensors):
    """Whether signopt::sign_descent_half_ takes every tensor: contiguous CPU (the dtypes it checks itself)."""
    return all(t.is_cpu and t.is_contiguous() for t in tensors)


def _store_rounded(target, p32, group, step, param_index):
    """Stores the float32 result p32 into the 16-bit parameter `target` as the group's rounding says: stochastic
    rounding keyed by (rounding_seed, step, param_index), or to nearest (the fused 16-bit steps' rule)."""
    if group["rounding"] == "stochastic":
        seed = _reference.signed_seed(group["rounding_seed"])
        target.copy_(ops.stochastic_round(p32.contiguous(), target.dtype == torch.bfloat16, seed, step,
                                          param_index).view_as(target))
    else:
        target.copy_(p32)


def _fused_supported(tensors):
    """Whether the fused operators take every tensor: contiguous CPU float32/float64 (sparse gradients are refused
    before this; a plain loop, since it runs over every tensor of every step)."""
    for t in tensors:
        if not t.is_cpu or t.dtype not in _FUSED_DTYPES or not t.is_contiguous():
            return False
    return True


class _SignoptOptimizer(Optimizer):
    """What every signopt optimizer shares: option checks, the non-finite check, the fused/reference choice,
    the epoch and the skipped-step count, and state_dict's extra key."""

    _name = ""  # the class name, for messages

    def __init__(self, params, defaults):
        super().__init__(params, defaults)
        self._epoch = 0
        # A float64 count (exact to 2^53 steps) that found_inf (float32, shape [1]) adds to in one op.
        self._skipped = torch.zeros(1, dtype=torch.float64)
        self._grads_fused = False  # whether the fused operators take every gradient of this step

    def _init_from_registry(self, params, row_name, lr, decoupled_weight_decay, **options):
        """Validates the defaults (lr and the weight-decay convention from the registry row where not given)
        and builds the optimizer."""
        row = _registry.defaults(row_name)
        defaults = dict(lr=row["lr"] if lr is None else lr,
                        decoupled_weight_decay=row["decoupled_weight_decay"] if decoupled_weight_decay is None
                        else decoupled_weight_decay, **options)
        self._validate(defaults)
        _SignoptOptimizer.__init__(self, params, defaults)

    # ---- options -----------------------------------------------------------------------------------------

    def _validate(self, group):
        _options.common(self._name, group)

    def add_param_group(self, param_group):
        super().add_param_group(param_group)
        self._validate(self.param_groups[-1])

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            for key, value in self.defaults.items():
                group.setdefault(key, value)

    # ---- epoch and skipped steps ---------------------------------------------------------------------------

    def set_epoch(self, epoch):
        """Tells the optimizer the current epoch (0-based), the tick of the dither clock "epoch"."""
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise ValueError(f"signopt.optim.{self._name}.set_epoch: epoch must be an integer >= 0, got {epoch!r}")
        self._epoch = epoch

    @property
    def epoch(self):
        return self._epoch

    @property
    def skipped_steps(self):
        """Steps skipped because a gradient was not finite (nonfinite="skip")."""
        return int(self._skipped)

    def _extra_state(self):
        """The optimizer-wide state (not per parameter) that state_dict saves."""
        return {"epoch": self._epoch, "skipped_steps": int(self._skipped)}

    def _load_extra_state(self, extra):
        self._epoch = int(extra["epoch"])
        self._skipped = torch.full((1,), int(extra["skipped_steps"]), dtype=torch.float64)

    def state_dict(self):
        """torch's format; the optimizer-wide state (epoch, skipped steps, the hybrid's phase and calibration)
        rides in the first param group under "signopt_state", where torch.distributed.checkpoint keeps it."""
        sd = super().state_dict()
        if sd["param_groups"]:
            sd["param_groups"][0]["signopt_state"] = self._extra_state()
        return sd

    def load_state_dict(self, state_dict):
        groups = state_dict.get("param_groups") or [{}]
        extra = groups[0].get("signopt_state")
        # torch casts floating state to its parameter's dtype, and with fused=True a "step" to float32; the step
        # counts stay int64, the stored dither bases float64 and a 16-bit parameter's momentum its own dtype
        # (float32 by default), bit for bit.
        saved_ids = [i for g in state_dict.get("param_groups", []) for i in g["params"]]
        saved_state = state_dict.get("state", {})
        super().load_state_dict(state_dict)
        params = [p for g in self.param_groups for p in g["params"]]
        for i, p in zip(saved_ids, params):
            for key, value in saved_state.get(i, {}).items():
                if key == "step" and isinstance(value, torch.Tensor):
                    self.state[p][key] = value.clone()
                elif key == "dither_base" or (key in _MOMENTUM_KEYS and p.dtype in _HALF_DTYPES):
                    self.state[p][key] = value.to(device=p.device).clone()
        for group in self.param_groups:
            group.pop("signopt_state", None)
        self._load_extra_state(extra if extra is not None else self._missing_extra_state(state_dict))

    def _missing_extra_state(self, state_dict):
        """A state_dict without "signopt_state" (written by something else): the epoch and the skipped-step count
        start at 0, which changes no update except under the dither clock "epoch" until set_epoch is called."""
        return {"epoch": 0, "skipped_steps": 0}

    # ---- the step ------------------------------------------------------------------------------------------

    def _found_nonfinite(self):
        """A one-element float32 tensor, 1 where some gradient is not finite (GradScaler's found_inf); None
        when no parameter has a gradient. Raises under nonfinite="throw"."""
        grads, throw = [], []
        for group in self.param_groups:
            gs = [p.grad for p in group["params"] if p.grad is not None]
            grads += gs
            if group["nonfinite"] == "throw" and gs:
                throw += gs
        if not grads:
            return None
        # The operator's one read pass for the tensors it takes (torch's inf-norm costs several passes' time);
        # a composition of torch ops for the others. _use_fused reuses the check of the gradients.
        self._grads_fused = _fused_supported(grads)
        if self._grads_fused:
            found = ops.found_nonfinite(grads)
        else:
            fast = [g for g in grads if _checked_by_op(g)]
            slow = [torch.logical_not(torch.isfinite(g).all()).reshape(1) for g in grads if not _checked_by_op(g)]
            found = ops.found_nonfinite(fast) if fast else torch.zeros(1)
            if slow:
                found = torch.maximum(found, torch.cat(slow).any().reshape(1).to(torch.float32))
        if throw and found.item():
            bad = [i for i, g in enumerate(throw) if not bool(torch.isfinite(g).all())]
            if bad:
                raise RuntimeError(
                    f"signopt.optim.{self._name}: the gradient of parameter {bad[0]} (counting parameters with a "
                    "gradient in groups with nonfinite='throw') contains NaN or infinity; no parameter was changed"
                )
        return found

    def _use_fused(self, group, grads, tensors):
        """Whether `group` takes the fused operator for its gradients and its other tensors (parameters, state);
        the gradients were checked by _found_nonfinite in this step."""
        supported = (self._grads_fused or _fused_supported(grads)) and _fused_supported(tensors)
        if group["fused"] and not supported:
            raise RuntimeError(
                f"signopt.optim.{self._name}: fused=True needs contiguous CPU float32/float64 parameters, gradients "
                "and state; use fused=None (automatic) or fused=False for other tensors"
            )
        return supported if group["fused"] is None else bool(group["fused"])

    def _grads(self, group, params):
        grads = [p.grad for p in params]
        if any(g.is_sparse for g in grads):
            raise RuntimeError(f"signopt.optim.{self._name} does not support sparse gradients")
        return list(torch._foreach_neg(grads)) if group["maximize"] else grads

    @staticmethod
    def _run_closure(closure):
        """The closure's loss, computed with gradients enabled (None without a closure)."""
        if closure is None:
            return None
        with torch.enable_grad():
            return closure()

    @torch.no_grad()
    def step(self, closure=None):
        """One step over every parameter with a gradient; returns the closure's loss (or None)."""
        loss = self._run_closure(closure)
        found_inf = self._found_nonfinite()
        if found_inf is None:
            return loss
        index = 0
        for group in self.param_groups:
            self._step_group(group, index, found_inf)
            index += len(group["params"])
        self._skipped.add_(found_inf)
        return loss

    def _with_grads(self, group, first_index):
        """The parameters of `group` that have a gradient, with their indices over all groups (the dither's
        param_index, as in C++)."""
        params, indices = [], []
        for i, p in enumerate(group["params"]):
            if p.grad is not None:
                params.append(p)
                indices.append(first_index + i)
        return params, indices

    @staticmethod
    def _step_tensor(state):
        if "step" not in state:
            state["step"] = torch.zeros((), dtype=torch.int64)
        return state["step"]

    @staticmethod
    def _buffer(state, key, p, dtype=None):
        """state[key], created as zeros like p (of `dtype`, p's by default) on first use."""
        if key not in state:
            state[key] = torch.zeros_like(p, dtype=dtype, memory_format=torch.preserve_format)
        return state[key]

    @staticmethod
    def _stored_base_of(state, d):
        """The parameter's stored dither base under the one-pass scale of dither options d, else None."""
        return _stored_base(state) if _options.stored_base(d) else None

    @staticmethod
    def _op(op, lr):
        return op.tensor_lr if isinstance(lr, torch.Tensor) else op.default

    def _prepare(self, group, first_index):
        """The parameters of `group` with a gradient, their indices, gradients (negated under maximize), states
        and step tensors."""
        params, indices = self._with_grads(group, first_index)
        grads = self._grads(group, params) if params else []
        states = [self.state[p] for p in params]
        return params, indices, grads, states, [self._step_tensor(s) for s in states]

    def _buffers(self, key, states, params):
        return [self._buffer(s, key, p) for s, p in zip(states, params)]

    @staticmethod
    def _use_foreach(group):
        """The reference path over lists (torch's _foreach ops) unless foreach=False; None takes it too."""
        return group["foreach"] is not False

    @staticmethod
    def _foreach_steps(found_inf, steps, update):
        """The foreach path: nothing when a gradient was not finite; else the step counts + 1, then update()."""
        if found_inf.item():
            return
        torch._foreach_add_(steps, 1)
        update()

    @staticmethod
    def _reference_steps(found_inf, steps, update):
        """The reference path: nothing when a gradient was not finite; else each step count + 1, then update(i)."""
        if found_inf.item():
            return
        for i, step in enumerate(steps):
            step.add_(1)
            update(i)


class Signum(_SignoptOptimizer):
    """Signum: m <- beta m + (1 - beta) g, theta <- theta - lr sign(m) (docs/optimizers.md#signum);
    momentum 0 is SignSGD exactly.

    Args:
        params: parameters or param groups.
        lr: learning rate (default from the C++ registry, 1e-4); a float or a one-element CPU tensor.
        momentum: the EMA coefficient beta in [0, 1) (default 0.9).
        weight_decay: wd >= 0 (default 0).
        decoupled_weight_decay: False: g += wd theta (coupled, default); True: theta *= 1 - lr wd.
        dither: pre-sign dithering: None (off), True (every default) or a dict of DitherOptions fields (alpha,
            scale, schedule, gamma, alpha_min, horizon, decay_rate, distribution, target, clock, seed, stream;
            docs/python.md).
        nonfinite: "skip" (default) or "throw" on a NaN or infinite gradient.
        maximize: ascend instead of descend.
        fused: None (fused where the tensors allow, the default), True (require it) or False (the reference
            composition of torch ops).
        foreach: on the reference path, None or True batch the tensors with torch's _foreach ops (without
            dither), False runs one tensor at a time; both give the same bits.
        rounding: how a bfloat16/float16 parameter is stored after its float32 update: "stochastic" (default,
            unbiased) or "nearest" (docs/optimizers.md, "Low-precision parameters").
        rounding_seed: seed of the stochastic rounding's bits (default 0).
        momentum_dtype: the momentum of a bfloat16/float16 parameter: "float32" (default) or "parameter".
    """

    _name = "Signum"
    _registry_name = "signum"

    def __init__(self, params, lr=None, momentum=None, weight_decay=0.0, decoupled_weight_decay=None, dither=None,
                 nonfinite="skip", *, maximize=False, fused=None, foreach=None, differentiable=False, rounding=None,
                 rounding_seed=None, momentum_dtype=None):
        row = _registry.defaults(self._registry_name)
        low = _registry.LOW_PRECISION_DEFAULTS
        self._init_from_registry(
            params, self._registry_name, lr, decoupled_weight_decay, momentum=row["momentum"] if momentum is None else
            momentum, weight_decay=weight_decay, dither=_options.dither(self._name, dither), nonfinite=nonfinite,
            maximize=maximize, fused=fused, foreach=foreach, differentiable=differentiable,
            rounding=low["rounding"] if rounding is None else rounding,
            rounding_seed=low["rounding_seed"] if rounding_seed is None else rounding_seed,
            momentum_dtype=low["momentum_dtype"] if momentum_dtype is None else momentum_dtype)

    def _validate(self, group):
        super()._validate(group)
        _options.number(self._name, "momentum", group["momentum"], high=1.0, high_open=True)
        group["dither"] = _options.dither(self._name, group["dither"])
        _options.low_precision(self._name, group)

    def _step_group(self, group, first_index, found_inf):
        params, indices, grads, states, steps = self._prepare(group, first_index)
        half = [p.dtype in _HALF_DTYPES for p in params]
        if any(half):
            # 16-bit parameters take their own step; the others go on below.
            def split(kind):
                return [[x for x, h in zip(xs, half) if h == kind] for xs in (params, indices, grads, states, steps)]

            self._step_half(group, *split(True), found_inf)
            params, indices, grads, states, steps = split(False)
        if not params:
            return
        beta = float(group["momentum"])
        bufs = self._buffers("momentum_buffer", states, params) if beta > 0 else []
        lr, wd, decoupled, d = group["lr"], float(group["weight_decay"]), group["decoupled_weight_decay"], group["dither"]
        epoch = self._epoch if d is not None and d["clock"] == "epoch" else -1
        bases = _dither_bases(d, states)
        if self._use_fused(group, grads, params + bufs):
            self._op(ops.sign_descent_, lr)(params, grads, bufs, steps, found_inf, lr, wd, decoupled, beta, indices,
                                            *_dither_op_args(d), epoch, bases)
            return

        if d is None and self._use_foreach(group):
            self._foreach_steps(found_inf, steps, lambda: _reference.sign_descent_foreach(
                params, grads, bufs, float(lr), wd, decoupled, beta))
            return

        def update(i):
            step = int(steps[i])
            _reference.sign_descent(params[i], grads[i], bufs[i] if beta > 0 else None, step, float(lr), wd, decoupled,
                                    beta, d, epoch if epoch >= 0 else step - 1, indices[i], bases[i] if bases else None)

        self._reference_steps(found_inf, steps, update)

    def _step_half(self, group, params, indices, grads, states, steps, found_inf):
        """Signum/SignSGD on bfloat16/float16 parameters (docs/optimizers.md, "Low-precision parameters"): float32
        arithmetic, the parameter stored by stochastic rounding (or to nearest), the momentum float32 or 16-bit; the
        one-pass scale's stored bases float64 as for every dtype."""
        beta = float(group["momentum"])
        d = group["dither"]
        bases = _dither_bases(d, states)
        bufs = []
        if beta > 0:
            bufs = [self._buffer(s, "momentum_buffer", p, _options.momentum_dtype(group, p)) for s, p in zip(states, params)]
        lr, wd, decoupled = group["lr"], float(group["weight_decay"]), group["decoupled_weight_decay"]
        epoch = self._epoch if d is not None and d["clock"] == "epoch" else -1
        stochastic, seed = group["rounding"] == "stochastic", _reference.signed_seed(group["rounding_seed"])
        supported = _half_supported(params + grads + bufs)
        if group["fused"] is True and not supported:
            raise RuntimeError(f"signopt.optim.{self._name}: fused=True needs contiguous CPU 16-bit parameters, gradients "
                               "and state")
        if supported and group["fused"] is not False:
            self._op(ops.sign_descent_half_, lr)(params, grads, bufs, steps, found_inf, lr, wd, decoupled, beta, indices,
                                                 *_dither_op_args(d), epoch, bases, stochastic, seed)
            return

        def update(i):
            step = int(steps[i])
            p32 = params[i].detach().float()
            with _reference.float32_working(bufs[i] if beta > 0 else None) as m32:
                _reference.sign_descent(p32, grads[i].float(), m32, step, float(lr), wd, decoupled, beta, d,
                                        epoch if epoch >= 0 else step - 1, indices[i], bases[i] if bases else None)
            _store_rounded(params[i], p32, group, step, indices[i])

        self._reference_steps(found_inf, steps, update)


class SignSGD(Signum):
    """SignSGD: theta <- theta - lr sign(g) (docs/optimizers.md#signsgd): Signum without momentum, with the
    same options otherwise (lr default 1e-4 from the C++ registry, dither, weight decay)."""

    _name = "SignSGD"
    _registry_name = "signsgd"

    def __init__(self, params, lr=None, weight_decay=0.0, decoupled_weight_decay=None, dither=None, nonfinite="skip", *,
                 maximize=False, fused=None, foreach=None, differentiable=False, rounding=None, rounding_seed=None):
        super().__init__(params, lr=lr, momentum=0.0, weight_decay=weight_decay,
                         decoupled_weight_decay=decoupled_weight_decay, dither=dither, nonfinite=nonfinite,
                         maximize=maximize, fused=fused, foreach=foreach, differentiable=differentiable,
                         rounding=rounding, rounding_seed=rounding_seed)

    def _validate(self, group):
        super()._validate(group)
        if group["momentum"] != 0:
            _options.fail(self._name, f"SignSGD has no momentum (got {group['momentum']!r}); use Signum")


class EFSignSGD(_SignoptOptimizer):
    """EF-SignSGD (Karimireddy et al. 2019): c = lr g + e, Delta = (||c||_1 / d) sign(c), theta -= Delta,
    e = c - Delta (docs/optimizers.md#ef-signsgd). State: ``error`` and, with momentum > 0,
    ``momentum_buffer`` (g is replaced by v <- momentum v + g).

    Args: params, lr (default 0.1 from the C++ registry), momentum (default 0), weight_decay,
    decoupled_weight_decay, nonfinite, maximize, fused, foreach: as in :class:`Signum`.
    """

    _name = "EFSignSGD"

    def __init__(self, params, lr=None, momentum=None, weight_decay=0.0, decoupled_weight_decay=None, nonfinite="skip", *,
                 maximize=False, fused=None, foreach=None, differentiable=False):
        row = _registry.defaults("ef-signsgd")
        self._init_from_registry(
            params, "ef-signsgd", lr, decoupled_weight_decay, momentum=row["momentum"] if momentum is None else momentum,
            weight_decay=weight_decay, nonfinite=nonfinite, maximize=maximize, fused=fused, foreach=foreach,
            differentiable=differentiable)

    def _validate(self, group):
        super()._validate(group)
        _options.number(self._name, "momentum", group["momentum"], high=1.0, high_open=True)

    def _step_group(self, group, first_index, found_inf):
        params, _, grads, states, steps = self._prepare(group, first_index)
        if not params:
            return
        momentum = float(group["momentum"])
        errors = self._buffers("error", states, params)
        bufs = self._buffers("momentum_buffer", states, params) if momentum > 0 else []
        lr, wd, decoupled = group["lr"], float(group["weight_decay"]), group["decoupled_weight_decay"]
        if self._use_fused(group, grads, params + errors + bufs):
            self._op(ops.ef_sign_sgd_step_, lr)(params, grads, errors, bufs, steps, found_inf, lr, wd, decoupled, momentum)
            return
        self._reference_steps(found_inf, steps, lambda i: _reference.ef_sign_sgd(
            params[i], grads[i], errors[i], bufs[i] if momentum > 0 else None, float(lr), wd, decoupled, momentum))


class Lion(_SignoptOptimizer):
    """Lion (Chen et al. 2023): c = beta1 m + (1 - beta1) g, theta -= lr sign(c), m = beta2 m + (1 - beta2) g
    (docs/optimizers.md#lion). State: ``exp_avg``.

    Args: params, lr (default 1e-4 from the C++ registry), betas (default (0.9, 0.99)), weight_decay,
    decoupled_weight_decay (default True: theta *= 1 - lr wd, as in the paper), nonfinite, maximize, fused,
    foreach: as in :class:`Signum`.
    """

    _name = "Lion"

    def __init__(self, params, lr=None, betas=None, weight_decay=0.0, decoupled_weight_decay=None, nonfinite="skip", *,
                 maximize=False, fused=None, foreach=None, differentiable=False):
        row = _registry.defaults("lion")
        self._init_from_registry(
            params, "lion", lr, decoupled_weight_decay, betas=(row["beta1"], row["beta2"]) if betas is None else
            tuple(betas), weight_decay=weight_decay, nonfinite=nonfinite, maximize=maximize, fused=fused,
            foreach=foreach, differentiable=differentiable)

    def _validate(self, group):
        super()._validate(group)
        betas = group["betas"]
        if len(betas) != 2:
            _options.fail(self._name, f"betas must be a pair (beta1, beta2), got {betas!r}")
        _options.number(self._name, "beta1", betas[0], high=1.0, high_open=True)
        _options.number(self._name, "beta2", betas[1], high=1.0, high_open=True)

    def _step_group(self, group, first_index, found_inf):
        params, _, grads, states, steps = self._prepare(group, first_index)
        if not params:
            return
        beta1, beta2 = (float(b) for b in group["betas"])
        exp_avgs = self._buffers("exp_avg", states, params)
        lr, wd, decoupled = group["lr"], float(group["weight_decay"]), group["decoupled_weight_decay"]
        if self._use_fused(group, grads, params + exp_avgs):
            self._op(ops.lion_step_, lr)(params, grads, exp_avgs, steps, found_inf, lr, wd, decoupled, beta1, beta2)
            return
        if self._use_foreach(group):
            self._foreach_steps(found_inf, steps, lambda: _reference.lion_foreach(
                params, grads, exp_avgs, float(lr), wd, decoupled, beta1, beta2))
            return
        self._reference_steps(found_inf, steps, lambda i: _reference.lion(
            params[i], grads[i], exp_avgs[i], float(lr), wd, decoupled, beta1, beta2))


from .hybrid import HybridSignSGD  # noqa: E402  (hybrid.py builds on the classes above)

__all__.append("HybridSignSGD")
