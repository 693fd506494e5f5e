#!/usr/bin/python3
"""The benchmark runner's logic around the mimalloc-bench suite (tools/bench/membench/mbench.py),
without running a benchmark: each test's command line against what the suite's bench.sh runs for
the same procs, the figure read from each program's output, the selection of tests, finding and
building the programs (fake checkouts, no cmake run), one measured run of a stand-in program, the
report's headline, suite table and worst-workload target computed from made-up runs, and
run.py's errors for bad options.

    check_runner.py --bench tools/bench [--mimalloc-bench DIR]

With a checkout of mimalloc-bench (--mimalloc-bench DIR, or MIMALLOC_BENCH_DIR in the
environment), the command lines are also compared with the ones its bench.sh holds; without
one, that check says it is skipped and why.
"""
import argparse
import fnmatch
import os
import re
import subprocess
import sys
import tempfile
import types

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "report"))
from checks import check, finish  # noqa: E402  (tests/report's one line per check)

ap = argparse.ArgumentParser()
ap.add_argument("--bench", required=True, help="tools/bench")
ap.add_argument("--mimalloc-bench", default=os.environ.get("MIMALLOC_BENCH_DIR"))
ARGS = ap.parse_args()
BENCH = os.path.abspath(ARGS.bench)
sys.path.insert(0, BENCH)

from membench import mbench  # noqa: E402
from membench.bench import Bench, interleaved_plan  # noqa: E402
from membench.measure import Run  # noqa: E402
from membench.report import (ReportData, headline_section, mbench_section,  # noqa: E402
                             others_section, targets_section)
from membench.workloads import WORKLOAD_BY_NAME  # noqa: E402

# What bench.sh's run_test runs for procs = 2, as it writes it (from ./ in out/bench, inputs
# under ../../bench), and the file on stdin.
BENCH_SH_2 = {
    "cfrac": "./cfrac 17545186520507317056371138836327483792789528",
    "espresso": "./espresso ../../bench/espresso/largest.espresso",
    "barnes": "./barnes",
    "larsonN": "./larson 5 8 1000 5000 100 4141 2",
    "larsonN-sized": "./larson-sized 5 8 1000 5000 100 4141 2",
    "mstressN": "./mstress 2 50 25",
    "rptestN": "./rptest 2 0 1 2 500 1000 100 8 16000",
    "alloc-test1": "./alloc-test 1",
    "alloc-testN": "./alloc-test 2",
    "xmalloc-testN": "./xmalloc-test -w 2 -t 5 -s 64",
    "cache-scratch1": "./cache-scratch 1 1000 1 2000000 2",
    "cache-scratchN": "./cache-scratch 2 1000 1 2000000 2",
    "cache-thrash1": "./cache-thrash 1 1000 1 2000000 2",
    "cache-thrashN": "./cache-thrash 2 1000 1 2000000 2",
    "glibc-simple": "./glibc-simple",
    "glibc-thread": "./glibc-thread 2",
    "malloc-large": "./malloc-large",
    "mleak10": "./mleak 5",
    "mleak100": "./mleak 50",
}
RATED = {"larsonN", "larsonN-sized", "rptestN", "xmalloc-testN", "glibc-thread"}


def as_bench_sh(t, procs, bench_dir="../../bench"):
    return " ".join(["./" + t.program] + t.arguments(procs, bench_dir))


def check_tables():
    ours = {t.test: as_bench_sh(t, 2) for t in mbench.TESTS}
    check(ours == BENCH_SH_2, "every test's command line is bench.sh's for procs = 2",
          "\n".join("%s: %r, bench.sh %r" % (n, ours.get(n), BENCH_SH_2.get(n))
                    for n in sorted(set(ours) | set(BENCH_SH_2)) if ours.get(n) != BENCH_SH_2.get(n)))
    barnes = mbench.TEST_BY_NAME["barnes"]
    check(barnes.stdin_path("$benchdir") == "$benchdir/barnes/input"
          and all(t.stdin is None for t in mbench.TESTS if t.test != "barnes"),
          "barnes alone reads its input on stdin, bench/barnes/input")
    check(as_bench_sh(mbench.TEST_BY_NAME["alloc-testN"], 32) == "./alloc-test 16"
          and as_bench_sh(mbench.TEST_BY_NAME["larsonN"], 32).endswith(" 32"),
          "procs = 32: alloc-testN capped at 16 threads, larsonN not")
    check({t.test for t in mbench.TESTS if t.rate} == RATED,
          "the tests measured by the rate they print: larson, larson-sized, rptest, "
          "xmalloc-test, glibc-thread", sorted(t.test for t in mbench.TESTS if t.rate))
    check(mbench.TEST_BY_NAME["espresso"].shown_args(2) == "bench/espresso/largest.espresso"
          and mbench.TEST_BY_NAME["barnes"].shown_args(2) == "< bench/barnes/input",
          "the report shows input paths relative to the checkout",
          [mbench.TEST_BY_NAME[n].shown_args(2) for n in ("espresso", "barnes")])


def check_selection():
    default = [t.test for t in mbench.select_tests(None, 2)]
    check(default == [n for n in BENCH_SH_2 if n != "cache-thrash1"],
          "the default selection: every test but cache-thrash1, in bench.sh's order", default)
    one = [t.test for t in mbench.select_tests(None, 1)]
    check(not {"alloc-testN", "cache-scratchN", "cache-thrashN"} & set(one)
          and "larsonN" in one and "xmalloc-testN" in one,
          "procs = 1: the N rows bench.sh skips on one processor are left out", one)
    picked = [t.test for t in mbench.select_tests("mleak,alloc-test,cfrac", 2)]
    check(picked == ["cfrac", "alloc-test1", "alloc-testN", "mleak10", "mleak100"],
          "bench.sh's test names select their rows", picked)
    try:
        mbench.select_tests("cfrac,nope", 2)
        check(False, "an unknown test name is refused")
    except ValueError as e:
        check("nope" in str(e), "an unknown test name is refused, and named", e)


# Outputs of the programs, as they print them.
OUTPUTS = {
    "larsonN": ("Throughput = 41702185 operations per second, relative time: 23.980s.\n"
                "Done sleeping...\n", 23.98),
    "larsonN-sized": ("Throughput = 41562775 operations per second, relative time: 24.060s.\n"
                      "Done sleeping...\n", 24.06),
    "rptestN": ("crt          2 threads random linear size [8,16000] 500 loops 1000 allocs 100 ops:"
                " ........3548620 memory ops/CPU second (41MiB peak, 14MiB -> 41MiB bytes "
                "sample, 179% overhead)\n", 2000000.0 / 3548620),
    "xmalloc-testN": ("rtime: 7.474, free/sec: 13.379 M\n", 7.474),
    "glibc-thread": ("190256913 iterations\n", 1e9 / 190256913),
}


def check_parsing():
    for name, (out, want) in OUTPUTS.items():
        got = mbench.TEST_BY_NAME[name].relative_time(out)
        check(got is not None and abs(got - want) < 1e-9,
              "%s: relative time %.4f from its output" % (name, want), got)
        check(mbench.TEST_BY_NAME[name].relative_time("Segmentation fault\n") is None,
              "%s: no figure from output without its rate" % name)
    check(mbench.TEST_BY_NAME["glibc-thread"].relative_time("0 iterations\n") is None,
          "glibc-thread: no figure from 0 iterations")
    cfrac = mbench.TEST_BY_NAME["cfrac"]
    out = ("17545186520507317056371138836327483792789528 = 856070387728264 * "
           "20495027946319472471219512627\n")
    check(cfrac.signature(out) == out.strip() and cfrac.signature("x\n" + out) == out.strip(),
          "cfrac: its factorisation is the output every allocator must give")
    check(mbench.TEST_BY_NAME["espresso"].signature("anything") is None
          and mbench.TEST_BY_NAME["espresso"].relative_time("anything") is None,
          "espresso: wall time, no output check")


def fake_checkout(root, inputs=True):
    os.makedirs(os.path.join(root, "bench", "espresso"))
    os.makedirs(os.path.join(root, "bench", "barnes"))
    open(os.path.join(root, "bench", "CMakeLists.txt"), "w").close()
    if inputs:
        open(os.path.join(root, "bench", "espresso", "largest.espresso"), "w").close()
        open(os.path.join(root, "bench", "barnes", "input"), "w").close()


def check_locating(tmp):
    try:
        mbench.check_checkout(os.path.join(tmp, "nothing"), mbench.TESTS)
        check(False, "a directory without bench/CMakeLists.txt is refused")
    except mbench.MbError as e:
        check("not a mimalloc-bench checkout" in str(e),
              "a directory without bench/CMakeLists.txt is refused as no checkout", e)
    bare = os.path.join(tmp, "bare")
    fake_checkout(bare, inputs=False)
    try:
        mbench.check_checkout(bare, [mbench.TEST_BY_NAME["barnes"]])
        check(False, "a checkout without barnes' input is refused")
    except mbench.MbError as e:
        check("barnes/input" in str(e), "a checkout without barnes' input is refused, naming it", e)
    mbench.check_checkout(bare, [mbench.TEST_BY_NAME["cfrac"]])   # cfrac needs no input

    # Found in bench.sh's own build directory when every program is there.
    checkout = os.path.join(tmp, "mb")
    fake_checkout(checkout)
    built = os.path.join(checkout, "out", "bench")
    os.makedirs(built)
    tests = mbench.select_tests("cfrac,mleak", 2)
    for prog in ("cfrac", "mleak"):
        path = os.path.join(built, prog)
        with open(path, "w") as f:
            f.write("#!/bin/sh\n")
        os.chmod(path, 0o755)
    suite = mbench.Suite(checkout, tests, 2)
    suite.locate()
    check(suite.program_dir == built and not suite.built_now,
          "programs found in DIR/out/bench, bench.sh's build", suite.program_dir)
    argv, stdin = suite.command(mbench.TEST_BY_NAME["mleak100"])
    check(argv == [os.path.join(built, "mleak"), "50"] and stdin is None,
          "mleak100's command: the found program, argument 50", argv)

    # Missing, and no cmake to build them: the error names the programs and cmake.
    suite = mbench.Suite(checkout, mbench.select_tests("barnes", 2), 2,
                         build_dir=os.path.join(tmp, "mbbuild"))
    path = os.environ["PATH"]
    os.environ["PATH"] = os.path.join(tmp, "empty-path")
    try:
        suite.locate()
        check(False, "no barnes and no cmake: an error")
    except mbench.MbError as e:
        check("barnes" in str(e) and "cmake" in str(e),
              "no barnes and no cmake: the error names the program and cmake", e)
    finally:
        os.environ["PATH"] = path


CMAKE_ERRORS = """CMake Error at CMakeLists.txt:76 (add_executable):
  Cannot find source file:

    shbench/sh6bench-new.c

CMake Error at CMakeLists.txt:76 (add_executable):
  No SOURCES given to target: sh6bench


CMake Error at security/CMakeLists.txt:3 (add_executable):
  Cannot find source file:

    extra.c

"""


def check_placeholders(tmp):
    missing = mbench.missing_sources(CMAKE_ERRORS)
    check(missing == ["shbench/sh6bench-new.c", "security/extra.c"],
          "the sources cmake did not find, relative to the top, from its messages", missing)
    src = os.path.join(tmp, "src")
    os.makedirs(os.path.join(src, "shbench"))
    open(os.path.join(src, "shbench", "readme.md"), "w").close()
    open(os.path.join(src, "CMakeLists.txt"), "w").close()
    shadow = os.path.join(tmp, "shadow")
    mbench.link_tree(src, shadow)
    mbench.add_placeholder(shadow, "shbench/sh6bench-new.c")
    check(os.path.islink(os.path.join(shadow, "CMakeLists.txt"))
          and not os.path.islink(os.path.join(shadow, "shbench"))
          and os.path.islink(os.path.join(shadow, "shbench", "readme.md"))
          and os.path.isfile(os.path.join(shadow, "shbench", "sh6bench-new.c"))
          and not os.path.exists(os.path.join(src, "shbench", "sh6bench-new.c")),
          "a placeholder goes into the tree of links, never into the checkout")


def check_measure(tmp):
    """One run of a stand-in xmalloc-test and a stand-in that prints no rate, through Bench."""
    checkout = os.path.join(tmp, "mb2")
    fake_checkout(checkout)
    progs = os.path.join(tmp, "progs")
    os.makedirs(progs)
    for prog, text in (("xmalloc-test", "rtime: 1.500, free/sec: 66.667 M"), ("mleak", "")):
        with open(os.path.join(progs, prog), "w") as f:
            f.write("#!/bin/sh\necho '%s'\ntouch ran-here\n" % text)
        os.chmod(os.path.join(progs, prog), 0o755)
    suite = mbench.Suite(checkout, mbench.select_tests("xmalloc-test,mleak10", 2), 2,
                         build_dir=progs)
    suite.locate()
    bench = Bench(types.SimpleNamespace(extra_peers=[], memf=None, scale=None, quick=False,
                                        timeout=30.0, timeout_given=False))
    bench.mbench = suite
    try:
        run = bench.measure(mbench.TEST_BY_NAME["xmalloc-testN"], "glibc", 0, 1.0, 30)
        check(run.ok and run.score == 1.5 and run.workload == "mb:xmalloc-testN",
              "xmalloc-testN's figure is the rtime it printed, not its wall time",
              (run.status, run.score, run.wall))
        check(os.path.exists(os.path.join(bench.tmp, "mbench", "ran-here")),
              "the suite's programs run in a scratch directory")
        run = bench.measure(mbench.TEST_BY_NAME["mleak10"], "glibc", 0, 1.0, 30)
        check(run.ok and run.score == run.wall, "mleak10's figure is its wall time",
              (run.status, run.score, run.wall))
        mbench.TEST_BY_NAME["mleak10"].rate = mbench.rate_rule("glibc-thread")
        run = bench.measure(mbench.TEST_BY_NAME["mleak10"], "glibc", 0, 1.0, 30)
        check(not run.ok and "no rate" in run.status,
              "a rate test whose output lacks the rate is a failed run", run.status)
    finally:
        mbench.TEST_BY_NAME["mleak10"].rate = None
        bench.close()


def make_runs():
    """Runs of two workloads and three suite tests under glibc, mimalloc, memf and snmalloc
    (an extra peer): {(workload, config): figure}; wall = score except for larsonN, a rate test
    whose wall time is the same for all."""
    figures = {
        "small_churn": {"glibc": 1.0, "mimalloc": 0.5, "memf": 0.6, "snmalloc": 0.4},
        "larson": {"glibc": 2.0, "mimalloc": 1.0, "memf": 0.5, "snmalloc": 1.0},
        "mb:cfrac": {"glibc": 3.0, "mimalloc": 2.0, "memf": 4.0, "snmalloc": 1.6},
        "mb:larsonN": {"glibc": 20.0, "mimalloc": 10.0, "memf": 10.0, "snmalloc": 5.0},
        "mb:mleak10": {"glibc": 1.0, "mimalloc": 1.0, "memf": None, "snmalloc": 1.0},
    }
    runs = []
    for w, by in figures.items():
        for c, v in by.items():
            for rep in range(3):
                mb = w.startswith("mb:")
                runs.append(Run(workload=w, config=c, rep=rep, scale=1.0,
                                wall=7.0 if w == "mb:larsonN" else (v or 1.0), user=0.1, sys=0.0,
                                maxrss_kib=2048, status="ok" if v else "signal SIGSEGV",
                                stdout="", stderr_tail="", score=v if mb else None))
    return runs


def check_report():
    runs = make_runs()
    peer = types.SimpleNamespace(name="snmalloc", path="/x/libsnmallocshim.so")
    args = types.SimpleNamespace(extra_peers=[peer], repeats=3, quick=False)
    bench = types.SimpleNamespace(args=args, runs=runs, mismatch={})
    tests = mbench.select_tests("cfrac,larsonN,mleak10", 2)
    suite = mbench.Suite("/nonexistent/mimalloc-bench", tests, 2)
    suite.program_dir = "/nonexistent/out"
    d = ReportData(bench, [WORKLOAD_BY_NAME["small_churn"], WORKLOAD_BY_NAME["larson"]],
                   ["glibc", "mimalloc", "memf", "snmalloc"], None, [], [], None, None, "", "",
                   suite)
    check(abs(d.ratio_best["larsonN"] - 1.0) < 1e-9 and d.fastest["larsonN"][1] == "mimalloc",
          "larsonN is compared on its relative time (10 against mimalloc's 10), not wall time")
    check(d.fastest_all["larsonN"] == (5.0, "snmalloc") and d.fastest["small_churn"][1] == "mimalloc",
          "the fastest of all peers counts the extra peer; the packaged one does not")
    check(d.ratio_best.get("mleak10") is None, "a test memf failed has no ratio")
    head = "\n".join(headline_section(d))
    # packaged peers: small_churn 1.2, larson 0.5 | cfrac 2.0, larsonN 1.0 (mleak10 none);
    # all peers: 1.5, 0.5 | 2.5, 2.0.
    want_packaged = ("| packaged: glibc, mimalloc | 0.77× | 1.41× (2 of 3) | **1.05×** (4 of 5) "
                     "| cfrac 2.00× (mimalloc) |")
    want_all = ("| all: glibc, mimalloc, snmalloc | 0.87× | 2.24× (2 of 3) | **1.39×** (4 of 5) "
                "| cfrac 2.50× (snmalloc) |")
    check(want_packaged in head and want_all in head,
          "headline: geometric means of memf's workloads, the suite's tests and both, and the "
          "worst, against packaged peers and all peers", head)
    others = "\n".join(others_section(d))
    # snmalloc against the fastest of glibc, mimalloc and memf: 0.8, 2.0 | 0.8, 0.5, 1.0;
    # memf's row is the headline's (mleak10 failed); mimalloc, level or behind everywhere, 1.44×.
    check("| snmalloc | 1.26× | 0.74× | **0.91×** | larson 2.00× (memf) | 3 of 5 |" in others
          and "| **memf** | 0.87× | 2.24× (2 of 3) | **1.39×** (4 of 5) | cfrac 2.50× (snmalloc) "
          "| 1 of 5 |" in others and "| mimalloc | 1.58× | 1.36× | **1.44×** | larsonN 2.00× "
          "(snmalloc) | 0 of 5 |" in others,
          "every allocator against the fastest of the others, the headline's rule for each",
          others)
    table = "\n".join(mbench_section(d))
    check("| larsonN † | `5 8 1000 5000 100 4141 2` | 20.00 s, 2.0 MiB | 10.00 s, 2.0 MiB | "
          "10.00 s, 2.0 MiB | 5.000 s, 2.0 MiB | snmalloc (5.000) | 2.00× | 1.00× (mimalloc) |"
          in table, "suite table row: figures with peak RSS, the fastest peer and memf's ratios",
          table)
    check("FAILED 3/3 (signal SIGSEGV)" in table and "**2.24×** (2 of 3) | **1.41×** (2 of 3)"
          in table,
          "suite table: a failed cell says so and the geometric mean counts what it has", table)
    targets = "\n".join(targets_section(d))
    check("no figure for: mleak10" in targets,
          "the worst-workload target counts the suite's tests (mleak10 failed)", targets)
    runs[:] = [r for r in runs if r.workload != "mb:mleak10"]
    suite.tests = [t for t in tests if t.test != "mleak10"]
    d = ReportData(bench, [WORKLOAD_BY_NAME["small_churn"], WORKLOAD_BY_NAME["larson"]],
                   ["glibc", "mimalloc", "memf", "snmalloc"], None, [], [], None, None, "", "",
                   suite)
    targets = "\n".join(targets_section(d))
    check("worst: cfrac 2.00× | **no**" in targets,
          "the worst-workload target names a suite test when it is the worst", targets)


def run_py(*args):
    return subprocess.run([sys.executable, os.path.join(BENCH, "run.py")] + list(args),
                          capture_output=True, text=True, timeout=60)


def check_options(tmp):
    r = run_py("--only", "mbench")
    check(r.returncode == 2 and "needs --mimalloc-bench" in r.stderr,
          "run.py --only mbench without --mimalloc-bench: usage error", r.stderr)
    r = run_py("--mb-tests", "cfrac")
    check(r.returncode == 2 and "--mb-tests: needs --mimalloc-bench" in r.stderr,
          "run.py --mb-tests without --mimalloc-bench: usage error", r.stderr)
    r = run_py("--mimalloc-bench", os.path.join(tmp, "nothing"), "--only", "mbench")
    check(r.returncode == 2 and "not a mimalloc-bench checkout" in r.stderr,
          "run.py --mimalloc-bench on a directory that is no checkout: usage error", r.stderr)
    checkout = os.path.join(tmp, "mb3")
    fake_checkout(checkout)
    r = run_py("--mimalloc-bench", checkout, "--only", "mbench", "--mb-tests", "cfrac,bogus")
    check(r.returncode == 2 and "bogus" in r.stderr,
          "run.py --mb-tests with an unknown test: usage error naming it", r.stderr)
    r = run_py("--help")
    check(all(o in r.stdout for o in ("--mimalloc-bench", "--mb-tests", "--mb-procs",
                                      "--mb-build-dir", "mbench")),
          "run.py --help lists the suite's options", r.stdout)


def check_peer_versions(tmp):
    """A peer built by build_peers.sh is named by the version it recorded beside its build."""
    from membench.peers import parse_peers
    build = os.path.join(tmp, "peers", "mimalloc3", "build")
    os.makedirs(build)
    lib = os.path.join(build, "libmimalloc.so.3.4")
    with open(lib, "wb") as f:
        f.write(b"\x7fELF not really a library")
    with open(os.path.join(build, "..", "VERSION"), "w") as f:
        f.write("v3.4.3\n")
    peer = parse_peers(["mimalloc3=" + lib])[0]
    peer.prepare(tmp)
    check(peer.version == "v3.4.3" and "v3.4.3 (recorded by build_peers.sh)" in peer.version_text(),
          "a --peer built by build_peers.sh reports the version it recorded", peer.version_text())
    os.remove(os.path.join(build, "..", "VERSION"))
    peer = parse_peers(["mimalloc3=" + lib])[0]
    peer.prepare(tmp)
    check(peer.version == "3.4" and "(from the file name)" in peer.version_text(),
          "without that record, the version comes from the file name", peer.version_text())


def check_bench_sh(checkout):
    """Our command lines against the checkout's bench.sh, for procs = 2."""
    script = os.path.join(checkout or "", "bench.sh")
    if not checkout or not os.path.isfile(script):
        print("skip the comparison with a checkout's bench.sh: %s" % (
            "no checkout given (--mimalloc-bench DIR or MIMALLOC_BENCH_DIR)" if not checkout
            else "%s not found" % script))
        return
    with open(script) as f:
        text = f.read()
    body = text[text.index("function run_test {"):]
    values = {"procs": "2", "procsx2": "4", "procsx4": "8", "procs_div2": "1", "procs_max16": "2"}
    theirs = {}
    for row, cmd in re.findall(r'run_test_cmd "([^"]+)"\s+"([^"]+)"', body):
        cmd = re.sub(r"\$\{?(\w+)\}?", lambda m: values.get(m.group(1), m.group(0)), cmd)
        theirs.setdefault(row, []).append(cmd)
    for t in mbench.TESTS:
        check(as_bench_sh(t, 2) in theirs.get(t.test, []),
              "%s: the command line of %s's bench.sh" % (t.test, checkout),
              "%r not in %r" % (as_bench_sh(t, 2), theirs.get(t.test)))
    check('infile="$benchdir/barnes/input"' in text, "bench.sh feeds barnes bench/barnes/input")
    fixup = text[text.index("# fixup larson with relative time"):]
    fixup = fixup[:fixup.index("esac")]
    patterns = [p for p in re.findall(r"^\s*([\w*-]+)\)", fixup, re.M)
                if p not in ("redis*", "spec-*")]
    matched = {t.test for t in mbench.TESTS if any(fnmatch.fnmatchcase(t.test, p) for p in patterns)}
    check(matched == RATED, "the rows bench.sh measures by their rate are ours (%s)"
          % ", ".join(patterns), sorted(matched))


def check_plan():
    """The runs' order: every configuration once a round, drawn again each round, reproducible,
    and no configuration right after the same one in two rounds running."""
    configs = ["glibc", "mimalloc", "jemalloc", "tcmalloc", "memf", "mimalloc3", "mimalloc2", "snmalloc"]
    workloads = ["small_churn", "huge", "sqlite"]
    plan = interleaved_plan(5, workloads, configs)
    check(plan == interleaved_plan(5, workloads, configs), "the plan is the same for the same arguments")
    check(len(plan) == 5 * len(workloads) * len(configs), "every run is in the plan", len(plan))
    for w in workloads:
        rounds = [[c for (rep, pw, c) in plan if rep == r and pw == w] for r in range(5)]
        check(all(sorted(order) == sorted(configs) for order in rounds),
              "%s: each round runs every configuration once" % w, rounds)
        pairs = [set(zip(order, order[1:])) for order in rounds]
        check(all(not (pairs[r] & pairs[r + 1]) for r in range(4)),
              "%s: no configuration runs right after the same one in two rounds running" % w, rounds)
        check(len({tuple(order) for order in rounds}) == 5, "%s: the order changes every round" % w, rounds)
    two = interleaved_plan(4, ["x"], ["memf", "glibc"])
    check([c for (_, _, c) in two] == ["memf", "glibc", "glibc", "memf", "memf", "glibc", "glibc", "memf"] or
          [c for (_, _, c) in two] == ["glibc", "memf", "memf", "glibc", "glibc", "memf", "memf", "glibc"],
          "two configurations alternate their order", two)
    check(len(interleaved_plan(3, ["x"], ["memf"])) == 3, "one configuration runs once a round")


def main():
    check_plan()
    check_tables()
    check_selection()
    check_parsing()
    with tempfile.TemporaryDirectory() as tmp:
        check_locating(tmp)
        check_placeholders(tmp)
        check_measure(tmp)
        check_options(tmp)
        check_peer_versions(tmp)
    check_report()
    check_bench_sh(ARGS.mimalloc_bench)
    finish()


main()
