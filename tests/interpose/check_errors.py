#!/usr/bin/env python3
"""Error reports of double frees, run in child processes under LD_PRELOAD=libmemf.so:
every kind of block (pool, large, huge) says "double free" with its size; with MEMF_STACKS on,
the report shows the bad call's stack and, where recorded, the block's allocation stack;
MEMF_ON_ERROR=report carries on with an intact heap, the default aborts.

  check_errors.py --lib libmemf.so --program error-reports
"""
import argparse
import os
import re
import signal
import subprocess
import sys

SIZES = {64: "size class 64 B", 20000: "large block of 20000 B", 3000000: "huge block of 3000000 B"}


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


def run(args, size, **env):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MEMF_") and k != "LD_PRELOAD"}
    environment.update(LD_PRELOAD=args.lib, **env)
    proc = subprocess.run([args.program, str(size)], env=environment, capture_output=True, text=True, timeout=60)
    m = re.search(r"^FREED (0x[0-9a-f]+)$", proc.stdout, re.M)
    check(m, f"size {size}: the program did not reach its double free:\n{proc.stdout}\n{proc.stderr}")
    return proc, int(m.group(1), 16)


def error_lines(stderr):
    return [l for l in stderr.splitlines() if l.startswith("memf: error:")]


def frames(stderr):
    return re.findall(r"^    #\d+ 0x[0-9a-f]+ in (\S+)", stderr, re.M)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lib", required=True)
    parser.add_argument("--program", required=True)
    args = parser.parse_args()
    try:
        for size, block in SIZES.items():
            # Stacks off: the one line, with the block's size, and the program carries on.
            proc, address = run(args, size, MEMF_ON_ERROR="report")
            lines = error_lines(proc.stderr)
            expected = f"memf: error: double free of {address:#x} ({block}) in free(); ignored"
            check(lines == [expected], f"size {size}: error lines {lines}, expected [{expected!r}]")
            check(not frames(proc.stderr), f"size {size}: stack lines with stacks off:\n{proc.stderr}")
            check(proc.returncode == 0 and "HEAP-OK" in proc.stdout,
                  f"size {size}: after the report the heap check failed (status {proc.returncode}):\n{proc.stdout}")
            # Stacks on and every allocation recorded: the bad call, then where the block came from.
            proc, address = run(args, size, MEMF_ON_ERROR="report", MEMF_LEAK_CHECK="1", MEMF_STACKS="all")
            err = proc.stderr
            expected = f"memf: error: double free of {address:#x} ({block}) in free(); ignored"
            check(error_lines(err) == [expected], f"size {size}, stacks on: error lines {error_lines(err)}")
            after = err.split(expected, 1)[1]
            call, _, allocated = after.partition("  allocated at:\n")
            check(frames(call)[:2] == ["release_twice", "main"],
                  f"size {size}, stacks on: the bad call's stack starts {frames(call)[:3]}, expected release_twice, main:\n{err}")
            check(allocated and frames(allocated)[:2] == ["make_block", "main"],
                  f"size {size}, stacks on: allocation stack {frames(allocated)[:3]}, expected make_block, main:\n{err}")
            check(re.search(r"in release_twice \S*error_reports\.c:\d+ \(error-reports\+0x[0-9a-f]+\)", call),
                  f"size {size}, stacks on: frame without file:line or module:\n{call}")
            check(proc.returncode == 0 and "HEAP-OK" in proc.stdout, f"size {size}, stacks on: heap check failed")
            # Stacks on without the leak check: the bad call's stack; no allocation stack recorded.
            proc, _ = run(args, size, MEMF_ON_ERROR="report", MEMF_STACKS="all")
            check(frames(proc.stderr)[:2] == ["release_twice", "main"] and "allocated at:" not in proc.stderr,
                  f"size {size}, stacks without leak check:\n{proc.stderr}")
            # The default: the report and its stack, then abort.
            proc, address = run(args, size, MEMF_STACKS="all")
            check(proc.returncode == -signal.SIGABRT and "CONTINUED" not in proc.stdout,
                  f"size {size}, default mode: status {proc.returncode}, expected SIGABRT")
            expected = f"memf: error: double free of {address:#x} ({block}) in free(); aborting (MEMF_ON_ERROR=abort)"
            check(error_lines(proc.stderr) == [expected]
                  and frames(proc.stderr)[:1] == ["release_twice"], f"size {size}, default mode:\n{proc.stderr}")
            print(f"size {size}: '{block}' double free reported with its size; stacks of the call and the allocation; "
                  f"report mode carries on, default aborts")
    except Failure as e:
        print(f"FAIL: {e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
