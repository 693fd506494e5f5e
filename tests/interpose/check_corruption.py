#!/usr/bin/env python3
"""A program that writes into a freed block (or overflows into one) under the preloaded memf:
memf reports heap corruption on one line before it follows a damaged link, aborts by default,
and with MEMF_ON_ERROR=report never hands out the damaged block or an address read from it
and goes on working; with stacks on, the line is followed by the stack of the call that found it.
"""
import argparse
import os
import re
import signal
import subprocess
import sys

failures = []


def check(condition, message):
    if not condition:
        failures.append(message)


def run(program, lib, mode, rounds=0, **env):
    environment = dict(os.environ, LD_PRELOAD=lib, **env)
    for name in ("MEMF_ON_ERROR", "MEMF_STACKS", "MEMF_LEAK_CHECK"):
        if name not in env:
            environment.pop(name, None)
    return subprocess.run([program, mode, str(rounds)], env=environment, capture_output=True, text=True, timeout=60)


def addresses(stdout, label):
    for line in stdout.splitlines():
        if line.startswith(label + " "):
            return [int(word, 16) for word in line.split()[1:]]
    return []


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lib", required=True)
    parser.add_argument("--program", required=True)
    args = parser.parse_args()
    line_re = re.compile(r"memf: error: heap corruption detected in malloc\(\): free block at (0x[0-9a-f]+) "
                         r"\(size class 32 B\) was written after it was freed, or by an overflow from the block before it; "
                         r"(.*)$")
    for mode in ("use-after-free", "overflow"):
        # Default: one line, then SIGABRT.
        proc = run(args.program, args.lib, mode)
        lines = [l for l in proc.stderr.splitlines() if l.startswith("memf:")]
        check(proc.returncode == -signal.SIGABRT, f"{mode}: status {proc.returncode}, expected SIGABRT\n{proc.stderr}")
        check(len(lines) == 1 and line_re.match(lines[0]) and lines[0].endswith("; aborting (MEMF_ON_ERROR=abort)"),
              f"{mode}: memf lines {lines}")
        a, b = addresses(proc.stdout, "freed")
        match = line_re.match(lines[0]) if lines else None
        # The block reported is the one written over: b after a use after free, b after a's overflow
        # (a was freed after it and sits on top of it).
        check(match is not None and int(match.group(1), 16) == b, f"{mode}: reported {lines}, freed {a:#x} {b:#x}")
        check("got " not in proc.stdout, f"{mode}: malloc returned after the corruption:\n{proc.stdout}")

        # MEMF_ON_ERROR=report: the list is dropped and the program carries on with a sound heap.
        proc = run(args.program, args.lib, mode, rounds=200, MEMF_ON_ERROR="report")
        lines = [l for l in proc.stderr.splitlines() if l.startswith("memf:")]
        check(proc.returncode == 0, f"{mode}, report: status {proc.returncode}\n{proc.stderr}")
        check(len(lines) == 1 and lines[0].endswith("; its free list is dropped"), f"{mode}, report: memf lines {lines}")
        got = addresses(proc.stdout, "got")
        check(len(got) == 2 and b not in got and 0x4141414141414141 not in got and got[0] != got[1],
              f"{mode}, report: malloc gave {[hex(g) for g in got]} (freed {a:#x} {b:#x})")
        check(proc.stdout.rstrip().endswith("done"), f"{mode}, report: did not finish\n{proc.stdout}")

        # Stacks on: the line is followed by the stack of the malloc that found it, from main.
        proc = run(args.program, args.lib, mode, MEMF_STACKS="all")
        after = proc.stderr.split("; aborting (MEMF_ON_ERROR=abort)\n", 1)
        check(len(after) == 2 and re.search(r"#0 0x[0-9a-f]+ in main ", after[1]) is not None,
              f"{mode}, stacks: no stack from main after the line:\n{proc.stderr}")
    for failure in failures:
        print("FAIL:", failure)
    print(f"corruption: {'FAILED' if failures else 'ok'} ({len(failures)} failures)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
