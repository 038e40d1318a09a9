#!/usr/bin/env python3
"""Checks scripts/calibration_study.py on run directories and a metrics.csv with known answers."""
import json
import os
import subprocess
import sys
import tempfile

SCRIPT = sys.argv[1]
COLUMNS = ["kind", "split", "epoch", "step", "loss", "accuracy", "lr", "phase", "calibrated_lr", "dither_alpha",
           "bytes_sent", "bytes_received", "comm_s"]
EST = ["swats", "least_squares", "norm", "momentum_ls"]
for e in EST:
    COLUMNS += ["lambda_" + e, "lambda_ema_" + e]
COLUMNS += ["img_per_s", "elapsed_s"]


def run(*args):
    out = subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit("calibration_study.py failed: " + out.stderr)
    return out.stdout


def check(cond, what):
    if not cond:
        raise SystemExit("FAILED: " + what)


with tempfile.TemporaryDirectory() as tmp:
    # auto: lambda_t = 1 + 0.5^t, Lbar_t = 1 -> relative gap 0.5^t: below 1e-3 first at t = 10, below 1e-2 at
    # t = 7; swats' absolute test with 1e-9 never within 12 steps; the other estimators are constant (fire at t = 2).
    path = os.path.join(tmp, "metrics.csv")
    with open(path, "w") as f:
        f.write(",".join(COLUMNS) + "\n")
        for t in range(1, 13):
            values = {"kind": "step", "split": "train", "epoch": "1", "step": str(t), "phase": "sign"}
            for e in EST:
                values["lambda_" + e] = repr(1 + 0.5 ** t) if e == "swats" else "2"
                values["lambda_ema_" + e] = "1" if e == "swats" else "2"
            f.write(",".join(values.get(c, "0") for c in COLUMNS) + "\n")
        f.write("epoch,test,1,12,0,0,0,sign" + ",0" * (len(COLUMNS) - 8) + "\n")
    table = run("auto", path)
    check("| swats | relative | 0.001 | 10 |" in table, "swats fires at 10 with tol 1e-3:\n" + table)
    check("| swats | relative | 0.01 | 7 |" in table, "swats fires at 7 with tol 1e-2:\n" + table)
    check("| swats | swats | 1e-09 | never (12 steps) |" in table, "absolute 1e-9 never:\n" + table)
    check("| norm | relative | 0.001 | 2 |" in table, "constant lambda fires at t = 2:\n" + table)
    # Steps that are not consecutive are refused (the replay needs every step).
    with open(path, "a") as f:
        f.write("step,train,1,20,0,0,0,sign" + ",1" * (len(COLUMNS) - 8) + "\n")
    out = subprocess.run([sys.executable, SCRIPT, "auto", path], capture_output=True, text=True)
    check(out.returncode != 0 and "--log-every 1" in out.stderr, "gaps in the steps are an error: " + out.stderr)

    # oracle: two fixed rates over two seeds, one estimator run; the best mean is the oracle.
    root = os.path.join(tmp, "runs")
    for name, cal, lr, seed, acc in [("a", "fixed", 0.1, 0, 90.0), ("b", "fixed", 0.1, 1, 91.0),
                                     ("c", "fixed", 1.0, 0, 92.0), ("d", "fixed", 1.0, 1, 93.0),
                                     ("e", "swats", 0.0, 0, 10.0)]:
        d = os.path.join(root, name)
        os.makedirs(d)
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump({"calibration": cal, "fixed-lr": lr, "seed": seed}, f)
        with open(os.path.join(d, "summary.json"), "w") as f:
            json.dump({"status": "completed", "final_val_accuracy": acc, "calibrated_lr": lr or 8.0,
                       "calibration_estimates": {"swats": 8.0, "least-squares": 0.05 * (seed + 1), "norm": 0.5,
                                                 "momentum-ls": 0.4}}, f)
    table = run("oracle", root)
    check("Oracle (best fixed rate, mean over seeds): 1 (92.50%)." in table, "oracle:\n" + table)
    check("| fixed 0.1 | 2 | 90.50 ± 0.71 | 90.00 | 91.00 |" in table, "fixed 0.1 row:\n" + table)
    check("| least-squares | 0.05, 0.1 | 0.05, 0.1 |" in table, "ratios per seed:\n" + table)
    check("| swats | 8, 8 | 8, 8 |" in table, "swats ratio:\n" + table)
print("calibration_study.py: all checks passed")
