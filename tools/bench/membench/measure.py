"""Running one process and measuring it: wall time, CPU time and peak RSS, a clean
environment, and the machine's idleness (load average, CPU busy, settling)."""

import os
import re
import signal
import subprocess
import tempfile
import threading
import time

from .common import GNU_TIME

# Variables from the caller's environment that would change what is measured.
SCRUB_PREFIXES = ("LD_PRELOAD", "MALLOC_", "GLIBC_TUNABLES", "MEMF_", "MIMALLOC_",
                  "MALLOC_CONF", "JE_MALLOC_CONF", "TCMALLOC_", "LSAN_", "ASAN_",
                  "PYTHON", "HEAPTRACK")

SETTLE_BUSY = 0.15   # fraction of all CPUs busy that counts as "quiet"


class Run:
    __slots__ = ("workload", "config", "rep", "scale", "wall", "user", "sys", "maxrss_kib",
                 "status", "stdout", "stderr_tail", "final_rss_kib", "signature",
                 "leak_report",  # memf-leak runs: whether memf wrote its JSON report at exit
                 "score")        # mimalloc-bench runs: the figure compared (see mbench.py)

    def __init__(self, **kw):
        for k in self.__slots__:
            setattr(self, k, kw.get(k))

    @property
    def ok(self):
        return self.status == "ok"

    def to_json(self):
        return {k: getattr(self, k) for k in self.__slots__}


def clean_env():
    env = {}
    for k, v in os.environ.items():
        if any(k.startswith(p) for p in SCRUB_PREFIXES):
            continue
        env[k] = v
    return env


def describe_status(status):
    if os.WIFEXITED(status):
        code = os.WEXITSTATUS(status)
        return "ok" if code == 0 else "exit %d" % code
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = str(sig)
        return "signal %s" % name
    return "status %d" % status


def kill_group(pid):
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass


def wait_with_timeout(proc, timeout):
    """Reaps proc, killing its process group after timeout seconds.
    Returns (end time, wait status, rusage, timed out)."""
    timed_out = []

    def kill():
        timed_out.append(True)
        kill_group(proc.pid)

    timer = threading.Timer(timeout, kill)
    timer.start()
    try:
        _, status, ru = os.wait4(proc.pid, 0)
        t1 = time.perf_counter()
    finally:
        timer.cancel()
    proc.returncode = status  # reaped here; keep Popen from waiting again
    # Remove anything the run left behind in its process group.
    kill_group(proc.pid)
    return t1, status, ru, bool(timed_out)


def parse_gnu_time(tlines, status_text):
    """(peak RSS in KiB or None, status) from GNU time's output file."""
    maxrss = None
    st = status_text
    for line in tlines:
        if line.startswith("MEMFBENCH "):
            maxrss = int(line.split()[1])
        m = re.match(r"Command terminated by signal (\d+)", line)
        if m:
            st = describe_status(int(m.group(1)))  # a raw wait status: the signal
    return maxrss, st


def run_measured(argv, env, stdin_path=None, timeout=300.0, cwd=None):
    """Runs argv once; returns (wall, user, sys, maxrss_kib, status, stdout, stderr).

    The program is started through GNU time when it is installed: the peak
    RSS that wait4 reports for a direct child of this Python process would
    include the interpreter's own footprint, copied at fork and kept across
    exec.  Wall time is measured here; CPU time is the rusage of the whole
    process tree."""
    use_time = os.path.exists(GNU_TIME)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile(prefix="memf-bench-time-") as tfile:
        full = ([GNU_TIME, "-o", tfile.name, "-f", "MEMFBENCH %M"] if use_time else []) + argv
        stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
        try:
            t0 = time.perf_counter()
            proc = subprocess.Popen(full, env=env, stdin=stdin, stdout=out, stderr=err,
                                    cwd=cwd, start_new_session=True)
            t1, status, ru, timed_out = wait_with_timeout(proc, timeout)
        finally:
            if stdin_path:
                stdin.close()
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")
        tfile.seek(0)
        tlines = tfile.read().decode("utf-8", "replace").splitlines()
    maxrss = ru.ru_maxrss
    st = describe_status(status)
    if use_time:
        maxrss, st = parse_gnu_time(tlines, st)
    if timed_out:
        st = "timeout after %g s" % timeout
    if maxrss is None:
        maxrss = 0
    return t1 - t0, ru.ru_utime, ru.ru_stime, maxrss, st, stdout, stderr


# --------------------------------------------------------------------------
# How busy the machine is

def cpu_times():
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields[:8]), idle


def cpu_busy(interval):
    """Fraction of all CPUs busy over interval seconds (this process sleeps)."""
    try:
        t1, i1 = cpu_times()
        time.sleep(interval)
        t2, i2 = cpu_times()
    except (OSError, ValueError, IndexError):
        return 0.0
    total = t2 - t1
    return 0.0 if total <= 0 else max(0.0, 1.0 - (i2 - i1) / float(total))


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"
