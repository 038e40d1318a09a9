"""The C++ optimizer registry (signopt/optim/registry.h), exported as ``registry.json`` when the package is
built: each optimizer's defaults and the defaults of pre-sign dithering. The classes of signopt.optim read
their defaults here, so Python and C++ cannot disagree."""

import json
import os

_PATH = os.environ.get("SIGNOPT_REGISTRY_JSON") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "registry.json")

with open(_PATH, encoding="utf-8") as _f:
    _DATA = json.load(_f)

_ROWS = {row["name"]: row for row in _DATA["optimizers"]}
DITHER_DEFAULTS = dict(_DATA["dither"])
# SignSGD's, Signum's and HybridSignSGD's options for 16-bit parameters: rounding, rounding_seed, momentum_dtype.
LOW_PRECISION_DEFAULTS = dict(_DATA["low_precision"])


def optimizer_registry():
    """Every row of the C++ registry, in registry order (a list of dicts: name, summary, family, dither,
    dither_always, votes, aggregation, defaults)."""
    return [dict(row) for row in _DATA["optimizers"]]


def defaults(name):
    """The defaults of the registry row `name` (lr, momentum, beta1, beta2, eps, decoupled_weight_decay)."""
    if name not in _ROWS:
        raise KeyError(f"signopt: no optimizer {name!r} in the registry (valid: {', '.join(_ROWS)})")
    return dict(_ROWS[name]["defaults"])
