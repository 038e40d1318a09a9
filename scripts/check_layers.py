#!/usr/bin/env python3
"""Checks that #includes run one way through signopt's layers (docs/architecture.md):

    apps -> {experiments, report} -> train -> {optim, comm, data, models, diag, io} -> {kernels, stats}

A file in src/<folder>/ or include/signopt/<folder>/ may include headers of its own folder and of lower
layers only; siblings of one layer may include each other only where ALLOWED_SIBLINGS says so (comm
implements optim's SignAggregator). Headers at include/signopt/ top level (enum_names.h, compat.h,
version.h) are layer 0; signopt.h, the umbrella header, may include anything below apps.

Usage: check_layers.py REPO_ROOT. Prints each violation as FILE:LINE: message and exits 1 if any.
"""
import pathlib
import re
import sys

LAYER = {
    "kernels": 0, "stats": 0,
    "optim": 1, "comm": 1, "data": 1, "models": 1, "diag": 1, "io": 1,
    "train": 2,
    "experiments": 3, "report": 3,
    "apps": 4,
}
# Same-layer includes that are part of the design (from -> {to}).
ALLOWED_SIBLINGS = {
    "comm": {"optim"},  # comm::MajorityVote implements optim's SignAggregator
    "experiments": {"report"},  # sweeps read runs and draw with report's readers and plots; never back
}
INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]')


def folder_of_header(name):
    """The layer folder of an included path, or None for a system/third-party header."""
    if not name.startswith("signopt/"):
        return None
    parts = name.split("/")
    if len(parts) == 2:  # include/signopt/x.h: enum_names.h, compat.h, version.h, signopt.h
        return "root:" + parts[1]
    return parts[1]


def folder_of_file(root, path):
    rel = path.relative_to(root).parts
    if rel[0] == "apps":
        return "apps"
    if rel[0] == "src" and len(rel) > 2:
        return rel[1]
    if rel[0] == "include" and len(rel) > 3:
        return rel[2]
    return None


def main():
    root = pathlib.Path(sys.argv[1]).resolve()
    files = [p for d in ("src", "include", "apps") for p in (root / d).rglob("*") if p.suffix in (".h", ".cpp", ".cu")]
    problems = []
    for path in sorted(files):
        me = folder_of_file(root, path)
        if me is None:
            continue
        if me not in LAYER:
            problems.append(f"{path.relative_to(root)}:1: folder '{me}' has no layer in check_layers.py")
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            name = m.group(1)
            if name.startswith("../"):
                problems.append(f"{path.relative_to(root)}:{number}: relative include '{name}' reaches into another folder's private files")
                continue
            target = folder_of_header(name)
            if target is None or target == me:
                continue
            if target.startswith("root:"):
                if target == "root:signopt.h" and me != "apps":
                    problems.append(f"{path.relative_to(root)}:{number}: only apps/ may include the umbrella header")
                continue
            if target not in LAYER:
                problems.append(f"{path.relative_to(root)}:{number}: '{name}' is in folder '{target}', which has no layer")
                continue
            if LAYER[target] > LAYER[me] or (LAYER[target] == LAYER[me] and target not in ALLOWED_SIBLINGS.get(me, set())):
                problems.append(
                    f"{path.relative_to(root)}:{number}: {me} (layer {LAYER[me]}) includes '{name}' of {target} (layer {LAYER[target]})")
    for p in problems:
        print(p)
    print(f"check_layers: {len(files)} files, {len(problems)} violation(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
