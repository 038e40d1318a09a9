"""HybridSignSGD: Signum first, then SGD at a learning rate calibrated by projecting the sign step onto the
gradient (docs/algorithms.md section 4, docs/optimizers.md#hybridsignsgd): the paper's method.

The step follows the C++ class (src/optim/hybrid.cpp) operation for operation: the fused sign phase runs the
operator ``signopt::hybrid_sign_phase_`` (the Signum kernel plus each tensor's calibration sums), the SGD
phase ``signopt::sgd_step_``; the calibration, the switch and the hand-over are Python float arithmetic in the
C++ order, so the trajectories and rates equal the C++ library's. Steps that the fused operators do not
cover (beta1 = 0, the hand-over, tracking after the switch, tensors the operators do not take) run as a
composition of torch ops, as the C++ class's unfused branch does; their calibration sums are torch's double
sums, equal to the C++ kernels' to rounding.

The hybrid synchronises with the host every step (the switch decision needs the sums), so under
torch.compile its step runs with graph breaks; it is not meant to be compiled.
"""

import math
import warnings

import torch

from . import _calibration as cal
from . import _options, _reference, _registry
from ._ops import ops
from .optim import (_HALF_DTYPES, _SignoptOptimizer, _dither_bases, _dither_op_args, _fused_supported,
                    _half_supported, _store_rounded)

__all__ = ["HybridSignSGD"]

_HEAD_OPTIONS = ("trigger", "switch_step", "switch_epoch", "steps_per_epoch", "auto_tol", "auto_criterion",
                 "bias_correction", "calibration", "calibration_scope", "calibration_scale", "fixed_lr",
                 "post_switch_convention", "post_switch_init", "handover_steps", "fallback_lr", "track_after_switch",
                 "betas", "eps")


class HybridSignSGD(_SignoptOptimizer):
    """Signum -> SGD with a projection-calibrated learning rate, as a ``torch.optim.Optimizer``.

    Args (the C++ HybridSignSGDOptions, defaults from the C++ registry and class):
        lr: gamma, the sign phase's rate (1e-4); its schedule also scales the SGD phase (eta * lr / lr at
            the switch).
        betas: (beta1, beta2) = (0.9, 0.999): the sign phase's EMA and the calibration EMA's decay.
        eps: 1e-8 (least-squares: added to ||g||^2).
        weight_decay, decoupled_weight_decay: as in Signum (coupled by default).
        trigger: "auto" (SWATS-style: |Lbar - lambda| < auto_tol Lbar, or < auto_tol with
            auto_criterion="swats"), "step" (switch after step switch_step), "epoch" (after epoch switch_epoch
            of steps_per_epoch steps) or "never".
        calibration: "norm" (default), "swats", "least-squares", "momentum-ls" or "fixed" (fixed_lr);
            calibration_scope "global" or "per-tensor"; calibration_scale (1); bias_correction (True).
        post_switch_momentum (0), post_switch_convention ("dampened": step (1 - mu) v, or "undampened": v),
            post_switch_init ("zero" or "momentum": v = m / (1 - mu) at the switch).
        handover_steps: K steps of linear hand-over from the sign step to the SGD step (0).
        fallback_lr: the SGD rate when the calibrated one is not finite or <= 0 at the switch (0.01).
        track_after_switch: keep calibrating after the switch and use eta_t = the current rate (False).
        dither, nonfinite, maximize, fused, foreach: as in Signum.
        rounding, rounding_seed, momentum_dtype: as in Signum, for bfloat16/float16 parameters in both phases
            (m and the SGD phase's v take momentum_dtype; docs/optimizers.md, "Low-precision parameters").
    Switch and calibration options are global: the first param group's are used, as in C++.
    """

    _name = "HybridSignSGD"

    def __init__(self, params, lr=None, betas=None, eps=None, weight_decay=0.0, decoupled_weight_decay=None,
                 trigger="auto", switch_step=0, switch_epoch=0, steps_per_epoch=0, auto_tol=1e-3,
                 auto_criterion="relative", bias_correction=True, calibration="norm", calibration_scope="global",
                 calibration_scale=1.0, fixed_lr=0.0, post_switch_momentum=0.0, post_switch_convention="dampened",
                 post_switch_init="zero", handover_steps=0, fallback_lr=0.01, track_after_switch=False, dither=None,
                 nonfinite="skip", *, maximize=False, fused=None, foreach=None, differentiable=False, rounding=None,
                 rounding_seed=None, momentum_dtype=None):
        row = _registry.defaults("hybrid")
        low = _registry.LOW_PRECISION_DEFAULTS
        self._init_from_registry(
            params, "hybrid", lr, decoupled_weight_decay, betas=(row["beta1"], row["beta2"]) if betas is None else
            tuple(betas), eps=row["eps"] if eps is None else eps, weight_decay=weight_decay, trigger=trigger,
            switch_step=switch_step, switch_epoch=switch_epoch, steps_per_epoch=steps_per_epoch, auto_tol=auto_tol,
            auto_criterion=auto_criterion, bias_correction=bias_correction, calibration=calibration,
            calibration_scope=calibration_scope, calibration_scale=calibration_scale, fixed_lr=fixed_lr,
            post_switch_momentum=post_switch_momentum, post_switch_convention=post_switch_convention,
            post_switch_init=post_switch_init, handover_steps=handover_steps, fallback_lr=fallback_lr,
            track_after_switch=track_after_switch, dither=_options.dither(self._name, dither), nonfinite=nonfinite,
            maximize=maximize, fused=fused, foreach=foreach, differentiable=differentiable,
            rounding=low["rounding"] if rounding is None else rounding,
            rounding_seed=low["rounding_seed"] if rounding_seed is None else rounding_seed,
            momentum_dtype=low["momentum_dtype"] if momentum_dtype is None else momentum_dtype)
        self._h = self._new_hybrid_state()
        # Set by signopt.distributed.majority_vote_hook in the sign phase: parameter -> the workers' summed raw
        # calibration sums of this step, its gradient being the voted direction.
        self._voted = {}

    @staticmethod
    def _new_hybrid_state():
        return {"step": 0, "phase": "sign", "switch_step": -1, "lr_sgd": 0.0, "bank_steps": 0,
                "bank": {e: cal.new_state() for e in cal.ESTIMATORS}}

    # ---- options -------------------------------------------------------------------------------------------

    def _validate(self, group):
        super()._validate(group)
        who = self._name
        betas = group["betas"]
        if len(betas) != 2:
            _options.fail(who, f"betas must be a pair (beta1, beta2), got {betas!r}")
        _options.number(who, "beta1", betas[0], high=1.0, high_open=True)
        _options.number(who, "beta2", betas[1], high=1.0, high_open=True)
        _options.number(who, "eps", group["eps"])
        _options.number(who, "post_switch_momentum", group["post_switch_momentum"], high=1.0, high_open=True)
        _options.number(who, "fixed_lr", group["fixed_lr"])
        _options.number(who, "auto_tol", group["auto_tol"])
        for name in ("fallback_lr", "calibration_scale"):
            if _options.number(who, name, group[name]) <= 0:
                _options.fail(who, f"{name} must be > 0, got {group[name]!r}")
        _options.choice(who, "trigger", group["trigger"], cal.TRIGGERS)
        _options.choice(who, "auto_criterion", group["auto_criterion"], cal.CRITERIA)
        _options.choice(who, "calibration", group["calibration"], cal.CALIBRATIONS)
        _options.choice(who, "calibration_scope", group["calibration_scope"], cal.SCOPES)
        _options.choice(who, "post_switch_convention", group["post_switch_convention"], cal.CONVENTIONS)
        _options.choice(who, "post_switch_init", group["post_switch_init"], cal.INITS)
        _options.flag(who, "bias_correction", group["bias_correction"])
        _options.flag(who, "track_after_switch", group["track_after_switch"])
        for name in ("switch_step", "switch_epoch", "steps_per_epoch", "handover_steps"):
            v = group[name]
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                _options.fail(who, f"{name} must be an integer >= 0, got {v!r}")
        if group["calibration"] == "fixed":
            if group["fixed_lr"] <= 0:
                _options.fail(who, f"calibration 'fixed' needs fixed_lr > 0 (the SGD rate), got {group['fixed_lr']!r}")
            if group["trigger"] == "auto":
                _options.fail(who, "the auto trigger tests the calibration's convergence, and calibration 'fixed' has "
                                   "none: use the step, epoch or never trigger")
        if group["trigger"] == "step" and group["switch_step"] <= 0:
            _options.fail(who, f"switch_step must be > 0 with the step trigger, got {group['switch_step']}")
        if group["trigger"] == "epoch" and (group["switch_epoch"] <= 0 or group["steps_per_epoch"] <= 0):
            _options.fail(who, "the epoch trigger needs switch_epoch > 0 and steps_per_epoch > 0 (the step that ends "
                               f"epoch E is E * steps_per_epoch), got {group['switch_epoch']} and {group['steps_per_epoch']}")
        if group["trigger"] == "auto" and group["auto_tol"] <= 0:
            _options.fail(who, f"auto_tol must be > 0, got {group['auto_tol']!r}")
        group["dither"] = _options.dither(who, group["dither"])
        _options.low_precision(who, group)

    def _head(self):
        return self.param_groups[0]

    def _calibrator_options(self):
        h = self._head()
        return {"beta2": float(h["betas"][1]), "eps": float(h["eps"]), "bias_correction": h["bias_correction"],
                "scale": float(h["calibration_scale"]), "fixed_lr": float(h["fixed_lr"])}

    def _selected(self):
        """The global calibration of the selected estimator: the bank's EMA with the head's scale (fixed: none)."""
        h = self._head()
        if h["calibration"] == "fixed":
            return cal.Calibrator("fixed", self._calibrator_options())
        return cal.Calibrator(h["calibration"], self._calibrator_options(), dict(self._h["bank"][h["calibration"]]))

    # ---- what the user reads -------------------------------------------------------------------------------

    @property
    def phase(self):
        """"sign" before the switch, "sgd" after it."""
        return self._h["phase"]

    @property
    def switch_step(self):
        """The step after which the switch happened, or -1 before it."""
        return self._h["switch_step"]

    @property
    def step_count(self):
        """Steps taken (not counting skipped ones)."""
        return self._h["step"]

    def calibrated_lr(self):
        """The selected calibration's rate (scale * Lbar, or the fixed rate) in the sign phase, the SGD rate
        after the switch (per-tensor scope: the mean over tensors)."""
        h = self._head()
        live = self._h["phase"] == "sign" or h["track_after_switch"]
        if h["calibration_scope"] == "global":
            return self._selected().rate() if live else self._h["lr_sgd"]
        values = [cal.Calibrator(h["calibration"], self._calibrator_options(), self._calib_state(st)).rate() if live
                  else st.get("lr_sgd", 0.0) for st in self.state.values()]
        return sum(values) / len(values) if values else 0.0

    def last_lambda(self):
        """The most recent lambda_t (per-tensor scope: the mean over tensors)."""
        if self._head()["calibration_scope"] == "global":
            return self._selected().s["last"]
        values = [st.get("calibration_last", 0.0) for st in self.state.values()]
        return sum(values) / len(values) if values else 0.0

    def calibration_bank(self):
        """Every estimator's (lambda_t, Lbar_t) on the global sums, updated on every calibrating step."""
        o = self._calibrator_options()
        o["scale"] = 1.0
        return {e: (s["last"], cal.Calibrator(e, o, dict(s)).smoothed()) for e, s in self._h["bank"].items()}

    # ---- state ---------------------------------------------------------------------------------------------

    @staticmethod
    def _calib_state(st):
        return {"ema": st.get("calibration_ema", 0.0), "updates": st.get("calibration_updates", 0),
                "last": st.get("calibration_last", 0.0), "updated": st.get("calibration_updated", False)}

    def _extra_state(self):
        extra = super()._extra_state()
        h = dict(self._h)
        h["bank"] = {e: dict(s) for e, s in self._h["bank"].items()}
        extra["hybrid"] = h
        return extra

    def _load_extra_state(self, extra):
        super()._load_extra_state(extra)
        saved = extra["hybrid"]
        self._h = self._new_hybrid_state()
        self._h.update({k: saved[k] for k in ("step", "phase", "switch_step", "lr_sgd", "bank_steps")})
        self._h["bank"] = {e: dict(saved["bank"][e]) for e in cal.ESTIMATORS}

    def _missing_extra_state(self, state_dict):
        if state_dict.get("state"):
            raise ValueError(
                "HybridSignSGD.load_state_dict: the state_dict has per-parameter state but no \"signopt_state\" in its "
                "first param group, so the phase, the switch and the calibration are unknown; load a state_dict that "
                "HybridSignSGD.state_dict() (or torch.distributed.checkpoint from it) wrote")
        return {"epoch": 0, "skipped_steps": 0, "hybrid": self._new_hybrid_state()}

    def switch_now(self):
        """Forces the switch now, as if the trigger fired after the last step."""
        if self._h["phase"] == "sign":
            self._do_switch()

    # ---- the step ------------------------------------------------------------------------------------------

    @torch.no_grad()
    def step(self, closure=None):
        """One step (sign or SGD phase), the calibration, and the switch when the trigger fires."""
        loss = self._run_closure(closure)
        if not self.param_groups:
            return loss
        found_inf = self._found_nonfinite()
        if found_inf is not None and found_inf.item():
            self._skipped.add_(1)
            return loss
        h = self._head()
        self._h["step"] += 1
        plan = self._plan()
        items = self._sign_or_sgd_items(plan)
        converged = self._calibrate(plan, items)
        self._apply(plan, items)
        if plan["sign_phase"] and cal.fires(h["trigger"], self._h["step"], plan["calibrate"] and converged,
                                            h["switch_step"], h["switch_epoch"], h["steps_per_epoch"]):
            self._do_switch()
        return loss

    def _plan(self):
        h = self._head()
        sign_phase = self._h["phase"] == "sign"
        after = 0 if sign_phase else self._h["step"] - self._h["switch_step"]
        in_handover = not sign_phase and h["handover_steps"] > 0 and after <= h["handover_steps"]
        calibrate = sign_phase or h["track_after_switch"]
        return {"sign_phase": sign_phase, "after": after, "in_handover": in_handover, "calibrate": calibrate,
                "need_sign": calibrate or in_handover, "dampened": h["post_switch_convention"] == "dampened"}

    def _sign_or_sgd_items(self, plan):
        """Each parameter with a gradient as an item (HybridSignSGD::add_item_), in parameter order: the fused
        sign phase runs per group on hybrid_sign_phase_; the rest prepares the unfused update."""
        items, index = [], 0
        for group in self.param_groups:
            fused, fused_half = [], []
            for p in group["params"]:
                param_index, index = index, index + 1
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError(f"signopt.optim.{self._name} does not support sparse gradients")
                st = self.state[p]
                self._step_tensor(st)
                g = -p.grad if group["maximize"] else p.grad
                if plan["need_sign"]:
                    self._buffer(st, "exp_avg", p, _options.momentum_dtype(group, p))
                if not plan["sign_phase"] and group["post_switch_momentum"] > 0:
                    self._buffer(st, "momentum_buffer", p, _options.momentum_dtype(group, p))
                # A 16-bit parameter off the fused operators is stepped on a float32 copy "p" and stored into
                # "target" by its rounding (_finish).
                item = {"p": p, "g": g, "st": st, "group": group, "index": param_index, "u": None,
                        "sums": [0.0] * 5, "updated": False, "target": None}
                items.append(item)
                voted = self._voted.pop(p, None)
                if voted is not None and plan["sign_phase"]:
                    # The workers voted on their signs (signopt.distributed): the gradient is the voted direction
                    # and the sums are the workers' totals; the worker's own m was updated by the hook.
                    st["step"].add_(1)
                    item["u"], item["sums"] = p.grad, voted
                    if p.dtype in _HALF_DTYPES:
                        item["target"], item["p"] = p, p.detach().float()
                    continue
                beta1 = float(group["betas"][0])
                half = p.dtype in _HALF_DTYPES
                supported = (_half_supported if half else _fused_supported)([p, g, st["exp_avg"]])
                if plan["sign_phase"] and beta1 > 0 and group["fused"] is not False and supported:
                    (fused_half if half else fused).append(item)  # the step count is the operator's to increment
                    continue
                if group["fused"] is True and (plan["sign_phase"] or plan["calibrate"] or plan["in_handover"]):
                    if not supported or beta1 == 0:
                        raise RuntimeError(f"signopt.optim.{self._name}: fused=True needs beta1 > 0 and contiguous CPU "
                                           "float32/float64/bfloat16/float16 tensors in the sign phase")
                st["step"].add_(1)
                self._unfused_item(plan, item, beta1)
            if fused:
                self._fused_sign_phase(group, fused, ops.hybrid_sign_phase_)
            if fused_half:
                self._fused_sign_phase(group, fused_half, ops.hybrid_sign_phase_half_, group["rounding"] == "stochastic",
                                       _reference.signed_seed(group["rounding_seed"]))
        return items

    def _fused_sign_phase(self, group, fused, op, *rounding):
        """The fused sign phase of `fused` items on `op` (hybrid_sign_phase_, or hybrid_sign_phase_half_ with the
        rounding's (stochastic, seed))."""
        d = group["dither"]
        sums = torch.zeros((len(fused), 5), dtype=torch.float64)
        lr = group["lr"]
        self._op(op, lr)([it["p"] for it in fused], [it["g"] for it in fused], [it["st"]["exp_avg"] for it in fused],
                         [it["st"]["step"] for it in fused], None, lr, float(group["weight_decay"]),
                         group["decoupled_weight_decay"], float(group["betas"][0]), [it["index"] for it in fused],
                         *_dither_op_args(d), self._epoch_arg(d), _dither_bases(d, [it["st"] for it in fused]),
                         *rounding, sums)
        for it, row in zip(fused, sums.tolist()):
            it["sums"] = row
            it["updated"] = True

    def _epoch_arg(self, d):
        return self._epoch if d is not None and d["clock"] == "epoch" else -1

    def _unfused_item(self, plan, it, beta1):
        """The C++ class's unfused branch: coupled decay into g, the sign direction when needed (m updated), and
        the calibration sums from torch's double sums; the plain fused SGD phase is left to _apply."""
        p, st, group = it["p"], it["st"], it["group"]
        half = p.dtype in _HALF_DTYPES
        tensors = [p, it["g"]] + ([st["momentum_buffer"]] if "momentum_buffer" in st else [])
        if not plan["sign_phase"] and not plan["calibrate"] and not plan["in_handover"] and group["fused"] is not False \
                and (_half_supported if half else _fused_supported)(tensors):
            it["updated"] = True  # the plain SGD phase: sgd_step_ once eta is known (g stays the raw gradient)
            return
        if half:
            it["target"], p = p, p.detach().float()
            it["p"], it["g"] = p, it["g"].float()
        wd = float(group["weight_decay"])
        if wd != 0 and not group["decoupled_weight_decay"]:
            it["g"] = it["g"] + p * wd
        if plan["need_sign"]:
            d = group["dither"]
            step = int(st["step"])
            epoch = self._epoch_arg(d)
            tick = epoch if epoch >= 0 else step - 1
            alpha = _reference.dither_alpha(d, tick) if d is not None else 0.0
            with _reference.float32_working(st["exp_avg"]) as m:
                it["u"] = _reference.sign_direction(it["g"], m, beta1, d, alpha, step, it["index"],
                                                    self._stored_base_of(st, d))
                if beta1 == 0:
                    m.copy_(it["g"])
        if plan["calibrate"]:
            it["sums"] = _reference.calibration_sums(it["u"], it["g"], st["exp_avg"])

    def _calibrate(self, plan, items):
        """lambda_t of the selected estimator and its EMA (global or per tensor); the bank follows every estimator
        on the global sums. Returns whether the calibration converged (the auto trigger's test)."""
        converged = len(items) > 0
        if not plan["calibrate"]:
            return converged
        h = self._head()
        options = self._calibrator_options()
        total = [0.0] * 5
        for it in items:
            r = it["sums"]
            t = cal.tensor_sums(float(it["group"]["lr"]), r[0], r[1], r[2], r[3], r[4])
            total = [a + b for a, b in zip(total, t)]
            if h["calibration_scope"] == "per-tensor":
                st = it["st"]
                c = cal.Calibrator(h["calibration"], options, self._calib_state(st))
                c.update(t)
                st.update({"calibration_ema": c.s["ema"], "calibration_updates": c.s["updates"],
                           "calibration_last": c.s["last"], "calibration_updated": c.s["updated"]})
                converged = converged and c.converged(float(h["auto_tol"]), h["auto_criterion"])
        bank_options = dict(options, scale=1.0)
        for e in cal.ESTIMATORS:
            cal.Calibrator(e, bank_options, self._h["bank"][e]).update(total)
        self._h["bank_steps"] += 1
        if h["calibration_scope"] == "global":
            converged = self._selected().converged(float(h["auto_tol"]), h["auto_criterion"])
        return converged

    def _eta(self, plan, it, global_rate):
        h = self._head()
        gamma = float(it["group"]["lr"])
        st = it["st"]
        fallback = float(h["fallback_lr"])
        if h["track_after_switch"]:
            tracked = global_rate if h["calibration_scope"] == "global" else cal.Calibrator(
                h["calibration"], self._calibrator_options(), self._calib_state(st)).rate()
            return tracked if math.isfinite(tracked) and tracked > 0 else fallback
        lr_sgd = self._h["lr_sgd"] if h["calibration_scope"] == "global" else st.get("lr_sgd", 0.0)
        s_sw = st.get("switch_lr", 0.0)
        s_sw = s_sw if s_sw > 0 else gamma
        return (lr_sgd if lr_sgd > 0 else fallback) * gamma / s_sw

    def _apply(self, plan, items):
        h = self._head()
        global_rate = self._selected().rate() if not plan["sign_phase"] and h["track_after_switch"] and \
            h["calibration_scope"] == "global" else 0.0
        for it in items:
            p, group, st = it["p"], it["group"], it["st"]
            gamma = float(group["lr"])
            wd = float(group["weight_decay"])
            decoupled = group["decoupled_weight_decay"]
            if plan["sign_phase"]:
                if it["updated"]:
                    continue
                if decoupled and wd != 0:
                    p.mul_(1.0 - gamma * wd)
                p.add_(it["u"], alpha=-gamma)
                self._finish(it)
                continue
            eta = self._eta(plan, it, global_rate)
            mu = float(group["post_switch_momentum"])
            if it["updated"]:
                bufs = [st["momentum_buffer"]] if mu > 0 else []
                if p.dtype in _HALF_DTYPES:
                    ops.sgd_step_half_([p], [it["g"]], bufs, [st["step"]], eta, wd, decoupled, mu, plan["dampened"],
                                       [it["index"]], group["rounding"] == "stochastic",
                                       _reference.signed_seed(group["rounding_seed"]))
                else:
                    ops.sgd_step_([p], [it["g"]], bufs, eta, wd, decoupled, mu, plan["dampened"])
                continue
            if decoupled and wd != 0:
                p.mul_(1.0 - eta * wd)
            direction = it["g"]
            if mu > 0:
                with _reference.float32_working(st["momentum_buffer"]) as v:
                    v.mul_(mu).add_(it["g"])
                    direction = v * (1.0 - mu) if plan["dampened"] else v
            if plan["in_handover"]:
                w = float(plan["after"]) / float(h["handover_steps"])
                p.sub_(it["u"] * ((1.0 - w) * gamma) + direction * (w * eta))
            else:
                p.sub_(direction * eta)
            self._finish(it)

    @staticmethod
    def _finish(it):
        """Stores a 16-bit parameter's float32 result (an item stepped on a float32 copy) by its group's rounding."""
        if it["target"] is not None:
            _store_rounded(it["target"], it["p"], it["group"], int(it["st"]["step"]), it["index"])

    def _do_switch(self):
        h = self._head()
        fallback = float(h["fallback_lr"])

        def checked(lr, what):
            if math.isfinite(lr) and lr > 0:
                return lr
            warnings.warn(f"HybridSignSGD: calibrated SGD learning rate {what} is {lr} at the switch after step "
                          f"{self._h['step']}; using fallback_lr = {fallback}", RuntimeWarning)
            return fallback

        self._h["phase"] = "sgd"
        self._h["switch_step"] = self._h["step"]
        options = self._calibrator_options()
        if h["calibration_scope"] == "global":
            self._h["lr_sgd"] = checked(self._selected().rate(), "(global)")
        index = 0
        for group in self.param_groups:
            for p in group["params"]:
                param_index, index = index, index + 1
                st = self.state.get(p)
                if not st:
                    continue
                st["switch_lr"] = float(group["lr"])
                if h["calibration_scope"] == "per-tensor":
                    st["lr_sgd"] = checked(cal.Calibrator(h["calibration"], options, self._calib_state(st)).rate(),
                                           f"of parameter {param_index}")
                mu = float(group["post_switch_momentum"])
                if h["post_switch_init"] == "momentum" and mu > 0 and "exp_avg" in st:
                    st["momentum_buffer"] = st["exp_avg"] / (1.0 - mu)
