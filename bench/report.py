#!/usr/bin/env python3
"""Turns bench_optimizers' JSON output into the markdown tables of docs/benchmarks.md.

Ratios are taken within the same run: each step time against the bandwidth floor (the rule's minimum
bytes at the plain-copy bandwidth measured for the same size), fused against reference, and against
LibTorch's SGD-momentum step.
"""
import json
import sys


def main(path):
    data = json.load(open(path))
    rows = {}
    for b in data["benchmarks"]:
        parts = b["name"].split("/")
        size = int([p for p in parts if p.isdigit()][0])
        name = "/".join(p for p in parts if not p.isdigit() and p != "real_time")
        ms = b["real_time"] if b["time_unit"] == "ms" else b["real_time"] / 1e6
        rows.setdefault(size, {})[name] = (ms, b.get("floor_bytes_per_param"))
    ctx = data["context"]
    print(f"Machine: {ctx.get('num_cpus')} x {ctx.get('mhz_per_cpu')} MHz, "
          f"torch threads {ctx.get('torch_threads')}, date {ctx.get('date')}\n")
    for size in sorted(rows):
        r = rows[size]
        copy_ms = r["Copy"][0]
        copy_gbs = 8 * size / copy_ms / 1e6
        sgd_ms = r.get("TorchSGDMomentum", (None,))[0]
        print(f"### {size:,} parameters (plain copy: {copy_ms:.2f} ms, {copy_gbs:.1f} GB/s)\n")
        print("| step | ms | GB/s at floor bytes | x floor | fused speed-up vs reference | x LibTorch SGD-momentum |")
        print("|---|---:|---:|---:|---:|---:|")
        for name, (ms, floor) in r.items():
            if name == "Copy":
                continue
            floor_ms = floor * size / (copy_gbs * 1e9) * 1e3
            speedup = ""
            if name.endswith("/fused"):
                ref = r.get(name.replace("/fused", "/reference"))
                if ref:
                    speedup = f"{ref[0] / ms:.1f}x"
            vs_sgd = f"{ms / sgd_ms:.2f}" if sgd_ms else ""
            print(f"| {name} | {ms:.2f} | {floor * size / ms / 1e6:.1f} | {ms / floor_ms:.2f} | {speedup} | {vs_sgd} |")
        print()


if __name__ == "__main__":
    main(sys.argv[1])
