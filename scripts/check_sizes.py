#!/usr/bin/env python3
"""Size limits of signopt's C++ (docs/architecture.md): no source file over MAX_FILE_LINES lines and no
function body over MAX_FUNCTION_LINES lines, in src/, include/, apps/, tests/, bench/, fuzz/ and examples/.

A function is a brace opened where only namespaces, classes and structs enclose it, after a statement
with a ')' (function, lambda at namespace scope, TEST body); an initializer `= {` is data, not a function.
Comments, strings and raw-string lines are skipped. A heuristic, not a parser: it is tested on a fake tree
(tests/scripts/test_check_sizes.py) and reports each violation as FILE:LINE.

Usage: check_sizes.py REPO_ROOT   (exit 1 when something is over a limit)
"""
import pathlib
import re
import sys

MAX_FILE_LINES = 700
MAX_FUNCTION_LINES = 100
FOLDERS = ("src", "include", "apps", "tests", "bench", "fuzz", "examples")
SUFFIXES = (".cpp", ".h", ".cu")
RAW_STRING = re.compile(r'\bR"[A-Za-z_]*\(')
SCOPE = re.compile(r"\b(namespace|struct|class|union|enum)\b[^()]*$")


def code_of(line, state):
    """The line without comments and with string and character literals emptied."""
    out = []
    i = 0
    while i < len(line):
        if state["block"]:
            j = line.find("*/", i)
            if j < 0:
                return "".join(out)
            state["block"] = False
            i = j + 2
            continue
        if line.startswith("//", i):
            break
        if line.startswith("/*", i):
            state["block"] = True
            i += 2
            continue
        c = line[i]
        if c in "\"'":
            i += 1
            while i < len(line) and line[i] != c:
                i += 2 if line[i] == "\\" else 1
            i += 1
            out.append('""')
            continue
        out.append(c)
        i += 1
    return "".join(out)


def long_functions(path, text):
    found = []
    state = {"block": False}
    stack = []  # (kind, first line)
    statement = ""
    for number, line in enumerate(text.split("\n"), 1):
        if RAW_STRING.search(line):
            continue
        for ch in code_of(line, state):
            if ch == "{":
                head = statement.strip()
                if SCOPE.search(head) or head.startswith("extern"):
                    kind = "scope"
                elif ")" in head and all(k == "scope" for k, _ in stack) and not head.endswith("="):
                    kind = "function"
                else:
                    kind = "other"
                stack.append((kind, number))
                statement = ""
            elif ch == "}":
                if stack:
                    kind, first = stack.pop()
                    if kind == "function" and number - first + 1 > MAX_FUNCTION_LINES:
                        found.append((first, number - first + 1))
                statement = ""
            elif ch == ";":
                statement = ""
            else:
                statement += ch
        statement += " "
    return found


def main():
    root = pathlib.Path(sys.argv[1]).resolve()
    problems = []
    files = 0
    for folder in FOLDERS:
        for path in sorted((root / folder).rglob("*")):
            if path.suffix not in SUFFIXES or not path.is_file():
                continue
            files += 1
            text = path.read_text(errors="replace")
            rel = path.relative_to(root)
            lines = text.count("\n") + (0 if text.endswith("\n") else 1)
            if lines > MAX_FILE_LINES:
                problems.append(f"{rel}: {lines} lines (the limit is {MAX_FILE_LINES}): split it")
            for first, length in long_functions(path, text):
                problems.append(
                    f"{rel}:{first}: a function of {length} lines (the limit is {MAX_FUNCTION_LINES}): split it")
    for p in problems:
        print(p)
    print(f"check_sizes: {files} files, {len(problems)} over a limit")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
