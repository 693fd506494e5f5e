#!/usr/bin/python3
"""Benchmark runner: memf against glibc, mimalloc, jemalloc and tcmalloc.

Every workload is run under every allocator (chosen with LD_PRELOAD),
round robin, R times; the report gives median wall time and median peak
RSS per cell, memf's ratio to each peer, geometric means, instruction
counts per malloc+free pair under callgrind, the cost of memf's leak-check
mode next to LeakSanitizer and heaptrack, and whether the performance
targets hold.  With --mimalloc-bench DIR it also runs mimalloc-bench, the field's standard
allocator suite, from a checkout of it, the same way.  Python 3 standard library only.

    /usr/bin/python3 tools/bench/run.py --quick            # smoke run
    /usr/bin/python3 tools/bench/run.py                    # full run
    /usr/bin/python3 tools/bench/run.py --only huge,xthread --allocators glibc,memf
    /usr/bin/python3 tools/bench/run.py --peer memf_before=/tmp/before/libmemf.so
    /usr/bin/python3 tools/bench/run.py --mimalloc-bench ~/src/mimalloc-bench --only mbench

This file reads the command line and runs the phases; the work is done by the
membench package beside it (membench/__init__.py lists its modules).
"""

import argparse
import datetime
import json
import os
import sys
import time

from membench.bench import Bench, instr_configs
from membench.common import PYTHON, ROOT, SQLITE, VALGRIND, log
from membench.mbench import (TESTS as MB_TESTS, MbError, Suite, check_checkout, machine_procs,
                             select_tests)
from membench.measure import SETTLE_BUSY, loadavg
from membench.peers import HEAPTRACK, LSAN, PEER_NAMES, PEERS, file_info, parse_peers, private_copy
from membench.report import write_report
from membench.workloads import WORKLOAD_BY_NAME, WORKLOADS, locate_programs


def build_parser():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: small iteration counts, 2 repeats")
    ap.add_argument("--only", help="comma-separated workloads (default: all): " +
                    ",".join(w.name for w in WORKLOADS) + ",instructions; and 'mbench' for "
                    "the mimalloc-bench suite (--only mbench: the suite alone)")
    ap.add_argument("--allocators", default="glibc,mimalloc,jemalloc,tcmalloc,memf",
                    help="comma-separated subset of glibc,mimalloc,jemalloc,tcmalloc,memf "
                         "(and of the --peer names, to place them; unlisted ones come last)")
    ap.add_argument("--peer", action="append", default=[], metavar="NAME=PATH",
                    help="also measure the library PATH, preloaded like the peers, as NAME "
                         "(a simple identifier); repeatable")
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
    ap.add_argument("--mimalloc-bench", metavar="DIR", default=None,
                    help="also run the mimalloc-bench suite from this checkout of its "
                         "repository (programs built from DIR/bench with cmake if no build "
                         "is found)")
    ap.add_argument("--mb-tests", default=None,
                    help="comma-separated mimalloc-bench tests (default: all but "
                         "cache-thrash1): " + ",".join(t.test for t in MB_TESTS))
    ap.add_argument("--mb-procs", type=int, default=None,
                    help="the suite's procs (default: nproc, as its bench.sh)")
    ap.add_argument("--mb-build-dir", default=None,
                    help="where the suite's programs are, or are built (default: DIR/out/bench "
                         "or DIR/bench/out if it has them, else a directory under /tmp)")
    ap.add_argument("--settle-total", type=float, default=300.0,
                    help="at most this many seconds of such waiting in the whole run "
                         "(default 300)")
    return ap


def apply_defaults(a):
    """Fills in the defaults that depend on --quick and on each other; returns the build
    directory."""
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
    return build_dir


class Plan:
    """What this invocation measures."""

    def __init__(self, ap, a, build_dir):
        self.build_dir = build_dir
        self.workloads, self.do_instr = select_workloads(ap, a)
        self.mbench = select_mbench(ap, a)
        self.configs = select_configs(ap, a)
        self.leak_workloads, self.leak_configs = select_leak(ap, a, self.workloads, self.configs)
        self.pool_program = os.path.join(build_dir, "tools", "bench", "pool_bench")
        self.do_pools = not a.no_pools and not a.only


def select_workloads(ap, a):
    """(workloads, whether to count instructions) from --only."""
    if a.only:
        names = [x.strip() for x in a.only.split(",") if x.strip()]
        bad = [n for n in names if n not in WORKLOAD_BY_NAME and n not in ("instructions",
                                                                           "mbench")]
        if bad:
            ap.error("unknown workload(s): %s" % ", ".join(bad))
    else:
        names = [w.name for w in WORKLOADS] + ["instructions"]
    workloads = [WORKLOAD_BY_NAME[n] for n in names if n in WORKLOAD_BY_NAME]
    return workloads, "instructions" in names and not a.no_instructions


def select_mbench(ap, a):
    """The mimalloc-bench Suite to run (None if not asked for): --mimalloc-bench, unless --only
    leaves out 'mbench'."""
    only = [x.strip() for x in (a.only or "").split(",")]
    if not a.mimalloc_bench:
        given = [option for option, value in (("--mb-tests", a.mb_tests),
                                              ("--mb-procs", a.mb_procs),
                                              ("--mb-build-dir", a.mb_build_dir))
                 if value is not None] + (["--only mbench"] if "mbench" in only else [])
        if given:
            ap.error("%s: needs --mimalloc-bench DIR" % ", ".join(given))
        return None
    if a.only and "mbench" not in only:
        log("note: --only does not list mbench, so the mimalloc-bench suite is not run")
        return None
    procs = a.mb_procs if a.mb_procs is not None else machine_procs()
    if procs < 1:
        ap.error("--mb-procs must be at least 1")
    try:
        tests = select_tests(a.mb_tests, procs)
    except ValueError as e:
        ap.error(str(e))
    if not tests:
        ap.error("no mimalloc-bench test selected")
    suite = Suite(os.path.expanduser(a.mimalloc_bench), tests, procs, a.mb_build_dir)
    try:
        check_checkout(suite.checkout, tests)
    except MbError as e:
        ap.error("--mimalloc-bench: %s" % e)
    return suite


def select_configs(ap, a):
    """The allocators to measure: --allocators, then the --peer libraries not placed there;
    a Debian peer or memf whose library is missing is skipped with a warning."""
    extra = {p.name: p.path for p in a.extra_peers}
    configs = [c.strip() for c in a.allocators.split(",") if c.strip()]
    for c in configs:
        if c not in PEER_NAMES + ["memf"] + list(extra):
            ap.error("unknown allocator %r" % c)
    configs += [n for n in extra if n not in configs]
    libraries = dict(PEERS, memf=a.memf, **extra)
    usable = []
    a.memf_missing = False
    for c in configs:
        path = libraries[c]
        if path and not os.path.exists(path):
            log("warning: %s library %s not found; skipping %s" % (c, path, c))
            a.memf_missing = a.memf_missing or c == "memf"
            continue
        usable.append(c)
    if not usable:
        ap.error("no allocator to measure")
    return usable


def select_leak(ap, a, workloads, configs):
    """(workloads, configs) of the leak-check comparison."""
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
    return leak_workloads, leak_configs


def prepare_libraries(bench, a, configs):
    """Records what the libraries are and measures private copies of them: the build tree
    may be rebuilt during a long run."""
    if "memf" in configs:
        a.memf_source = a.memf
        a.memf_info = file_info(a.memf)
        a.memf = private_copy(a.memf, bench.tmp, "libmemf.so")
    for p in a.extra_peers:
        p.prepare(bench.tmp)


def prepare_programs(bench, a, plan):
    """Finds or builds the workload programs; drops what cannot run, with a warning."""
    need = sorted({w.name for w in plan.workloads + plan.leak_workloads if w.kind == "exe"} |
                  ({"instructions"} if plan.do_instr else set()))
    build_dir = plan.build_dir
    bench.programs = locate_programs(build_dir if os.path.isdir(build_dir) else None, need)
    if plan.do_pools and not os.access(plan.pool_program, os.X_OK):
        log("warning: %s not built (it links libmemf); skipping the pool benchmark"
            % plan.pool_program)
        plan.do_pools = False
    for tool, path in (("python", PYTHON), ("sqlite", SQLITE)):
        if any(w.kind == tool for w in plan.workloads) and not os.path.exists(path):
            log("warning: %s not found; its workload will fail" % path)
    if plan.do_instr and not os.path.exists(VALGRIND):
        log("warning: valgrind not found; skipping instruction counts")
        plan.do_instr = False
    if plan.mbench:
        plan.mbench.locate()
        log("mimalloc-bench: %d tests, procs %d, programs in %s"
            % (len(plan.mbench.tests), plan.mbench.procs, plan.mbench.program_dir))
        bench.mbench = plan.mbench


def run_phases(bench, a, plan):
    """Runs every phase and returns the report."""
    started = datetime.datetime.now(datetime.timezone.utc)
    load_before = loadavg()
    instr = None
    if plan.workloads:
        bench.timing_phase(plan.workloads, plan.configs)
    if plan.mbench:
        t0 = time.time()
        bench.timing_phase(plan.mbench.tests, plan.configs)
        plan.mbench.seconds = time.time() - t0
    if plan.do_instr:
        instr = bench.instruction_phase(instr_configs(plan.configs))
    if plan.leak_workloads:
        bench.leak_phase(plan.leak_workloads, plan.leak_configs)
    if plan.do_pools:
        bench.pool_phase(plan.pool_program, a.memf if "memf" in plan.configs else None)
    bench.validate()
    finished = datetime.datetime.now(datetime.timezone.utc)
    return write_report(bench, plan.workloads, plan.configs, instr, plan.leak_workloads,
                        plan.leak_configs, started, finished, load_before, loadavg(),
                        mbench=plan.mbench)


def main():
    ap = build_parser()
    a = ap.parse_args()
    build_dir = apply_defaults(a)
    try:
        a.extra_peers = parse_peers(a.peer)
    except ValueError as e:
        ap.error(str(e))
    plan = Plan(ap, a, build_dir)

    bench = Bench(a)
    prepare_libraries(bench, a, plan.configs)
    try:
        prepare_programs(bench, a, plan)
    except MbError as e:
        bench.close()
        log("run.py: mimalloc-bench: %s" % e)
        return 1
    try:
        report = run_phases(bench, a, plan)
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
