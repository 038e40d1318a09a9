#!/usr/bin/env python3
"""Checks scripts/check_sizes.py: the real tree is within the limits, and in a small fake tree a file over
the line limit and a function over the function limit are found, while a function at the limit, a long
data table, a long class of short methods and braces inside strings and comments are not reported.

Usage: test_check_sizes.py CHECK_SIZES_PY REPO_ROOT
"""
import functools
import pathlib
import sys
import tempfile

import script_check
from script_check import check

SCRIPT, ROOT = sys.argv[1], sys.argv[2]
run = functools.partial(script_check.run, SCRIPT)


def function(name, body_lines):
    """A function whose body spans body_lines + 2 lines (the signature line and the closing brace)."""
    body = "".join(f"  x += {i}; // {{ not a brace\n" for i in range(body_lines))
    return f"int {name}(int x) {{\n{body}  return x;\n}}\n"


code, out = run(ROOT)
check(code == 0, "the repository must be within the size limits", out)

with tempfile.TemporaryDirectory() as tmp:
    t = pathlib.Path(tmp)

    def write(rel, text):
        p = t / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)

    # Within the limits: a 100-line function, a long data table, a long class of short methods, braces in
    # strings, a 700-line file.
    write("src/a/ok.cpp", "namespace n {\n" + function("at_limit", 97) + "}\n")
    write("src/a/table.cpp", "const int table[] = {\n" + "".join(f"  {i},\n" for i in range(300)) + "};\n")
    write("src/a/klass.h", "struct K {\n" + "".join(f"  int f{i}() {{ return {i}; }}\n" for i in range(200)) + "};\n")
    write("src/a/strings.cpp", 'const char* s() {\n  return "{{{";\n}\n' + "/* { */\n")
    write("tests/a/long_file_ok.cpp", "// x\n" * 700)
    code, out = run(t)
    check(code == 0, "nothing within the limits may be reported", out)

    # Over the limits: a 101-line function (in a TEST-like macro body too) and a 701-line file.
    write("src/b/long.cpp", "namespace n {\n" + function("too_long", 98) + "}\n")
    write("tests/b/test_long.cpp", "TEST(A, B) {\n" + "  int x = 0;\n" * 100 + "}\n")
    write("apps/long_file.cpp", "// x\n" * 701)
    code, out = run(t)
    check(code == 1, "violations must fail the check", out)
    check("src/b/long.cpp:2: a function of 101 lines" in out, "the 101-line function is found", out)
    check("tests/b/test_long.cpp:1: a function of 102 lines" in out, "the long TEST body is found", out)
    check("apps/long_file.cpp: 701 lines" in out, "the 701-line file is found", out)
    check("ok.cpp" not in out and "table.cpp" not in out and "klass.h" not in out and "strings.cpp" not in out,
          "nothing within the limits is reported", out)
print("test_check_sizes: passed")
