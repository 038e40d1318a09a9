#!/usr/bin/env python3
"""Checks scripts/check_layers.py: the real tree passes, and each kind of violation in a small fake tree
is found (an include upward, between unrelated siblings, a relative include into another folder, the
umbrella header below apps, a folder without a layer), while allowed includes are not reported.

Usage: test_check_layers.py CHECK_LAYERS_PY REPO_ROOT
"""
import functools
import pathlib
import sys
import tempfile

import script_check
from script_check import check

SCRIPT, ROOT = sys.argv[1], sys.argv[2]
run = functools.partial(script_check.run, SCRIPT)


code, out = run(ROOT)
check(code == 0, "the repository's includes must run one way", out)

with tempfile.TemporaryDirectory() as tmp:
    t = pathlib.Path(tmp)

    def write(rel, text):
        p = t / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)

    # Allowed: downward, own folder, allowed sibling, third-party, top-level headers.
    write("src/train/ok.cpp", '#include <signopt/optim/registry.h>\n#include <signopt/train/config.h>\n'
          '#include <torch/types.h>\n#include <signopt/enum_names.h>\n#include "local.h"\n')
    write("src/comm/ok.cpp", "#include <signopt/optim/aggregator.h>\n")
    write("src/experiments/ok.cpp", "#include <signopt/report/runs.h>\n#include <signopt/train/config.h>\n")
    write("apps/main.cpp", "#include <signopt/signopt.h>\n#include <signopt/experiments/sweep.h>\n")
    code, out = run(t)
    check(code == 0, "allowed includes were reported", out)

    # Each violation.
    write("src/kernels/up.cpp", "#include <signopt/comm/sign_pack.h>\n")
    write("include/signopt/train/up.h", "#include <signopt/report/report.h>\n")
    write("src/optim/sib.cpp", "#include <signopt/data/loader.h>\n")
    write("src/report/back.cpp", "#include <signopt/experiments/sweep.h>\n")
    write("src/report/rel.cpp", '#include "../train/private.h"\n')
    write("src/diag/umbrella.cpp", "#include <signopt/signopt.h>\n")
    write("src/newfolder/x.cpp", "int x;\n")
    code, out = run(t)
    check(code == 1, "violations must fail the check", out)
    for needle in ["src/kernels/up.cpp:1: kernels (layer 0) includes 'signopt/comm/sign_pack.h'",
                   "include/signopt/train/up.h:1: train (layer 2) includes 'signopt/report/report.h'",
                   "src/optim/sib.cpp:1: optim (layer 1) includes 'signopt/data/loader.h'",
                   "src/report/back.cpp:1: report (layer 3) includes 'signopt/experiments/sweep.h'",
                   "src/report/rel.cpp:1: relative include '../train/private.h'",
                   "src/diag/umbrella.cpp:1: only apps/ may include the umbrella header",
                   "folder 'newfolder' has no layer"]:
        check(needle in out, "not reported: " + needle, out)
    check("7 violation(s)" in out, "exactly the seven violations", out)
print("PASS: check_layers finds every kind of violation and passes the repository")
