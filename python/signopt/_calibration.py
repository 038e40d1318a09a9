"""The hybrid's calibration as plain values (docs/optimizers.md#calibration), transcribed from the C++
value types of signopt/optim/calibration.h: one step's sums, lambda_t of each estimator, one estimator's
EMA (Calibrator), the bank of every estimator on the global sums, and the switch policy. All arithmetic is
Python float (IEEE double) in the C++ order of operations, so the rates equal the C++ library's bit for bit.
"""

import math

ESTIMATORS = ("swats", "least-squares", "norm", "momentum-ls")  # the C++ kEstimators, in order
CALIBRATIONS = ESTIMATORS + ("fixed",)
TRIGGERS = ("step", "epoch", "auto", "never")
CRITERIA = ("relative", "swats")
SCOPES = ("global", "per-tensor")
CONVENTIONS = ("dampened", "undampened")
INITS = ("zero", "momentum")


def tensor_sums(gamma, dot, gg, nnz, m_abs, m_sq):
    """CalibrationSums::of_tensor: [pp, pg, gg, pm, mm] of one tensor from its raw sums."""
    return [gamma * gamma * nnz, gamma * dot, gg, gamma * m_abs, m_sq]


def lambda_of(estimator, s, eps):
    """lambda_t of `estimator` from sums s = [pp, pg, gg, pm, mm], or NaN when the estimator skips the step."""
    pp, pg, gg, pm, mm = s
    nan = math.nan
    if estimator == "swats":
        value = pp / pg if pg > 0 else nan
    elif estimator == "least-squares":
        value = abs(pg) / (gg + eps) if gg > 0 else nan
    elif estimator == "norm":
        value = math.sqrt(pp) / math.sqrt(gg) if gg > 0 else nan
    elif estimator == "momentum-ls":
        value = pm / mm if mm > 0 else nan
    else:
        value = nan
    return value if math.isfinite(value) else nan


def new_state():
    """A Calibrator's state (CalibratorState): the EMA lbar, its update count, the last lambda, whether the
    latest update was taken."""
    return {"ema": 0.0, "updates": 0, "last": 0.0, "updated": False}


class Calibrator:
    """One estimator's EMA of lambda_t over a state dict (new_state()), with the hybrid's options."""

    def __init__(self, estimator, options, state=None):
        self.estimator = estimator
        self.o = options  # beta2, eps, bias_correction, scale, fixed_lr
        self.s = state if state is not None else new_state()

    def update(self, sums):
        lam = lambda_of(self.estimator, sums, self.o["eps"])
        self.s["updated"] = not math.isnan(lam)
        if self.s["updated"]:
            self.s["ema"] = self.o["beta2"] * self.s["ema"] + (1.0 - self.o["beta2"]) * lam
            self.s["updates"] += 1
            self.s["last"] = lam
        return self.s["updated"]

    def smoothed(self):
        if not self.o["bias_correction"]:
            return self.s["ema"]
        if self.s["updates"] == 0:
            return 0.0
        return self.s["ema"] / (1.0 - math.pow(self.o["beta2"], float(self.s["updates"])))

    def rate(self):
        base = self.o["fixed_lr"] if self.estimator == "fixed" else self.smoothed()
        return self.o["scale"] * base

    def converged(self, tol, criterion):
        if self.estimator == "fixed" or not self.s["updated"]:
            return False
        lbar = self.smoothed()
        gap = abs(lbar - self.s["last"])
        return gap < tol * lbar if criterion == "relative" else gap < tol


def fires(trigger, t, converged, switch_step, switch_epoch, steps_per_epoch):
    """SwitchPolicy::fires: whether the switch happens right after sign step t."""
    if trigger == "step":
        return t == switch_step
    if trigger == "epoch":
        return t == switch_epoch * steps_per_epoch
    if trigger == "auto":
        return t > 1 and converged
    return False
