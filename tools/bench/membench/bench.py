"""The Bench: runs the workloads under every configuration, interleaved round robin,
and the other phases (callgrind instruction counts, leak checkers, application pools)."""

import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

from .common import HERE, LIBDIR, PYTHON, SQLITE, VALGRIND, log
from .measure import SETTLE_BUSY, Run, clean_env, cpu_busy, loadavg, run_measured
from .peers import HEAPTRACK, LSAN, LSAN_ENV, MEMF_LEAK_ENV, PEERS
from .workloads import output_signature, parse_kv


def instr_configs(configs):
    """The configurations counted under callgrind: the allocators and memf's leak-check mode."""
    out = list(configs)
    if "memf" in out:
        out.append("memf-leak")
    return out


def interleaved_plan(repeats, workloads, configs):
    """(rep, workload, config) in the order they run: each round runs every configuration once,
    in an order drawn afresh for each round and workload (seeded: the same arguments give the
    same plan). Not a rotation: a rotation keeps each configuration behind the same one in every
    round, and on a virtual machine that hands freed memory back to its host (free page
    reporting) a run right after one that freed a lot pays for backing its memory again. On the
    benchmark machine `huge` took 0.16-0.22 s right after a jemalloc run and 0.05 s otherwise,
    for memf and mimalloc 2.2.7 alike; mimalloc-bench's malloc-large 1.5-2.4 s against 1.1-1.2
    (docs/benchmarks.md). With the order drawn, the median of the runs is rarely one that
    followed such a run, and no configuration is always the one that does: each round's order
    is drawn again until no configuration has the predecessor it had in the round before."""
    orders = {}  # workload index -> the previous round's order
    plan = []
    for rep in range(repeats):
        for wi, w in enumerate(workloads):
            rng = random.Random(1000003 * rep + wi)
            before = orders.get(wi)
            for _ in range(1000):
                order = list(configs)
                rng.shuffle(order)
                if before is None or len(order) < 2 or not set(zip(order, order[1:])) & set(zip(before, before[1:])):
                    break
            orders[wi] = order
            for config in order:
                plan.append((rep, w, config))
    return plan


def run_log_text(r):
    rated = r.score is not None and r.score != r.wall    # a suite test measured by its rate
    return "%7.3f s %8.1f MiB %s%s" % (r.wall, r.maxrss_kib / 1024.0,
                                        "relative time %.3f s " % r.score if rated else "",
                                        "" if r.ok else "** " + r.status + " **")


def callgrind_total(outf):
    """The total instruction count from a callgrind output file, or None."""
    if not os.path.exists(outf):
        return None
    with open(outf) as f:
        for line in f:
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    return None


def parse_pool_output(out, suffix, order, best):
    """Adds pool_bench's table rows to best[(pattern, threads)][pool] (lowest figure)."""
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
        self.mbench = None      # the mimalloc-bench Suite, when it is run

    def close(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- command lines ------------------------------------------------------

    def sql_script(self, scale):
        key = "%.4f" % scale
        if key not in self.sql_scripts:
            sys.path.insert(0, HERE)
            import sqlite_workload  # noqa: E402  (lives in tools/bench)
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
        if w.kind == "mbench":
            argv, stdin_path = self.mbench.command(w)
            return argv, {}, stdin_path
        raise ValueError(w.kind)

    def workdir(self, w):
        """The working directory of a run: the suite's programs run in a scratch directory
        (rptest writes a file there), the others where the runner was started."""
        if w.kind != "mbench":
            return None
        if not self.mbench.workdir:
            self.mbench.workdir = os.path.join(self.tmp, "mbench")
            os.makedirs(self.mbench.workdir, exist_ok=True)
        return self.mbench.workdir

    def preload_of(self, config):
        """The library an allocator config preloads (None for glibc); KeyError if unknown."""
        if config == "glibc":
            return None
        if config in ("mimalloc", "jemalloc", "tcmalloc"):
            return dict(PEERS)[config]
        if config in ("memf", "memf-leak"):
            return self.args.memf
        return {p.name: p.preload for p in self.args.extra_peers}[config]

    def config_env(self, config):
        """Environment and argv prefix for an allocator or checker config."""
        env = clean_env()
        prefix = []
        if config == "lsan":
            env["LD_PRELOAD"] = LSAN
            env.update(LSAN_ENV)
        elif config == "heaptrack":
            prefix = [HEAPTRACK, "-o", os.path.join(self.tmp, "heaptrack", "out")]
        else:
            try:
                lib = self.preload_of(config)
            except KeyError:
                raise ValueError(config) from None
            if lib:
                env["LD_PRELOAD"] = lib
            if config == "memf-leak":
                env.update(MEMF_LEAK_ENV)
        return env, prefix

    # -- one run --------------------------------------------------------------

    def measure(self, w, config, rep, scale, timeout):
        argv, extra, stdin_path = self.command(w, scale)
        env, prefix = self.config_env(config)
        env.update(extra)
        wall, user, sys_t, maxrss, status, stdout, stderr = run_measured(
            prefix + argv, env, stdin_path, timeout, cwd=self.workdir(w))
        score = None
        if w.kind == "mbench":
            score = w.relative_time(stdout) if w.rate else wall
            if score is None and status == "ok":
                status = "no rate in its output"
        report = None
        if config == "memf-leak" and rep == 0:
            # Proof that the check runs, from one more run, untimed: a clean process writes
            # nothing on stderr, and the JSON report (which symbolizes the stacks of reachable
            # blocks too) would add to the time measured.
            report = os.path.join(self.tmp, "memf-leak-report.json")
            if os.path.exists(report):
                os.unlink(report)
            run_measured(prefix + argv, dict(env, MEMF_REPORT=report), stdin_path, timeout)
        if config == "heaptrack":
            shutil.rmtree(os.path.join(self.tmp, "heaptrack"), ignore_errors=True)
        final = parse_kv(stdout, "final_rss_kib")
        run = Run(workload=w.name, config=config, rep=rep, scale=scale, wall=wall, user=user,
                  sys=sys_t, maxrss_kib=maxrss, status=status, stdout=stdout[-2000:],
                  stderr_tail=stderr[-1500:],
                  final_rss_kib=int(final) if final is not None else None,
                  signature=output_signature(w, stdout) if w.deterministic else None,
                  leak_report=os.path.exists(report) if report else None, score=score)
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
        plan = interleaved_plan(a.repeats, workloads, configs)
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
            log("[%d/%d] %-15s %-9s rep %d: %s   (eta %.0f s)" % (
                i + 1, total, w.name, config, rep, run_log_text(r), eta))

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

    def leak_scale(self, w):
        return w.quick_scale * 0.5 if self.args.quick else w.leak_scale

    def leak_phase(self, workloads, configs):
        a = self.args
        plan = interleaved_plan(a.leak_repeats, workloads, configs)
        for i, (rep, w, config) in enumerate(plan):
            r = self.measure(w, config, rep, self.leak_scale(w), self.timeout(w) * 4)
            r.workload = "leak:" + w.name
            self.runs.append(r)
            log("[leak %d/%d] %-15s %-9s rep %d: %s" % (
                i + 1, len(plan), w.name, config, rep, run_log_text(r)))

    def pool_runs(self, memf_lib):
        """(suffix, library to preload, pool_bench filter) of each pool_bench run."""
        # pool_bench links memf's engine, and with it libmimalloc.so.2, which exports malloc and
        # comes before libc in the lookup order: preloading libc makes new/delete glibc's.
        libc = LIBDIR + "/libc.so.6"
        runs = [(" on glibc", libc if os.path.exists(libc) else None, "all")]
        if memf_lib:
            runs.append((" on memf", memf_lib, "new/"))
        mimalloc = dict(PEERS).get("mimalloc")
        if mimalloc and os.path.exists(mimalloc):
            runs.append((" on mimalloc", mimalloc, "new/"))
        return runs

    def pool_phase(self, program, memf_lib):
        """tools/bench/pool_bench: the pools on glibc (every pool; new/delete is glibc's), and
        new/delete alone under memf and under mimalloc; interleaved, lowest figure per row."""
        a = self.args
        runs = self.pool_runs(memf_lib)
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
                parse_pool_output(out, suffix, order, best)
        self.pools = (order, best)

    def count_instructions(self, config, n, extra):
        """(callgrind total or None, status, stderr) of `instructions n extra...`."""
        outf = os.path.join(self.tmp, "callgrind.out")
        env, _ = self.config_env(config)
        argv = [VALGRIND, "--tool=callgrind", "--callgrind-out-file=" + outf,
                self.programs["instructions"], str(n)] + extra
        _, _, _, _, st, _, stderr = run_measured(argv, env, None, self.args.timeout)
        total = callgrind_total(outf) if st == "ok" else None
        if os.path.exists(outf):
            os.unlink(outf)
        return total, st, stderr

    def instruction_variant(self, config, n1, n2, extra):
        """(status, instructions per pair or None, [count at n1, count at n2])."""
        counts = []
        for n in (n1, n2):
            total, st, stderr = self.count_instructions(config, n, extra)
            if total is None:
                status = st if st != "ok" else "no callgrind total"
                status += ": " + " ".join(stderr.strip().splitlines()[-2:])[-300:]
                return status, None, None
            counts.append(total)
        return "ok", (counts[1] - counts[0]) / float(n2 - n1), counts

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
                status, per, counts = self.instruction_variant(config, n1, n2, extra)
                results[(config, vname)] = (status, per, counts, (n1, n2))
                if status == "ok":
                    log("[instructions] %-9s %-6s %.1f per pair" % (config, vname, per))
                else:
                    log("[instructions] %-9s %-6s FAILED %s" % (config, vname, status))
        return results, variants

    def scale(self, w):
        if w.kind == "mbench":
            return 1.0     # the suite's arguments are bench.sh's
        if self.args.scale is not None:
            return self.args.scale
        return w.quick_scale if self.args.quick else 1.0

    def timeout(self, w):
        base = self.args.timeout
        if w.timeout and not self.args.timeout_given:
            base = max(base, w.timeout)
        return base
