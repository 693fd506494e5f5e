"""What the tests of tests/report share: one line per check, their common arguments (every path
made absolute), the profiles of make_profile.py, and the exit status."""
import argparse
import os
import subprocess
import sys

failures = []


def check(condition, what, detail=""):
    """Prints ok or FAIL and what was checked; on failure, what was found instead."""
    print(("ok   " if condition else "FAIL ") + what)
    if not condition:
        failures.append(what)
        if detail:
            print("     " + str(detail).replace("\n", "\n     ")[:3000])
    return condition


def arguments(*paths):
    """--report (tools/memf-report), --make-profile and the given further path options."""
    ap = argparse.ArgumentParser()
    for option in ("--report", "--make-profile") + paths:
        ap.add_argument(option, required=True)
    args = ap.parse_args()
    for name, value in vars(args).items():
        setattr(args, name, os.path.abspath(value))
    return args


def make_profile(args, kind, path):
    subprocess.run([sys.executable, args.make_profile, kind, path], check=True)


def finish():
    print(f"{len(failures)} failures")
    sys.exit(1 if failures else 0)
