#!/usr/bin/python3
"""Benchmark runner: memf against glibc, mimalloc, jemalloc and tcmalloc.

Every workload is run under every allocator (chosen with LD_PRELOAD),
round robin, R times; the report gives median wall time and median peak
RSS per cell, memf's ratio to each peer, geometric means, instruction
counts per malloc+free pair under callgrind, the cost of memf's leak-check
mode next to LeakSanitizer and heaptrack, and whether the performance
targets hold.  Python 3 standard library only.

    /usr/bin/python3 tools/bench/run.py --quick            # smoke run
    /usr/bin/python3 tools/bench/run.py                    # full run
    /usr/bin/python3 tools/bench/run.py --only huge,xthread --allocators glibc,memf
"""

import argparse
import datetime
import json
import math
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
LIBDIR = "/usr/lib/x86_64-linux-gnu"
PYTHON = "/usr/bin/python3"
SQLITE = "/usr/bin/sqlite3"

# name -> preloaded library (None: nothing preloaded, glibc's malloc).
PEERS = [
    ("glibc", None),
    ("mimalloc", LIBDIR + "/libmimalloc.so.2"),
    ("jemalloc", LIBDIR + "/libjemalloc.so.2"),
    ("tcmalloc", LIBDIR + "/libtcmalloc_minimal.so.4"),
]
PEER_NAMES = [p[0] for p in PEERS]
LSAN = LIBDIR + "/liblsan.so.0"
HEAPTRACK = "/usr/bin/heaptrack"
VALGRIND = "/usr/bin/valgrind"

MEMF_LEAK_ENV = {"MEMF_LEAK_CHECK": "1", "MEMF_STACKS": "all", "MEMF_LEAK_EXITCODE": "0"}
LSAN_ENV = {"LSAN_OPTIONS": "exitcode=0"}

# Variables from the caller's environment that would change what is measured.
SCRUB_PREFIXES = ("LD_PRELOAD", "MALLOC_", "GLIBC_TUNABLES", "MEMF_", "MIMALLOC_",
                  "MALLOC_CONF", "JE_MALLOC_CONF", "TCMALLOC_", "LSAN_", "ASAN_",
                  "PYTHON", "HEAPTRACK")


class Workload:
    def __init__(self, name, kind, desc, quick_scale, leak_scale=None,
                 deterministic=True, final_rss=False, timeout=None):
        self.name = name
        self.kind = kind              # "exe", "python" or "sqlite"
        self.desc = desc
        self.quick_scale = quick_scale
        self.leak_scale = leak_scale  # None: not in the leak-checker subset
        self.deterministic = deterministic
        self.final_rss = final_rss
        self.timeout = timeout


WORKLOADS = [
    Workload("small_churn", "exe",
             "1 thread, malloc/free 8-256 B, ring of live blocks with LIFO/FIFO phases, 60M ops",
             0.1, leak_scale=0.5),
    Workload("cxx_churn", "exe",
             "new/delete (sized), std::map<int,std::string>, string building, shared_ptr, vector growth",
             0.1, leak_scale=0.5),
    Workload("xthread", "exe",
             "producer allocates 16-256 B, consumer thread frees, batches of 16384, 19.7M blocks",
             0.1),
    Workload("larson", "exe",
             "2 threads replace random slots (16-1000 B, 4000 per thread), blocks exchanged between threads, 60M ops",
             0.1, leak_scale=0.2, deterministic=False),
    Workload("realloc_growth", "exe",
             "48 buffers grown round robin by realloc to 1 MiB, 40 rounds",
             0.15),
    Workload("large", "exe",
             "24 live blocks of 64 KiB-1 MiB, random replacement, every page written, 250k allocations",
             0.1),
    Workload("huge", "exe",
             "3 live blocks of 5-25 MiB, random replacement, every page written, 2000 allocations",
             0.1, timeout=600),
    Workload("fragmentation", "exe",
             "96 MiB of small+medium blocks, 3 times: free ~90% at random, refill with another size mix",
             0.25, final_rss=True),
    Workload("python", "python",
             "/usr/bin/python3 with PYTHONMALLOC=malloc: dicts, lists, strings, objects (alloc_heavy.py)",
             0.15, leak_scale=0.5),
    Workload("sqlite", "sqlite",
             "/usr/bin/sqlite3 in-memory: 60k single-row INSERTs, 150k bulk rows, indexes, 225k indexed lookups",
             0.1, leak_scale=0.5),
]
WORKLOAD_BY_NAME = {w.name: w for w in WORKLOADS}
EXE_SOURCES = {
    "small_churn": "small_churn.c", "cxx_churn": "cxx_churn.cpp", "xthread": "xthread.c",
    "larson": "larson.c", "realloc_growth": "realloc_growth.c", "large": "large.c",
    "huge": "huge.c", "fragmentation": "fragmentation.c", "instructions": "instructions.c",
}


def log(msg):
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


# --------------------------------------------------------------------------
# Building / locating the workload programs

def locate_programs(build_dir, need):
    """Returns {name: path}. Uses the meson build if it has the programs,
    otherwise compiles them privately with the system compiler."""
    found = {}
    if build_dir:
        for name in need:
            p = os.path.join(build_dir, name)
            if not os.path.isfile(p):
                p = os.path.join(build_dir, "tools", "bench", name)
            if os.path.isfile(p) and os.access(p, os.X_OK):
                src = os.path.join(HERE, EXE_SOURCES[name])
                if os.path.getmtime(src) > os.path.getmtime(p):
                    log("warning: %s is older than %s; rebuild with ninja" % (p, src))
                found[name] = p
    missing = [n for n in need if n not in found]
    if missing:
        outdir = os.path.join(tempfile.gettempdir(), "memf-bench-bin-%d" % os.getuid())
        os.makedirs(outdir, exist_ok=True)
        for name in missing:
            src = os.path.join(HERE, EXE_SOURCES[name])
            out = os.path.join(outdir, name)
            if src.endswith(".cpp"):
                cmd = ["g++", "-std=c++17"]
            else:
                cmd = ["gcc", "-std=gnu11"]
            cmd += ["-O2", "-I", HERE, src, "-o", out, "-pthread"]
            if not (os.path.isfile(out) and os.path.getmtime(out) >= os.path.getmtime(src)):
                log("compiling %s (not found in the build directory)" % name)
                subprocess.run(cmd, check=True)
            found[name] = out
    return found


# --------------------------------------------------------------------------
# Running one measurement

class Run:
    __slots__ = ("workload", "config", "rep", "scale", "wall", "user", "sys", "maxrss_kib",
                 "status", "stdout", "stderr_tail", "final_rss_kib", "signature")

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


GNU_TIME = "/usr/bin/time"


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
        timed_out = []
        try:
            t0 = time.perf_counter()
            proc = subprocess.Popen(full, env=env, stdin=stdin, stdout=out, stderr=err,
                                    cwd=cwd, start_new_session=True)

            def kill():
                timed_out.append(True)
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except OSError:
                    pass

            timer = threading.Timer(timeout, kill)
            timer.start()
            try:
                _, status, ru = os.wait4(proc.pid, 0)
                t1 = time.perf_counter()
            finally:
                timer.cancel()
            proc.returncode = status  # reaped here; keep Popen from waiting again
            # Remove anything the run left behind in its process group.
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
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
        maxrss = None
        for line in tlines:
            if line.startswith("MEMFBENCH "):
                maxrss = int(line.split()[1])
            m = re.match(r"Command terminated by signal (\d+)", line)
            if m:
                st = describe_status(int(m.group(1)))  # a raw wait status: the signal
    if timed_out:
        st = "timeout after %g s" % timeout
    if maxrss is None:
        maxrss = 0
    return t1 - t0, ru.ru_utime, ru.ru_stime, maxrss, st, stdout, stderr


def parse_kv(line, key):
    m = re.search(r"\b%s=(-?[0-9.]+)" % re.escape(key), line)
    return m.group(1) if m else None


# Lines heaptrack itself prints on stdout around the program's output.
TOOL_LINE = re.compile(r"heaptrack|^starting application|^NOTE:|^\s|^$", re.IGNORECASE)


def output_signature(workload, stdout):
    """The part of a workload's output that must not depend on the allocator."""
    if workload.kind in ("exe", "python"):
        return parse_kv(stdout, "checksum")
    return "\n".join(l for l in stdout.splitlines() if not TOOL_LINE.search(l))


class Bench:
    def __init__(self, args):
        self.args = args
        self.tmp = tempfile.mkdtemp(prefix="memf-bench-")
        self.programs = {}
        self.sql_scripts = {}
        self.runs = []
        self.mismatch = {}      # (workload, config) -> note
        self.loads = []         # 1-minute load average before each timed run
        self.busy = []          # CPU use by other processes just before each timed run
        self.settle_waited = 0.0

    def close(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- command lines ------------------------------------------------------

    def sql_script(self, scale):
        key = "%.4f" % scale
        if key not in self.sql_scripts:
            sys.path.insert(0, HERE)
            import sqlite_workload  # noqa: E402  (lives beside this file)
            path = os.path.join(self.tmp, "sqlite-%s.sql" % key)
            with open(path, "w") as f:
                f.write(sqlite_workload.script(scale))
            self.sql_scripts[key] = path
        return self.sql_scripts[key]

    def command(self, w, scale):
        """Returns (argv, extra_env, stdin_path)."""
        if w.kind == "exe":
            return [self.programs[w.name], "%g" % scale], {}, None
        if w.kind == "python":
            return ([PYTHON, os.path.join(HERE, "alloc_heavy.py"), "%g" % scale],
                    {"PYTHONMALLOC": "malloc", "PYTHONDONTWRITEBYTECODE": "1"}, None)
        if w.kind == "sqlite":
            return [SQLITE, ":memory:"], {}, self.sql_script(scale)
        raise ValueError(w.kind)

    def config_env(self, config):
        """Environment and argv prefix for an allocator or checker config."""
        env = clean_env()
        prefix = []
        if config == "glibc":
            pass
        elif config in ("mimalloc", "jemalloc", "tcmalloc"):
            env["LD_PRELOAD"] = dict(PEERS)[config]
        elif config == "memf":
            env["LD_PRELOAD"] = self.args.memf
        elif config == "memf-leak":
            env["LD_PRELOAD"] = self.args.memf
            env.update(MEMF_LEAK_ENV)
        elif config == "lsan":
            env["LD_PRELOAD"] = LSAN
            env.update(LSAN_ENV)
        elif config == "heaptrack":
            prefix = [HEAPTRACK, "-o", os.path.join(self.tmp, "heaptrack", "out")]
        else:
            raise ValueError(config)
        return env, prefix

    # -- one run --------------------------------------------------------------

    def measure(self, w, config, rep, scale, timeout):
        argv, extra, stdin_path = self.command(w, scale)
        env, prefix = self.config_env(config)
        env.update(extra)
        wall, user, sys_t, maxrss, status, stdout, stderr = run_measured(
            prefix + argv, env, stdin_path, timeout)
        if config == "heaptrack":
            shutil.rmtree(os.path.join(self.tmp, "heaptrack"), ignore_errors=True)
        final = parse_kv(stdout, "final_rss_kib")
        run = Run(workload=w.name, config=config, rep=rep, scale=scale, wall=wall, user=user,
                  sys=sys_t, maxrss_kib=maxrss, status=status, stdout=stdout[-2000:],
                  stderr_tail=stderr[-1500:],
                  final_rss_kib=int(final) if final is not None else None,
                  signature=output_signature(w, stdout) if w.deterministic else None)
        return run

    def validate(self):
        """Marks runs whose result differs from the reference as failed.  The
        reference is the most common result of the glibc runs of the same
        workload and scale (of all runs if glibc did not run)."""
        groups = {}
        for r in self.runs:
            if r.ok and r.signature is not None:
                groups.setdefault((r.workload, r.scale), []).append(r)
        for runs in groups.values():
            pool = [r for r in runs if r.config == "glibc"] or runs
            sigs = [r.signature for r in pool]
            ref = max(set(sigs), key=sigs.count)
            ref_from = "glibc" if pool[0].config == "glibc" else "most common"
            for r in runs:
                if r.signature != ref:
                    r.status = "wrong output"
                    self.mismatch[(r.workload, r.config)] = (
                        "result %r, expected %r (%s result)"
                        % ((r.signature or "")[:120], (ref or "")[:120], ref_from))

    # -- the phases -----------------------------------------------------------

    def timing_phase(self, workloads, configs):
        a = self.args
        plan = []
        for rep in range(a.repeats):
            for wi, w in enumerate(workloads):
                # Rotate the order so no allocator always runs first or last.
                k = (rep + wi) % len(configs)
                for config in configs[k:] + configs[:k]:
                    plan.append((rep, w, config))
        if not a.quick and not a.no_warmup:
            log("warm-up: one unrecorded glibc run of each workload")
            for w in workloads:
                self.measure(w, "glibc", -1, self.scale(w), self.timeout(w))
        total = len(plan)
        t_start = time.time()
        for i, (rep, w, config) in enumerate(plan):
            try:
                self.loads.append(float(loadavg().split()[0]))
            except (ValueError, IndexError):
                pass
            if a.settle > 0:
                self.busy.append(self.settle(a.settle))
            r = self.measure(w, config, rep, self.scale(w), self.timeout(w))
            self.runs.append(r)
            elapsed = time.time() - t_start
            eta = elapsed / (i + 1) * (total - i - 1)
            log("[%d/%d] %-15s %-9s rep %d: %7.3f s %8.1f MiB %s   (eta %.0f s)" % (
                i + 1, total, w.name, config, rep, r.wall, r.maxrss_kib / 1024.0,
                "" if r.ok else "** " + r.status + " **", eta))

    def settle(self, limit):
        """Waits (at most limit seconds) until the CPUs have been mostly idle
        for a moment, so a run does not start in the middle of someone
        else's burst of work.  Returns the busy fraction last seen."""
        t0 = time.time()
        limit = min(limit, max(0.0, self.args.settle_total - self.settle_waited))
        while True:
            busy = cpu_busy(0.3)
            if busy < SETTLE_BUSY or time.time() - t0 >= limit:
                self.settle_waited += time.time() - t0
                return busy
            time.sleep(0.7)

    def leak_phase(self, workloads, configs):
        a = self.args
        total = a.leak_repeats * len(workloads) * len(configs)
        i = 0
        for rep in range(a.leak_repeats):
            for wi, w in enumerate(workloads):
                k = (rep + wi) % len(configs)
                for config in configs[k:] + configs[:k]:
                    scale = w.quick_scale * 0.5 if a.quick else w.leak_scale
                    r = self.measure(w, config, rep, scale, self.timeout(w) * 4)
                    r.workload = "leak:" + w.name
                    self.runs.append(r)
                    i += 1
                    log("[leak %d/%d] %-15s %-9s rep %d: %7.3f s %8.1f MiB %s" % (
                        i, total, w.name, config, rep, r.wall, r.maxrss_kib / 1024.0,
                        "" if r.ok else "** " + r.status + " **"))

    def pool_phase(self, program, memf_lib):
        """tools/bench/pool_bench: the pools on glibc (every pool; new/delete is glibc's), and
        new/delete alone under memf and under mimalloc; interleaved, lowest figure per row."""
        a = self.args
        # pool_bench links memf's engine, and with it libmimalloc.so.2, which exports malloc and
        # comes before libc in the lookup order: preloading libc makes new/delete glibc's.
        libc = LIBDIR + "/libc.so.6"
        runs = [(" on glibc", libc if os.path.exists(libc) else None, "all")]
        if memf_lib:
            runs.append((" on memf", memf_lib, "new/"))
        mimalloc = dict(PEERS).get("mimalloc")
        if mimalloc and os.path.exists(mimalloc):
            runs.append((" on mimalloc", mimalloc, "new/"))
        millions = "0.5" if a.quick else "4"
        best = {}
        order = []
        for rep in range(a.pool_repeats):
            for suffix, lib, filt in runs:
                env = clean_env()
                if lib:
                    env["LD_PRELOAD"] = lib
                self.settle(a.settle)
                log("[pools %d/%d] pool_bench %s%s" % (rep + 1, a.pool_repeats, filt, suffix))
                try:
                    out = subprocess.run([program, filt, millions], env=env, capture_output=True,
                                         text=True, timeout=900).stdout
                except subprocess.TimeoutExpired:
                    log("pool_bench timed out")
                    continue
                for line in out.splitlines():
                    cols = [c.strip() for c in line.strip().strip("|").split("|")]
                    if len(cols) != 4 or not cols[3].replace(".", "", 1).isdigit():
                        continue
                    pattern, pool, threads, ns = cols[0], cols[1], cols[2], float(cols[3])
                    if pool == "new/delete":
                        pool += suffix
                    key = (pattern, threads)
                    if key not in order:
                        order.append(key)
                    cur = best.setdefault(key, {})
                    cur[pool] = min(cur.get(pool, ns), ns)
        self.pools = (order, best)

    def instruction_phase(self, configs):
        """Instructions per malloc+free pair: (I(n2) - I(n1)) / (n2 - n1)."""
        a = self.args
        results = {}
        variants = [("window", ["1024", "rng"]), ("pair", ["0", "rng"])]
        for config in configs:
            # Stack capture on every allocation is slow under valgrind: fewer
            # iterations for the leak-check mode (the difference still spans
            # 200000 pairs).
            n1, n2 = (20000, 220000) if a.quick or config == "memf-leak" else (100000, 1100000)
            for vname, extra in variants:
                counts = []
                status = "ok"
                for n in (n1, n2):
                    outf = os.path.join(self.tmp, "callgrind.out")
                    env, _ = self.config_env(config)
                    argv = [VALGRIND, "--tool=callgrind", "--callgrind-out-file=" + outf,
                            self.programs["instructions"], str(n)] + extra
                    wall, _, _, _, st, stdout, stderr = run_measured(argv, env, None, a.timeout)
                    total = None
                    if st == "ok" and os.path.exists(outf):
                        with open(outf) as f:
                            for line in f:
                                if line.startswith(("summary:", "totals:")):
                                    total = int(line.split()[1])
                                    break
                    if os.path.exists(outf):
                        os.unlink(outf)
                    if total is None:
                        status = st if st != "ok" else "no callgrind total"
                        status += ": " + " ".join(stderr.strip().splitlines()[-2:])[-300:]
                        break
                    counts.append(total)
                if status == "ok":
                    per = (counts[1] - counts[0]) / float(n2 - n1)
                    results[(config, vname)] = ("ok", per, counts, (n1, n2))
                    log("[instructions] %-9s %-6s %.1f per pair" % (config, vname, per))
                else:
                    results[(config, vname)] = (status, None, None, (n1, n2))
                    log("[instructions] %-9s %-6s FAILED %s" % (config, vname, status))
        return results, variants

    def scale(self, w):
        if self.args.scale is not None:
            return self.args.scale
        return w.quick_scale if self.args.quick else 1.0

    def timeout(self, w):
        base = self.args.timeout
        if w.timeout and not self.args.timeout_given:
            base = max(base, w.timeout)
        return base


# --------------------------------------------------------------------------
# Statistics and report

def geomean(xs):
    xs = [x for x in xs if x is not None and x > 0]
    if not xs:
        return None
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


class Cell:
    """All runs of one (workload, config)."""

    def __init__(self, runs):
        self.runs = runs
        self.ok_runs = [r for r in runs if r.ok]
        self.failed = [r for r in runs if not r.ok]

    @property
    def failed_any(self):
        return bool(self.failed) or not self.runs

    def med(self, attr):
        if self.failed_any:
            return None
        return statistics.median(getattr(r, attr) for r in self.ok_runs)

    def spread(self, attr="wall"):
        vals = [getattr(r, attr) for r in self.ok_runs]
        if len(vals) < 2 or self.failed_any:
            return None
        return min(vals), max(vals)

    def failure_text(self):
        statuses = sorted(set(r.status for r in self.failed))
        return "FAILED %d/%d (%s)" % (len(self.failed), len(self.runs), ", ".join(statuses))


def cells_for(runs, prefix=""):
    by = {}
    for r in runs:
        if prefix:
            if not r.workload.startswith(prefix):
                continue
            name = r.workload[len(prefix):]
        else:
            if ":" in r.workload:
                continue
            name = r.workload
        by.setdefault((name, r.config), []).append(r)
    return {k: Cell(v) for k, v in by.items()}


def fmt_time(x):
    if x is None:
        return "–"
    return "%.3f" % x if x < 10 else "%.2f" % x


def fmt_ratio(x):
    return "–" if x is None else "%.2f×" % x


def fmt_mib(kib):
    return "–" if kib is None else "%.1f" % (kib / 1024.0)


def cell_text(cell, attr, fmt):
    if cell is None:
        return "not run"
    if cell.failed_any:
        return cell.failure_text()
    return fmt(cell.med(attr))


def sh(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def package_of(path):
    """(package, version) of the Debian package that ships path."""
    if not path or not os.path.exists(path):
        return None, None
    for candidate in (path, os.path.realpath(path)):
        out = sh(["dpkg-query", "-S", candidate])
        if out:
            pkg = out.splitlines()[0].split(": ")[0].split(",")[0].strip()
            return pkg, sh(["dpkg-query", "-W", "-f", "${Version}", pkg])
    return None, None


def file_digest(path):
    import hashlib
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def machine_facts():
    facts = []
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal"):
                    mem = "%.1f GiB" % (int(line.split()[1]) / 1024.0 / 1024.0)
    except OSError:
        pass
    facts.append(("CPUs (nproc)", sh(["nproc"]) or str(os.cpu_count())))
    facts.append(("CPU model", cpu))
    facts.append(("memory", mem))
    facts.append(("kernel", platform.release()))
    try:
        with open("/etc/debian_version") as f:
            facts.append(("Debian", f.read().strip()))
    except OSError:
        pass
    thp = ""
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            thp = f.read().strip()
    except OSError:
        pass
    facts.append(("transparent huge pages", thp))
    facts.append(("compiler", sh(["gcc", "--version"]).splitlines()[0] if sh(["gcc", "--version"]) else ""))
    return facts


def versions(args):
    rows = []
    items = [("glibc", "/lib/x86_64-linux-gnu/libc.so.6")]
    items += [(n, p) for n, p in PEERS if p]
    items += [("LeakSanitizer", LSAN), ("heaptrack", HEAPTRACK), ("valgrind", VALGRIND),
              ("python3", PYTHON), ("sqlite3", SQLITE)]
    for name, path in items:
        pkg, ver = package_of(path)
        rows.append((name, path, pkg or "?", ver or ("missing" if not os.path.exists(path) else "?")))
    if getattr(args, "memf_source", None):
        rev = sh(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"]) or "?"
        dirty = sh(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"])
        rows.append(("memf", args.memf_source,
                     "this repository (git %s%s)" % (rev, ", uncommitted changes in the tree"
                                                      if dirty else ""),
                     "sha256 " + args.memf_info))
    else:
        rows.append(("memf", args.memf or "-", "-", "not measured"))
    return rows


def gnuplot_chart(path, title, ylabel, workloads, configs, values, note=None):
    """values[(workload, config)] -> number or None. Returns None or an error."""
    gp = shutil.which("gnuplot")
    if not gp:
        return "gnuplot not installed (Debian package gnuplot-nox); chart skipped"
    d = tempfile.mkdtemp(prefix="memf-chart-")
    try:
        data = os.path.join(d, "data.txt")
        with open(data, "w") as f:
            f.write("workload " + " ".join(configs) + "\n")
            for w in workloads:
                vals = []
                for c in configs:
                    v = values.get((w, c))
                    vals.append("%.5f" % v if v else "NaN")
                f.write(w + " " + " ".join(vals) + "\n")
        terms = sh([gp, "-e", "set terminal"])
        term = "pngcairo size 1200,560 font ',10'" if "pngcairo" in terms else "png size 1200,560"
        script = os.path.join(d, "plot.gp")
        with open(script, "w") as f:
            f.write("set terminal %s\n" % term)
            f.write("set output %s\n" % json.dumps(os.path.abspath(path)))
            f.write("set title %s\n" % json.dumps(title + (("\n" + note) if note else "")))
            f.write("set ylabel %s\n" % json.dumps(ylabel))
            f.write("set style data histograms\nset style histogram clustered gap 1\n")
            f.write("set style fill solid 0.85 border -1\nset boxwidth 0.9\n")
            f.write("set logscale y 2\nset grid ytics\nset key top left\n")
            f.write("set xtics rotate by -30 noenhanced\nset key noenhanced\n")
            f.write("set yrange [*:*]\n")
            f.write("plot for [i=2:%d] %s using i:xtic(1) title columnheader(i)\n"
                    % (len(configs) + 1, json.dumps(data)))
        os.makedirs(os.path.dirname(os.path.abspath(path)) or ".", exist_ok=True)
        res = subprocess.run([gp, script], capture_output=True, text=True, timeout=60)
        if res.returncode != 0 or not os.path.exists(path):
            return "gnuplot failed: " + res.stderr.strip()[-300:]
        return None
    finally:
        shutil.rmtree(d, ignore_errors=True)


def write_report(bench, workloads, configs, instr, leak_workloads, leak_configs,
                 started, finished, load_before, load_after):
    a = bench.args
    cells = cells_for(bench.runs)
    lcells = cells_for(bench.runs, "leak:")
    peers = [c for c in configs if c in PEER_NAMES]
    has_memf = "memf" in configs
    names = [w.name for w in workloads]
    # memf's leak-check mode reports on stderr at exit (the Python workload
    # always leaves blocks behind).  No output at all means the mode did not
    # run, and then its figures are those of the default mode.
    # Its own warnings ("memf: warning: ...") are not a report.
    leak_runs = [r for r in bench.runs if r.config == "memf-leak" and r.ok]
    leak_said = [l for r in leak_runs for l in r.stderr_tail.splitlines()
                 if l.startswith("memf: warning:")]
    leak_inactive = bool(leak_runs) and not any(
        l.strip() and not l.startswith("memf: warning:")
        for r in leak_runs for l in r.stderr_tail.splitlines())
    L = []
    w_ = L.append

    def head(columns):
        """A markdown table's header line and its separator."""
        w_("| " + " | ".join(columns) + " |")
        w_("|" + "---|" * len(columns))

    w_("# memf benchmarks")
    w_("")
    w_("Generated by `tools/bench/run.py` on %s (%.1f minutes)." % (
        started.strftime("%Y-%m-%d %H:%M UTC"), (finished - started).total_seconds() / 60.0))
    if a.quick:
        w_("")
        w_("**Quick smoke run** (`--quick`): reduced iteration counts and repeats; "
           "the figures show that everything runs, not how fast.")
    w_("")
    w_("Command:")
    w_("")
    w_("```")
    script = os.path.abspath(sys.argv[0])
    shown = os.path.relpath(script, ROOT) if script.startswith(ROOT + os.sep) else script
    cwd = os.getcwd()
    if cwd != ROOT:
        w_("# in %s" % cwd)
        shown = script
    w_(" ".join(shlex.quote(x) for x in [sys.executable, shown] + sys.argv[1:]))
    w_("```")
    w_("")
    w_("Every cell is the median of %d runs (wall time from start to exit, peak RSS as "
       "GNU time's `%%M`, the rusage high-water mark of the process); runs are interleaved round robin across allocators, with the "
       "order rotated each round. The allocator is chosen with `LD_PRELOAD` "
       "(glibc: nothing preloaded); the workload programs are the same binaries for all. "
       "A run that crashes, exits non-zero, times out, or prints a result different from "
       "the other allocators' is reported as FAILED and left out of every ratio." % a.repeats)
    w_("")
    w_("## Machine")
    w_("")
    w_("| | |")
    w_("|---|---|")
    for k, v in machine_facts():
        w_("| %s | %s |" % (k, v))
    w_("| load average before / after | %s / %s |" % (load_before, load_after))
    if bench.loads:
        w_("| 1-minute load average before each timed run | median %.2f, max %.2f |"
           % (statistics.median(bench.loads), max(bench.loads)))
    if bench.busy:
        quiet = sum(1 for b in bench.busy if b < SETTLE_BUSY)
        w_("| CPU use by other work just before each timed run | median %.0f%%, max %.0f%%; "
           "%d of %d runs started on a quiet machine (waited %.0f s in all; limits %g s "
           "per run, %g s in total) |"
           % (100 * statistics.median(bench.busy), 100 * max(bench.busy), quiet,
              len(bench.busy), bench.settle_waited, a.settle, a.settle_total))
    w_("")
    w_("| component | path | package | version |")
    w_("|---|---|---|---|")
    for name, path, pkg, ver in versions(a):
        w_("| %s | `%s` | %s | %s |" % (name, path, pkg, ver))
    w_("")

    w_("## Workloads")
    w_("")
    w_("| workload | what it does | scale |")
    w_("|---|---|---|")
    for w in workloads:
        w_("| %s | %s | %g |" % (w.name, w.desc, bench.scale(w)))
    w_("")
    w_("Sources: `tools/bench/*.c`, `cxx_churn.cpp`, `alloc_heavy.py`, `sqlite_workload.py`. "
       "Operation counts above are at scale 1.")
    w_("")

    # ---- time
    w_("## Wall time (median seconds)")
    w_("")
    hdr = ["workload"] + configs
    if has_memf and peers:
        hdr += ["fastest peer", "memf ÷ fastest peer"]
    head(hdr)
    ratio_best = {}
    for n in names:
        row = [n]
        for c in configs:
            row.append(cell_text(cells.get((n, c)), "wall", fmt_time))
        if has_memf and peers:
            pv = [(cells[(n, p)].med("wall"), p) for p in peers
                  if (n, p) in cells and cells[(n, p)].med("wall") is not None]
            mv = cells[(n, "memf")].med("wall") if (n, "memf") in cells else None
            if pv:
                best = min(pv)
                row.append("%s (%s)" % (best[1], fmt_time(best[0])))
                r = mv / best[0] if mv is not None else None
                ratio_best[n] = r
                row.append(fmt_ratio(r))
            else:
                row += ["–", "–"]
        w_("| " + " | ".join(row) + " |")
    w_("")

    time_ratios = {}
    if has_memf and peers:
        w_("### memf time relative to each peer (lower is better)")
        w_("")
        head(["workload"] + ["vs " + p for p in peers])
        for n in names:
            row = [n]
            for p in peers:
                mv = cells[(n, "memf")].med("wall") if (n, "memf") in cells else None
                pv = cells[(n, p)].med("wall") if (n, p) in cells else None
                r = mv / pv if mv is not None and pv else None
                time_ratios[(n, p)] = r
                row.append(fmt_ratio(r))
            w_("| " + " | ".join(row) + " |")
        row = ["**geometric mean**"]
        for p in peers:
            vals = [time_ratios[(n, p)] for n in names]
            have = [v for v in vals if v is not None]
            row.append("**%s**" % fmt_ratio(geomean(have)) +
                       ("" if len(have) == len(vals) else " (%d of %d)" % (len(have), len(vals))))
        w_("| " + " | ".join(row) + " |")
        w_("")

    w_("### Geometric mean of wall time, relative to glibc")
    w_("")
    head(configs)
    gm_row = []
    for c in configs:
        rs = []
        complete = True
        for n in names:
            cv = cells[(n, c)].med("wall") if (n, c) in cells else None
            gv = cells[(n, "glibc")].med("wall") if (n, "glibc") in cells else None
            if cv is None or not gv:
                complete = False
                continue
            rs.append(cv / gv)
        g = geomean(rs)
        gm_row.append(fmt_ratio(g) + ("" if complete else " (partial)"))
    w_("| " + " | ".join(gm_row) + " |")
    w_("")

    w_("### CPU time (median user+system seconds)")
    w_("")
    w_("Less disturbed than wall time when other work shares the machine; for the "
       "threaded workloads it also counts time spent spinning or contending.")
    w_("")
    hdr = ["workload"] + configs + (["memf ÷ fastest peer"] if has_memf and peers else [])
    head(hdr)
    cpu_ratio = []
    for n in names:
        row = [n]
        meds = {}
        for c in configs:
            cell = cells.get((n, c))
            if cell is None or cell.failed_any:
                row.append(cell.failure_text() if cell else "not run")
                continue
            meds[c] = statistics.median(r.user + r.sys for r in cell.ok_runs)
            row.append(fmt_time(meds[c]))
        if has_memf and peers:
            pv = [meds[p] for p in peers if p in meds]
            r = meds["memf"] / min(pv) if "memf" in meds and pv and min(pv) > 0 else None
            cpu_ratio.append(r)
            row.append(fmt_ratio(r))
        w_("| " + " | ".join(row) + " |")
    if has_memf and peers:
        have = [v for v in cpu_ratio if v is not None]
        w_("| **geometric mean** |" + " |" * len(configs) + " **%s**%s |"
           % (fmt_ratio(geomean(have)),
              "" if len(have) == len(cpu_ratio) else " (%d of %d)" % (len(have), len(cpu_ratio))))
    w_("")

    # ---- RSS
    w_("## Peak RSS (median MiB)")
    w_("")
    hdr = ["workload"] + configs + (["memf ÷ mimalloc"] if has_memf and "mimalloc" in configs else [])
    head(hdr)
    rss_ratios = {}
    for n in names:
        row = [n]
        for c in configs:
            row.append(cell_text(cells.get((n, c)), "maxrss_kib", fmt_mib))
        if has_memf and "mimalloc" in configs:
            mv = cells[(n, "memf")].med("maxrss_kib") if (n, "memf") in cells else None
            pv = cells[(n, "mimalloc")].med("maxrss_kib") if (n, "mimalloc") in cells else None
            r = mv / pv if mv is not None and pv else None
            rss_ratios[n] = r
            row.append(fmt_ratio(r))
        w_("| " + " | ".join(row) + " |")
    if has_memf and "mimalloc" in configs:
        have = [v for v in rss_ratios.values() if v is not None]
        w_("| **geometric mean** |" + " |" * len(configs) + " **%s**%s |"
           % (fmt_ratio(geomean(have)),
              "" if len(have) == len(rss_ratios) else " (%d of %d)" % (len(have), len(rss_ratios))))
    w_("")

    frag = [w for w in workloads if w.final_rss]
    if frag:
        w_("### Resident set at the end (MiB, from /proc/self/statm, everything still allocated)")
        w_("")
        head(["workload"] + configs)
        for w in frag:
            row = [w.name]
            for c in configs:
                cell = cells.get((w.name, c))
                if cell is None or cell.failed_any:
                    row.append(cell.failure_text() if cell else "not run")
                    continue
                vals = [r.final_rss_kib for r in cell.ok_runs if r.final_rss_kib is not None]
                row.append(fmt_mib(statistics.median(vals)) if vals else "–")
            w_("| " + " | ".join(row) + " |")
        live = None
        for r in bench.runs:
            if r.workload in [w.name for w in frag] and r.ok:
                v = parse_kv(r.stdout, "live_kib")
                if v:
                    live = int(v)
                    break
        if live:
            w_("")
            w_("Live bytes requested at that point: %.1f MiB." % (live / 1024.0))
        w_("")

    # ---- instructions
    instr_results, variants = instr if instr else ({}, [])
    if instr:
        w_("## Instructions per malloc+free pair (callgrind)")
        w_("")
        ns = sorted(set(v[3] for v in instr_results.values()), key=lambda x: -x[1])
        w_("`valgrind --tool=callgrind` on `instructions N` for two values of N (%s); the figure is "
           "the difference in total instructions divided by the difference in N, so start-up "
           "and exit cancel and the loop (size drawn from a xorshift generator, sizes 8–256 B) "
           "is included. *window*: each iteration frees the block allocated 1024 iterations "
           "earlier (the figure compared with the brief's); *pair*: free right after malloc."
           % "; ".join("%d and %d%s" % (x[0], x[1], " for memf-leak" if x[0] == 20000
                                         and len(ns) > 1 else "") for x in ns))
        w_("")
        head(["allocator"] + [v for v, _ in variants])
        for c in instr_configs(configs):
            row = [c]
            for v, _ in variants:
                st, per, _, _ = instr_results.get((c, v), ("not run", None, None, None))
                row.append("%.1f" % per if st == "ok" else "FAILED (%s)" % st)
            w_("| " + " | ".join(row) + " |")
        w_("")
        if leak_inactive and "memf" in configs:
            w_("memf-leak is memf with `MEMF_LEAK_CHECK=1 MEMF_STACKS=all`; this build "
               "printed no leak report in that mode (see below).")
            w_("")

    # ---- leak checkers
    leak_gm = {}
    if leak_workloads:
        w_("## Leak checking cost")
        w_("")
        w_("Each program run plain (glibc), under memf's default mode, under memf's leak-check "
           "mode (`%s`), with LeakSanitizer preloaded (`LD_PRELOAD=%s`, `%s`) and under "
           "`heaptrack -o FILE`; median of %d runs, at reduced scales (%s) so heaptrack "
           "finishes in seconds. Overhead = time ÷ plain glibc time. Runs are interleaved "
           "round robin as above."
           % (" ".join("%s=%s" % kv for kv in MEMF_LEAK_ENV.items()), LSAN,
              " ".join("%s=%s" % kv for kv in LSAN_ENV.items()), a.leak_repeats,
              ", ".join("%s %g" % (w.name, w.quick_scale * 0.5 if a.quick else w.leak_scale)
                        for w in leak_workloads)))
        w_("")
        head(["workload"] + leak_configs + ["%s overhead" % c for c in leak_configs if c != "glibc"] +
             ["heaptrack ÷ memf-leak"])
        over = {c: {} for c in leak_configs}
        ht_ratio = {}
        for w in leak_workloads:
            row = [w.name]
            for c in leak_configs:
                row.append(cell_text(lcells.get((w.name, c)), "wall", fmt_time))
            base = lcells[(w.name, "glibc")].med("wall") if (w.name, "glibc") in lcells else None
            for c in leak_configs:
                if c == "glibc":
                    continue
                v = lcells[(w.name, c)].med("wall") if (w.name, c) in lcells else None
                r = v / base if v is not None and base else None
                over[c][w.name] = r
                row.append(fmt_ratio(r))
            ml = lcells[(w.name, "memf-leak")].med("wall") if (w.name, "memf-leak") in lcells else None
            ht = lcells[(w.name, "heaptrack")].med("wall") if (w.name, "heaptrack") in lcells else None
            r = ht / ml if ht is not None and ml else None
            ht_ratio[w.name] = r
            row.append(fmt_ratio(r))
            w_("| " + " | ".join(row) + " |")

        def gm_text(d):
            vals = [v for v in d.values() if v is not None]
            g = geomean(vals)
            if g is None:
                return "–"
            return fmt_ratio(g) + ("" if len(vals) == len(d) else " (%d of %d)" % (len(vals), len(d)))

        row = ["**geometric mean**"] + [""] * len(leak_configs)
        for c in leak_configs:
            if c != "glibc":
                row.append("**%s**" % gm_text(over[c]))
        row.append("**%s**" % gm_text(ht_ratio))
        w_("| " + " | ".join(row) + " |")
        w_("")
        # The target comparisons use the workloads where both sides have a figure.
        if "memf-leak" in over and "lsan" in over:
            common = [n for n in over["memf-leak"]
                      if over["memf-leak"][n] is not None and over["lsan"].get(n) is not None]
            leak_gm["lsan"] = (geomean([over["memf-leak"][n] for n in common]),
                               geomean([over["lsan"][n] for n in common]), common,
                               [n for n in over["memf-leak"] if n not in common])
        if "memf-leak" in over and "heaptrack" in over:
            common = [n for n, v in ht_ratio.items() if v is not None]
            leak_gm["heaptrack"] = (geomean([ht_ratio[n] for n in common]), common,
                                    [n for n in ht_ratio if n not in common])
        if leak_inactive:
            w_("**memf's leak-check mode printed no leak report in any run**, where it "
               "should print at least its one-line summary at exit%s. So this build does not "
               "check for leaks yet, and the memf-leak column shows only what "
               "`MEMF_LEAK_CHECK=1 MEMF_STACKS=all` costs without the report."
               % ("; it only said `%s`" % leak_said[0] if leak_said else ""))
            w_("")
        w_("Peak RSS (median MiB) in the same runs:")
        w_("")
        head(["workload"] + leak_configs)
        for w in leak_workloads:
            w_("| " + " | ".join([w.name] + [cell_text(lcells.get((w.name, c)), "maxrss_kib",
                                                         fmt_mib) for c in leak_configs]) + " |")
        w_("")

    # ---- targets
    if has_memf:
        w_("## Targets")
        w_("")
        w_("| target | measured | holds |")
        w_("|---|---|---|")

        def verdict(ok, leak=False):
            if leak and leak_inactive:
                return "n/a: no leak report from memf"
            return "n/a" if ok is None else ("yes" if ok else "**no**")

        def complete(vals):
            return vals and all(v is not None for v in vals)

        if "mimalloc" in peers:
            vals = [time_ratios.get((n, "mimalloc")) for n in names]
            g = geomean(vals) if complete(vals) else None
            w_("| memf geomean time ≤ 1.0× mimalloc | %s | %s |" % (
                fmt_ratio(g) if g else "incomplete (failed or missing runs)",
                verdict(None if g is None else g <= 1.0)))
        if peers:
            vals = [ratio_best.get(n) for n in names]
            worst = max(((v, n) for n, v in ratio_best.items() if v is not None), default=None)
            if complete(vals):
                w_("| no workload worse than 1.2× the fastest peer | worst: %s %s | %s |" % (
                    worst[1], fmt_ratio(worst[0]), verdict(worst[0] <= 1.2)))
            else:
                bad = [n for n in names if ratio_best.get(n) is None]
                w_("| no workload worse than 1.2× the fastest peer | no figure for: %s | **no** |"
                   % ", ".join(bad))
        if instr and "mimalloc" in configs:
            st_m, pm, _, _ = instr_results.get(("memf", "window"), ("not run", None, None, None))
            st_p, pp, _, _ = instr_results.get(("mimalloc", "window"), ("not run", None, None, None))
            if pm is not None and pp is not None:
                w_("| instructions per pair ≤ mimalloc | %.1f vs %.1f | %s |" % (pm, pp, verdict(pm <= pp)))
            else:
                w_("| instructions per pair ≤ mimalloc | memf: %s, mimalloc: %s | n/a |" % (st_m, st_p))
        if "mimalloc" in configs:
            vals = list(rss_ratios.values())
            g = geomean(vals) if complete(vals) else None
            w_("| peak RSS geomean ≤ 1.1× mimalloc | %s | %s |" % (
                fmt_ratio(g) if g else "incomplete", verdict(None if g is None else g <= 1.1)))
        if "tcmalloc" in configs and "huge" in names:
            r = time_ratios.get(("huge", "tcmalloc"))
            w_("| huge at least as fast as tcmalloc | %s | %s |" % (
                fmt_ratio(r) if r else "no figure", verdict(None if r is None else r <= 1.0)))
        if leak_workloads:
            if "lsan" in leak_gm:
                ml, ls, common, excluded = leak_gm["lsan"]
                w_("| leak-check overhead ≤ LeakSanitizer's | %s vs %s over %s%s | %s |" % (
                    fmt_ratio(ml), fmt_ratio(ls), ", ".join(common) or "no workload",
                    "; no figure for " + ", ".join(excluded) if excluded else "",
                    verdict(None if ml is None or ls is None else ml <= ls, leak=True)))
            if "heaptrack" in leak_gm:
                ht, common, excluded = leak_gm["heaptrack"]
                w_("| leak-check ≥ 5× faster than heaptrack | %s over %s%s | %s |" % (
                    fmt_ratio(ht), ", ".join(common) or "no workload",
                    "; no figure for " + ", ".join(excluded) if excluded else "",
                    verdict(None if ht is None else ht >= 5.0, leak=True)))
        w_("")

    # ---- application pools
    pools = getattr(bench, "pools", None)
    if pools and pools[0]:
        order, best = pools
        contenders = []
        for key in order:
            for pool in best[key]:
                if pool not in contenders:
                    contenders.append(pool)
        unsync = {"boost::pool", "pmr::unsynchronized_pool_resource"}
        w_("## Application pools")
        w_("")
        w_("`tools/bench/pool_bench` (64-byte objects; in the *mixed* rows 16–512 B, for the pools "
           "that take any size; docs/pools.md describes the patterns), run "
           "%d times interleaved: `pool_bench all` with glibc's libc.so.6 preloaded (every pool; "
           "new/delete and the other pools' upstream are glibc's malloc: without the preload "
           "they would be libmimalloc.so.2's, which pool_bench links for memf's engine), "
           "and `pool_bench new/` with memf and with mimalloc preloaded. Nanoseconds per "
           "allocate+free pair, all threads' pairs counted (so two threads that scale perfectly "
           "halve the one-thread figure); lowest of the runs (each already the best of five)." % a.pool_repeats)
        w_("`boost::pool` and `pmr::unsynchronized_pool_resource` are not thread-safe: single-thread "
           "rows only. Figures within 5% of the lowest are listed as tied.")
        w_("")
        head(["pattern", "threads"] + contenders + ["fastest", "fastest thread-safe"])
        for key in order:
            row = best[key]
            cells_ = [("%.1f" % row[c]) if c in row else "–" for c in contenders]
            def leaders(figures):
                # Within 5% (or 0.05 ns) of the lowest figure counts as a tie on this machine.
                if not figures:
                    return "–"
                low = min(figures.values())
                tied = sorted((c for c, v in figures.items() if v <= max(low * 1.05, low + 0.05)),
                              key=figures.get)
                return " = ".join(tied) + " (%.1f)" % low
            safe = {c: v for c, v in row.items() if c not in unsync}
            w_("| %s | %s | %s | %s | %s |" % (key[0], key[1], " | ".join(cells_), leaders(row), leaders(safe)))
        w_("")

    # ---- charts
    charts = []
    if a.chart:
        tvals, rvals = {}, {}
        for n in names:
            g = cells.get((n, "glibc"))
            gv = g.med("wall") if g else None
            gr = g.med("maxrss_kib") if g else None
            for c in configs:
                cell = cells.get((n, c))
                if cell and gv and cell.med("wall") is not None:
                    tvals[(n, c)] = cell.med("wall") / gv
                if cell and gr and cell.med("maxrss_kib") is not None:
                    rvals[(n, c)] = cell.med("maxrss_kib") / gr
        err = gnuplot_chart(a.chart, "Wall time relative to glibc (lower is better, log scale)",
                            "time / glibc time", names, configs, tvals,
                            "quick smoke run" if a.quick else None)
        charts.append(("Wall time relative to glibc", a.chart, err))
        rss_chart = rss_chart_path(a.chart)
        err = gnuplot_chart(rss_chart, "Peak RSS relative to glibc (lower is better, log scale)",
                            "peak RSS / glibc peak RSS", names, configs, rvals,
                            "quick smoke run" if a.quick else None)
        charts.append(("Peak RSS relative to glibc", rss_chart, err))
    if charts:
        w_("## Charts")
        w_("")
        outdir = os.path.dirname(os.path.abspath(a.out)) if a.out else os.getcwd()
        for title, path, err in charts:
            if err:
                w_("%s: %s." % (title, err))
            else:
                w_("![%s](%s)" % (title, os.path.relpath(os.path.abspath(path), outdir)))
            w_("")

    # ---- spread and failures
    w_("## Spread")
    w_("")
    w_("Wall time min–max over the runs of each cell, and median CPU time (user+system).")
    w_("")
    head(["workload"] + configs)
    for n in names:
        row = [n]
        for c in configs:
            cell = cells.get((n, c))
            if not cell or cell.failed_any:
                row.append("–")
                continue
            sp = cell.spread()
            cpu = statistics.median(r.user + r.sys for r in cell.ok_runs)
            row.append(("%s–%s" % (fmt_time(sp[0]), fmt_time(sp[1])) if sp else fmt_time(cell.med("wall")))
                       + ", cpu %s" % fmt_time(cpu))
        w_("| " + " | ".join(row) + " |")
    w_("")

    failures = [r for r in bench.runs if not r.ok]
    w_("## Failures")
    w_("")
    if not failures:
        w_("None: every run exited 0 with the expected output.")
    else:
        seen = set()
        for r in failures:
            key = (r.workload, r.config, r.status)
            if key in seen:
                continue
            seen.add(key)
            count = sum(1 for x in failures if (x.workload, x.config, x.status) == key)
            w_("- **%s / %s**: %s (%d run%s)" % (r.workload, r.config, r.status, count,
                                                  "" if count == 1 else "s"))
            note = bench.mismatch.get((r.workload, r.config))
            if note:
                w_("  - %s" % note)
            if r.config == "lsan" and r.workload.endswith("sqlite") and "SEGV" in r.status:
                w_("  - Known: sqlite3 calls `signal()` before its first allocation; with "
                   "liblsan.so.0 preloaded into an uninstrumented program that call reaches "
                   "LeakSanitizer's interceptor before the runtime has initialised, and it jumps "
                   "to a null pointer (seen in gdb: the fault is at address 0, called from "
                   "sqlite3's `main` via `signal@plt`). `echo 'select 1;' | "
                   "LD_PRELOAD=liblsan.so.0 sqlite3` crashes the same way.")
            tail = r.stderr_tail.strip().splitlines()[-6:]
            if tail:
                w_("")
                w_("  ```")
                for line in tail:
                    w_("  " + line[:200])
                w_("  ```")
    w_("")
    if a.memf_missing:
        w_("memf was requested but `%s` does not exist, so it was not measured." % a.memf)
        w_("")
    w_(ELSEWHERE)
    return "\n".join(L)


ELSEWHERE = """## Notes and other measurements

- Peak RSS of `xthread` depends on how far the producer runs ahead of the consumer (at most 4
  batches of 16384 blocks, about 9 MiB, are in flight), which changes from run to run for every
  allocator: 14 runs each of `xthread 1` (`/usr/bin/time -f %M`, 25 November 2026) gave 7–15 MiB
  under memf (median 8) and 5–12 MiB under mimalloc (median 7.5). A median of five runs can land
  in either mode, so the RSS geometric mean moves by about ±0.05 between reports on that row alone.
- Loading libstdc++ (memf is C++) costs a C program about 1.2 MiB of RSS (`small_churn 0.3`: 4.8
  MiB under memf, 3.6 MiB with libstdc++ linked statically into libmemf, 2.9 MiB under mimalloc).
  Linking it statically is not done: memf's `operator new` must call the program's new_handler and
  throw through the program's C++ runtime, which a private copy would not be.
- Application pools (`MemoryPool`, `VariablePool`, pmr, `boost::pool`): [pools.md](pools.md),
  measured with `tools/bench/pool_bench.cpp`.
- Pressure detection cost on the allocation path and callback latency: [pressure.md](pressure.md)
  (`tools/bench/pressure_bench.cpp`).
- Purge delay (`tools/bench/phases.c`) and the huge-block threshold: [design.md](design.md),
  "Slabs and purging" and "Large blocks".
- What a state byte written on every malloc and free cost in `larson` (1.25× tcmalloc), and the
  free mark that replaced it: [design.md](design.md), "The pools' address space".
- Stack capture methods (frame pointers, libgcc, libunwind): [stacks.md](stacks.md).
"""


def rss_chart_path(chart):
    d, base = os.path.split(chart)
    if "time" in base:
        return os.path.join(d, base.replace("time", "rss"))
    stem, ext = os.path.splitext(base)
    return os.path.join(d, stem + "-rss" + (ext or ".png"))


def instr_configs(configs):
    out = list(configs)
    if "memf" in out:
        out.append("memf-leak")
    return out


SETTLE_BUSY = 0.15   # fraction of all CPUs busy that counts as "quiet"


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


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: small iteration counts, 2 repeats")
    ap.add_argument("--only", help="comma-separated workloads (default: all): " +
                    ",".join(w.name for w in WORKLOADS))
    ap.add_argument("--allocators", default="glibc,mimalloc,jemalloc,tcmalloc,memf",
                    help="comma-separated subset of glibc,mimalloc,jemalloc,tcmalloc,memf")
    ap.add_argument("--memf", default=os.path.join(ROOT, "build", "interpose", "libmemf.so"),
                    help="path of libmemf.so (default: build/interpose/libmemf.so)")
    ap.add_argument("--build-dir", default=None,
                    help="meson build directory holding tools/bench/* (default: ROOT/build)")
    ap.add_argument("--repeats", type=int, default=None, help="runs per cell (default 5, quick 2)")
    ap.add_argument("--leak-repeats", type=int, default=None,
                    help="runs per cell in the leak-check comparison (default 3, quick 1)")
    ap.add_argument("--leak-workloads", default=None,
                    help="workloads for the leak-check comparison (default: %s; 'none' to skip)"
                    % ",".join(w.name for w in WORKLOADS if w.leak_scale))
    ap.add_argument("--no-instructions", action="store_true", help="skip the callgrind counts")
    ap.add_argument("--no-pools", action="store_true", help="skip the application-pool benchmark")
    ap.add_argument("--pool-repeats", type=int, default=None, help="pool_bench runs (default 3, quick 1)")
    ap.add_argument("--no-warmup", action="store_true", help="skip the unrecorded warm-up runs")
    ap.add_argument("--scale", type=float, default=None,
                    help="override the scale factor of every workload")
    ap.add_argument("--timeout", type=float, default=None,
                    help="seconds before a run is killed and reported FAILED (default 180)")
    ap.add_argument("--out", default=None,
                    help="markdown report (default docs/benchmarks.md; with --quick, "
                         "build/bench-quick.md)")
    ap.add_argument("--chart", default=None,
                    help="time chart PNG (default docs/bench/time.png; with --quick, "
                         "build/bench-quick-time.png); the RSS chart goes beside it")
    ap.add_argument("--json", default=None, help="also write every run as JSON here")
    ap.add_argument("--settle", type=float, default=None,
                    help="before each timed run wait up to this many seconds for the CPUs "
                         "to be quiet (under %d%%%% busy); default 10, quick 0"
                    % (100 * SETTLE_BUSY))
    ap.add_argument("--settle-total", type=float, default=300.0,
                    help="at most this many seconds of such waiting in the whole run "
                         "(default 300)")
    a = ap.parse_args()

    a.timeout_given = a.timeout is not None
    if a.timeout is None:
        a.timeout = 180.0
    if a.settle is None:
        a.settle = 0.0 if a.quick else 10.0
    if a.repeats is None:
        a.repeats = 2 if a.quick else 5
    if a.leak_repeats is None:
        a.leak_repeats = 1 if a.quick else 3
    if a.pool_repeats is None:
        a.pool_repeats = 1 if a.quick else 3
    build_dir = a.build_dir or os.path.join(ROOT, "build")
    if a.out is None:
        a.out = os.path.join(build_dir if a.quick else os.path.join(ROOT, "docs"),
                             "bench-quick.md" if a.quick else "benchmarks.md")
    if a.chart is None:
        a.chart = (os.path.join(build_dir, "bench-quick-time.png") if a.quick
                   else os.path.join(ROOT, "docs", "bench", "time.png"))
    if a.memf:
        a.memf = os.path.abspath(a.memf)

    if a.only:
        names = [x.strip() for x in a.only.split(",") if x.strip()]
        bad = [n for n in names if n not in WORKLOAD_BY_NAME and n != "instructions"]
        if bad:
            ap.error("unknown workload(s): %s" % ", ".join(bad))
    else:
        names = [w.name for w in WORKLOADS] + ["instructions"]
    workloads = [WORKLOAD_BY_NAME[n] for n in names if n in WORKLOAD_BY_NAME]
    do_instr = "instructions" in names and not a.no_instructions

    configs = [c.strip() for c in a.allocators.split(",") if c.strip()]
    for c in configs:
        if c not in PEER_NAMES + ["memf"]:
            ap.error("unknown allocator %r" % c)
    usable = []
    a.memf_missing = False
    for c in configs:
        path = a.memf if c == "memf" else dict(PEERS)[c]
        if path and not os.path.exists(path):
            log("warning: %s library %s not found; skipping %s" % (c, path, c))
            a.memf_missing = a.memf_missing or c == "memf"
            continue
        usable.append(c)
    configs = usable
    if not configs:
        ap.error("no allocator to measure")

    if a.leak_workloads is None:
        leak_names = [w.name for w in workloads if w.leak_scale]
    elif a.leak_workloads == "none":
        leak_names = []
    else:
        leak_names = [x.strip() for x in a.leak_workloads.split(",") if x.strip()]
    leak_workloads = []
    for n in leak_names:
        w = WORKLOAD_BY_NAME.get(n)
        if not w:
            ap.error("unknown leak workload %r" % n)
        if not w.leak_scale:
            w.leak_scale = w.quick_scale
        leak_workloads.append(w)
    leak_configs = ["glibc"] + (["memf", "memf-leak"] if "memf" in configs else []) + \
        [c for c, p in (("lsan", LSAN), ("heaptrack", HEAPTRACK)) if os.path.exists(p)]
    if "memf" not in configs:
        leak_workloads = []   # the comparison is about memf's leak-check mode

    bench = Bench(a)
    if "memf" in configs:
        # Measure a private copy: the build tree may be rebuilt during a long run.
        a.memf_source = a.memf
        st = os.stat(a.memf)
        a.memf_info = "%s, %d bytes, modified %s UTC" % (
            file_digest(a.memf)[:12], st.st_size,
            datetime.datetime.fromtimestamp(st.st_mtime, datetime.timezone.utc)
            .strftime("%Y-%m-%d %H:%M"))
        with open(a.memf, "rb") as f:
            uses_origin = b"$ORIGIN" in f.read()
        if not uses_origin:   # a copy elsewhere would not find its neighbours
            copy = os.path.join(bench.tmp, "libmemf.so")
            shutil.copy2(a.memf, copy)
            a.memf = copy
    need = sorted({w.name for w in workloads + leak_workloads if w.kind == "exe"} |
                  ({"instructions"} if do_instr else set()))
    bench.programs = locate_programs(build_dir if os.path.isdir(build_dir) else None, need)
    pool_program = os.path.join(build_dir, "tools", "bench", "pool_bench")
    do_pools = not a.no_pools and not a.only
    if do_pools and not os.access(pool_program, os.X_OK):
        log("warning: %s not built (it links libmemf); skipping the pool benchmark" % pool_program)
        do_pools = False
    for tool, path in (("python", PYTHON), ("sqlite", SQLITE)):
        if any(w.kind == tool for w in workloads) and not os.path.exists(path):
            log("warning: %s not found; its workload will fail" % path)
    if do_instr and not os.path.exists(VALGRIND):
        log("warning: valgrind not found; skipping instruction counts")
        do_instr = False

    started = datetime.datetime.now(datetime.timezone.utc)
    load_before = loadavg()
    instr = None
    try:
        if workloads:
            bench.timing_phase(workloads, configs)
        if do_instr:
            instr = bench.instruction_phase(instr_configs(configs))
        if leak_workloads:
            bench.leak_phase(leak_workloads, leak_configs)
        if do_pools:
            bench.pool_phase(pool_program, a.memf if "memf" in configs else None)
        bench.validate()
        finished = datetime.datetime.now(datetime.timezone.utc)
        report = write_report(bench, workloads, configs, instr, leak_workloads, leak_configs,
                              started, finished, load_before, loadavg())
    finally:
        if a.json:
            with open(a.json, "w") as f:
                json.dump([r.to_json() for r in bench.runs], f, indent=1)
        bench.close()
    os.makedirs(os.path.dirname(os.path.abspath(a.out)) or ".", exist_ok=True)
    with open(a.out, "w") as f:
        f.write(report + "\n")
    log("report written to %s" % a.out)
    failed = sum(1 for r in bench.runs if not r.ok)
    if failed:
        log("%d run(s) FAILED; see the report's Failures section" % failed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
