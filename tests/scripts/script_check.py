"""What the tests of scripts/check_*.py share: run a check script on a tree, and fail with its output."""
import subprocess
import sys


def run(script, root):
    """The script's exit status and standard output on the tree at `root`."""
    out = subprocess.run([sys.executable, script, str(root)], capture_output=True, text=True)
    return out.returncode, out.stdout


def check(cond, what, output=""):
    if not cond:
        raise SystemExit("FAILED: " + what + "\n" + output)
