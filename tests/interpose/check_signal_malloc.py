#!/usr/bin/env python3
"""A program whose signal handler allocates, under the preloaded memf, five times: each run ends
within its time, either having survived (no signal landed while memf held a lock) or stopped by
memf's one-line message and SIGABRT. A run that hangs (memf spinning on a lock its own thread
holds) fails the test.
"""
import argparse
import os
import signal
import subprocess
import sys

MESSAGE = "memf: error: memf was entered again by a thread already inside it"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lib", required=True)
    parser.add_argument("--program", required=True)
    args = parser.parse_args()
    env = dict(os.environ, LD_PRELOAD=args.lib)
    failures = 0
    outcomes = []
    for run in range(5):
        try:
            proc = subprocess.run([args.program, "3"], env=env, capture_output=True, text=True, timeout=30)
        except subprocess.TimeoutExpired:
            print(f"FAIL: run {run} hung (still running after 30 s)")
            failures += 1
            continue
        if proc.returncode == 0 and proc.stdout.startswith("survived"):
            outcomes.append("survived")
        elif proc.returncode == -signal.SIGABRT and proc.stderr.startswith(MESSAGE) and proc.stderr.count("\n") == 1:
            outcomes.append("stopped with the message")
        else:
            print(f"FAIL: run {run}: status {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}")
            failures += 1
    print("signal-handler malloc:", ", ".join(outcomes) or "-", f"({failures} failures)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
