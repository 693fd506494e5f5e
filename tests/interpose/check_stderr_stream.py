#!/usr/bin/env python3
"""memf's output goes only to the stream that was stderr when the program started: never into a
file the program opened on a closed fd 2, still there after the program closed stderr at exit,
and no copy of it kept in a forked daemon (which would keep the caller's pipe open)."""
import argparse
import os
import select
import signal
import subprocess
import sys
import tempfile
import time

failures = []


def check(condition, message):
    if not condition:
        failures.append(message)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lib", required=True)
    parser.add_argument("--program", required=True)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMF_")}
    env.update(LD_PRELOAD=args.lib, MEMF_LEAK_CHECK="1", MEMF_STATS="1", MEMF_ON_ERROR="report")

    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "data.txt")
        proc = subprocess.run([args.program, "reuse", data], env=env, capture_output=True, text=True, timeout=60)
        check(proc.returncode == 0, f"reuse: status {proc.returncode}: {proc.stderr}")
        with open(data) as f:
            content = f.read()
        check(content == "the program's own data\n", f"reuse: the program's file holds {content!r}")
        check("memf: error: double free of" in proc.stderr, f"reuse: no error line on stderr:\n{proc.stderr}")
        check("77 bytes leaked in 1 allocations" in proc.stderr,
              f"reuse: no leak summary on stderr:\n{proc.stderr}")
        check("memf:   pools:" in proc.stderr,
              f"reuse: no statistics on stderr:\n{proc.stderr}")

    proc = subprocess.run([args.program, "close-at-exit"], env=env, capture_output=True, text=True, timeout=60)
    check(proc.returncode == 0, f"close-at-exit: status {proc.returncode}")
    check("77 bytes leaked in 1 allocations" in proc.stderr and "memf:   pools:" in proc.stderr,
          f"close-at-exit: the report and statistics did not reach stderr:\n{proc.stderr}")

    # The caller reads the parent's stderr (and stdout) through pipes: both must reach their end
    # once the parent has exited, while the daemon sleeps on.
    start = time.monotonic()
    proc = subprocess.Popen([args.program, "daemon"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    child = None
    ended = {proc.stdout.fileno(): False, proc.stderr.fileno(): False}
    output = b""
    while not all(ended.values()) and time.monotonic() - start < 15:
        ready, _, _ = select.select([fd for fd, done in ended.items() if not done], [], [], 1)
        for fd in ready:
            chunk = os.read(fd, 4096)
            if not chunk:
                ended[fd] = True
            elif fd == proc.stdout.fileno():
                output += chunk
    proc.wait(timeout=30)
    try:
        child = int(output.split()[0])
    except (IndexError, ValueError):
        check(False, f"daemon: no child pid printed: {output!r}")
    check(all(ended.values()), "daemon: the pipe stayed open after the parent exited (the daemon holds a copy of it)")
    if child:
        try:
            os.kill(child, signal.SIGKILL)
        except ProcessLookupError:
            pass

    for failure in failures:
        print("FAIL:", failure)
    print(f"stderr stream: {'FAILED' if failures else 'ok'} ({len(failures)} failures)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
