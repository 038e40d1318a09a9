#!/usr/bin/env python3
"""The hybrid's calibration study (issue 15, docs/results.md "The calibration"), from run directories.

  scripts/calibration_study.py oracle DIR [DIR...]
      Runs of the hybrid with --calibration fixed (configs/fmnist-oracle.toml) and with each estimator
      (configs/fmnist-estimators.toml): final validation accuracy per configuration over its seeds
      (mean +- sample std, min, max), the best fixed rate (the oracle), and each estimator's Lbar at the
      switch (summary.json calibration_estimates; the same for every run of one seed, since the sign phase
      does not depend on the SGD rate) as a ratio to the oracle.
  scripts/calibration_study.py auto METRICS_CSV [--tol T ...]
      When would the auto trigger fire? Replays SWATS's test on the per-step lambda_t and Lbar_t of a run
      logged with --log-every 1 (Signum --log-calibration, or the hybrid before its switch): the first step
      t > 1 with |Lbar_t - lambda_t| < tol Lbar_t (relative) or < tol (swats, absolute), per estimator.
      A step whose EMA update was skipped repeats the last lambda in the log and counts as taken here.

Standard library only; prints markdown.
"""
import csv
import json
import math
import os
import statistics
import sys

ESTIMATORS = ["swats", "least_squares", "norm", "momentum_ls"]


def spread(values):
    """'mean +- std' (sample std), min, max of a list of floats."""
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return mean, std, min(values), max(values)


def read_runs(dirs):
    runs = []
    for root in dirs:
        for name in sorted(os.listdir(root)):
            path = os.path.join(root, name)
            summary = os.path.join(path, "summary.json")
            config = os.path.join(path, "config.json")
            if not (os.path.isfile(summary) and os.path.isfile(config)):
                continue
            with open(summary) as f:
                s = json.load(f)
            with open(config) as f:
                c = json.load(f)
            runs.append((name, c, s))
    return runs


def option(config, key):
    """An option of config.json (written with dashes: fixed-lr)."""
    return config.get(key.replace("_", "-"), config.get(key))


def label(config):
    if option(config, "calibration") == "fixed":
        return "fixed %g" % option(config, "fixed_lr")
    return option(config, "calibration")


def oracle(dirs):
    runs = read_runs(dirs)
    if not runs:
        sys.exit("calibration_study.py: no run directories (summary.json + config.json) under " + ", ".join(dirs))
    groups = {}
    estimates = {}  # seed -> {estimator: Lbar at the switch}
    for name, c, s in runs:
        acc = s.get("final_val_accuracy") if s.get("status") == "completed" else None
        groups.setdefault(label(c), []).append((c["seed"], acc, s))
        if "calibration_estimates" in s:
            estimates.setdefault(c["seed"], s["calibration_estimates"])
    print("| configuration | seeds | final val accuracy (%) | min | max | rate at the switch |")
    print("|---|---:|---:|---:|---:|---:|")
    best = None
    for key in sorted(groups, key=lambda k: (not k.startswith("fixed"), float(k.split()[1]) if k.startswith("fixed") else 0, k)):
        rows = groups[key]
        accs = [a for _, a, _ in rows if a is not None]
        failed = len(rows) - len(accs)
        rates = [s.get("calibrated_lr") for _, _, s in rows]
        rate_text = ", ".join("%.4g" % r for r in rates if r is not None)
        if accs:
            mean, std, lo, hi = spread(accs)
            text = "%.2f ± %.2f" % (mean, std)
            if key.startswith("fixed") and failed == 0 and (best is None or mean > best[1]):
                best = (float(key.split()[1]), mean)
        else:
            text, lo, hi = "—", float("nan"), float("nan")
        note = " (%d failed)" % failed if failed else ""
        print("| %s | %d%s | %s | %.2f | %.2f | %s |" % (key, len(rows), note, text, lo, hi, rate_text))
    if best is None:
        return
    print()
    print("Oracle (best fixed rate, mean over seeds): %g (%.2f%%)." % best)
    print()
    print("| estimator | Lbar at the switch per seed | ratio to the oracle |")
    print("|---|---|---|")
    for e in ["swats", "least-squares", "norm", "momentum-ls"]:
        values = [estimates[seed][e] for seed in sorted(estimates) if e in estimates[seed]]
        if not values:
            continue
        print("| %s | %s | %s |" % (
            e, ", ".join("%.4g" % v for v in values), ", ".join("%.3g" % (v / best[0]) for v in values)))


def auto(path, tols):
    with open(path) as f:
        rows = [r for r in csv.DictReader(f) if r["kind"] == "step" and r.get("phase", "sign") in ("sign", "")]
    if not rows:
        sys.exit("calibration_study.py: no sign-phase step rows in " + path)
    steps = [int(r["step"]) for r in rows]
    if steps != list(range(steps[0], steps[0] + len(steps))):
        sys.exit("calibration_study.py: %s is not logged at every step (train with --log-every 1)" % path)
    print("| estimator | criterion | tol | fires after step | closest approach: min |Lbar - lambda| / Lbar (step) |")
    print("|---|---|---:|---:|---|")
    for e in ESTIMATORS:
        lam = [float(r["lambda_" + e]) for r in rows]
        lbar = [float(r["lambda_ema_" + e]) for r in rows]
        gaps = [(abs(b - a) / b if b > 0 else math.inf, t) for a, b, t in zip(lam, lbar, steps) if t > 1]
        closest = min(gaps)
        for criterion, tol in tols:
            fired = None
            for a, b, t in zip(lam, lbar, steps):
                if t <= 1:
                    continue
                gap = abs(b - a)
                if (gap < tol * b) if criterion == "relative" else (gap < tol):
                    fired = t
                    break
            print("| %s | %s | %g | %s | %.3g (step %d) |" % (
                e, criterion, tol, fired if fired is not None else "never (%d steps)" % steps[-1], closest[0], closest[1]))


def main(argv):
    if len(argv) < 3 or argv[1] not in ("oracle", "auto"):
        sys.exit(__doc__)
    if argv[1] == "oracle":
        oracle(argv[2:])
        return
    tols = [("relative", 1e-3), ("relative", 1e-2), ("relative", 1e-1), ("swats", 1e-9)]
    rest = argv[3:]
    if rest:
        if rest[0] != "--tol" or len(rest) < 2:
            sys.exit(__doc__)
        tols = [("relative", float(x)) for x in rest[1:]]
    auto(argv[2], tols)


if __name__ == "__main__":
    main(sys.argv)
