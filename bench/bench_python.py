#!/usr/bin/env python3
"""Optimizer step time of signopt.optim against torch.optim and the peers, all measured in the same run.

Layouts: one float32 tensor of 1M, 11M or 100M elements, and 200 small tensors (200 x 4096). Steps:
signopt SignSGD, Signum, dithered Signum, EF-SignSGD and Lion (fused operators); torch.optim.SGD with
momentum 0.9 (foreach and fused), torch.optim.Adam (fused); pytorch_optimizer 4.1.0 SignSGD (momentum 0.9)
and Lion (foreach); lion-pytorch 0.2.5 Lion; and a plain copy (torch._foreach_copy_ of the parameters) for
the copy floor. The steps run in interleaved rounds (every optimizer once per round) so that drift of the
shared machine hits all alike; the table gives the median time per step over the rounds.

*x floor* = step time / (the rule's minimum traffic at the copy's bandwidth), as in docs/benchmarks.md:
bytes per element 12 for SignSGD (read p, g, write p), 20 for Signum, Lion, SGD-momentum and EF-SignSGD
(read p, g and the state, write p and the state), 28 for Adam (two states); the copy moves 8.

Usage: .venv/bin/python bench/bench_python.py [--layouts 1M,11M,100M,200x4096] [--rounds 15] [--json OUT]
(needs the installed package: scripts/test-python.sh's venv has it, with the peers).
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time

import torch

import signopt
from signopt import optim

LAYOUTS = {"1M": [1 << 20], "11M": [11_000_000], "100M": [100_000_000], "200x4096": [4096] * 200}
FLOOR_BYTES = {"signopt SignSGD": 12, "signopt Signum": 20, "signopt Signum+dither": 20, "signopt EFSignSGD": 20,
               "signopt Lion": 20, "signopt HybridSignSGD (sign phase)": 20, "torch SGD foreach": 20, "torch SGD fused": 20, "torch Adam fused": 28,
               "pytorch_optimizer SignSGD": 20, "pytorch_optimizer Lion": 20, "lion-pytorch Lion": 20}


def peers():
    out = {}
    try:
        import pytorch_optimizer

        out["pytorch_optimizer SignSGD"] = lambda ps: pytorch_optimizer.SignSGD(ps, lr=1e-4, momentum=0.9, foreach=True)
        out["pytorch_optimizer Lion"] = lambda ps: pytorch_optimizer.Lion(ps, lr=1e-4, foreach=True)
    except ImportError:
        print("[bench] pytorch_optimizer is not installed: its rows are left out", file=sys.stderr)
    try:
        import lion_pytorch

        out["lion-pytorch Lion"] = lambda ps: lion_pytorch.Lion(ps, lr=1e-4)
    except ImportError:
        print("[bench] lion-pytorch is not installed: its rows are left out", file=sys.stderr)
    return out


def makers():
    m = {
        "signopt SignSGD": lambda ps: optim.SignSGD(ps, lr=1e-4),
        "signopt Signum": lambda ps: optim.Signum(ps, lr=1e-4, momentum=0.9),
        "signopt Signum+dither": lambda ps: optim.Signum(ps, lr=1e-4, momentum=0.9, dither=True),
        "signopt EFSignSGD": lambda ps: optim.EFSignSGD(ps, lr=1e-4),
        "signopt Lion": lambda ps: optim.Lion(ps, lr=1e-4),
        "signopt HybridSignSGD (sign phase)": lambda ps: optim.HybridSignSGD(ps, lr=1e-4, trigger="never"),
        "torch SGD foreach": lambda ps: torch.optim.SGD(ps, lr=1e-4, momentum=0.9, foreach=True),
        "torch SGD fused": lambda ps: torch.optim.SGD(ps, lr=1e-4, momentum=0.9, fused=True),
        "torch Adam fused": lambda ps: torch.optim.Adam(ps, lr=1e-4, fused=True),
    }
    m.update(peers())
    return m


class CopyStep:
    """The copy floor: one read and one write of every parameter."""

    def __init__(self, ps):
        self.src = ps
        self.dst = [torch.empty_like(p) for p in ps]

    def step(self):
        torch._foreach_copy_(self.dst, self.src)


def bench_layout(name, sizes, rounds, steps_per_round):
    # One set of parameters and gradients serves every optimizer (each keeps its own state), so that 100M
    # elements fit in memory; the values drift by the steps but stay finite.
    g = torch.Generator().manual_seed(0)
    ps = [torch.randn(n, generator=g) for n in sizes]
    for p in ps:
        p.grad = torch.randn(p.shape, generator=g)
    entries = {}
    for label, make in [("copy", CopyStep)] + list(makers().items()):
        opt = make(ps)
        opt.step()  # lazy state
        entries[label] = (opt, [])
    for _ in range(rounds):
        for label, (opt, times) in entries.items():
            t0 = time.perf_counter()
            for _ in range(steps_per_round):
                opt.step()
            times.append((time.perf_counter() - t0) / steps_per_round)
    elements = sum(sizes)
    copy_ms = statistics.median(entries["copy"][1]) * 1e3
    copy_bw = 8 * elements / (copy_ms * 1e-3)
    rows = []
    for label, (_, times) in entries.items():
        ms = statistics.median(times) * 1e3
        floor_ms = FLOOR_BYTES.get(label, 8) * elements / copy_bw * 1e3
        rows.append({"layout": name, "step": label, "ms": ms, "min_ms": min(times) * 1e3, "x_floor": ms / floor_ms})
    print(f"\n### {name} ({elements:,} float32 elements; copy {copy_ms:.3f} ms, {copy_bw / 1e9:.1f} GB/s)\n")
    print("| step | ms (median) | ms (min) | x floor |")
    print("|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['step']} | {r['ms']:.3f} | {r['min_ms']:.3f} | {r['x_floor']:.2f} |")
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layouts", default="1M,11M,100M,200x4096", help="comma-separated: " + ", ".join(LAYOUTS))
    ap.add_argument("--rounds", type=int, default=15, help="interleaved rounds (the median is over them)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--json", help="also write the rows to this file")
    args = ap.parse_args()
    bad = [l for l in args.layouts.split(",") if l not in LAYOUTS]
    if bad or not 1 <= args.rounds <= 1000:
        ap.error(f"unknown layout(s) {bad} (valid: {', '.join(LAYOUTS)}) or --rounds outside 1..1000")
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"signopt {signopt.__version__}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs")
    rows = []
    for name in args.layouts.split(","):
        steps = 1 if name == "100M" else (3 if name == "11M" else 20)
        rows += bench_layout(name, LAYOUTS[name], args.rounds, steps)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
