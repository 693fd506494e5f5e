"""mimalloc-bench, the allocator suite most allocators publish figures on, run from a checkout
of its public repository given with --mimalloc-bench DIR (nothing of it is kept here).

Each test is one row of the suite's own script, DIR/bench.sh: the same program and arguments for
this machine's number of processors ("procs", what nproc says), and the same figure: the wall
time of the process, or, for the tests that run for a fixed time and print a rate, the relative
time bench.sh computes from that rate.  The programs are built from DIR/bench with cmake when
no build of them is found."""

import fnmatch
import hashlib
import os
import re
import shutil
import subprocess
import tempfile

from .common import log, sh


class MbError(Exception):
    """Something the suite needs is missing; the message says what and how to get it."""


# --------------------------------------------------------------------------
# The rates some tests print, turned into a time as bench.sh does (lower is better)

def first_number(pattern, stdout):
    """The number the pattern's group catches on the last line it matches, or None."""
    found = None
    for line in stdout.splitlines():
        m = re.search(pattern, line)
        if m:
            try:
                found = float(m.group(1))
            except ValueError:
                pass
    return found


def per_rate(pattern, numerator):
    """A rule for a program that prints a rate: numerator / rate."""
    def rule(stdout):
        rate = first_number(pattern, stdout)
        return numerator / rate if rate else None
    return rule


def as_printed(pattern):
    """A rule for a program that prints its relative time itself."""
    def rule(stdout):
        return first_number(pattern, stdout)
    return rule


# (rule, how bench.sh computes it) for the rows whose names match bench.sh's patterns.
RATE_RULES = [
    ("larson*", as_printed(r" time: ([0-9.]+)"),
     "the relative time larson prints: 10⁹ ÷ operations per second"),
    ("rptest*", per_rate(r"\.\.\.([0-9]+) memory ops", 2000000.0),
     "2·10⁶ ÷ the memory operations per CPU second rptest prints"),
    ("xmalloc*", as_printed(r"^rtime: ([0-9.]+)"),
     "the `rtime` xmalloc-test prints: 100 ÷ millions of frees per second"),
    ("glibc-thread", per_rate(r"^([0-9.]+)", 1e9),
     "10⁹ ÷ the iterations glibc-thread counts in its fixed 2 seconds"),
]


def rate_rule(test):
    """(rule, description) of the row named test, or None when its wall time is measured."""
    for pattern, rule, text in RATE_RULES:
        if fnmatch.fnmatchcase(test, pattern):
            return rule, text
    return None


# --------------------------------------------------------------------------
# The tests

class MbTest:
    """One row of bench.sh's results: a program, its arguments and what is measured.  It
    stands where the runner's workloads stand (Bench.measure, interleaved_plan)."""

    kind = "mbench"
    quick_scale = 1.0
    leak_scale = None
    final_rss = False
    timeout = None

    def __init__(self, test, group, program, args, desc, stdin=None, many_procs=False,
                 default=True):
        self.test = test              # bench.sh's name of the row ("larsonN")
        self.name = "mb:" + test      # the runs' workload name
        self.group = group            # bench.sh's test ("larson"), what selects the row there
        self.program = program        # the executable in the suite's build
        self.args = args              # str.format templates: {procs}, {procs16}, {bench}
        self.desc = desc
        self.stdin = stdin            # template of the file on stdin, or None
        self.many_procs = many_procs  # bench.sh runs the row only when procs > 1
        self.default = default        # in the default selection
        self.rate = rate_rule(test)
        self.deterministic = test == "cfrac"

    def arguments(self, procs, bench_dir):
        values = {"procs": procs, "procs16": min(procs, 16), "bench": bench_dir}
        return [a.format(**values) for a in self.args.split()]

    def stdin_path(self, bench_dir):
        return self.stdin.format(bench=bench_dir) if self.stdin else None

    def inputs(self, bench_dir):
        """The files of the checkout the test reads."""
        files = [a for a in self.arguments(1, bench_dir) if a.startswith(bench_dir + os.sep)]
        return files + ([self.stdin_path(bench_dir)] if self.stdin else [])

    def shown_args(self, procs):
        """The arguments as the report shows them (input files relative to the checkout)."""
        return " ".join(self.arguments(procs, "bench") +
                        (["<", self.stdin_path("bench")] if self.stdin else []))

    def relative_time(self, stdout):
        """The figure of a rate test from its output (None if not found); None for the others."""
        return self.rate[0](stdout) if self.rate else None

    def signature(self, stdout):
        """The part of the output that must not depend on the allocator (cfrac's factors)."""
        if self.test != "cfrac":
            return None
        return "\n".join(l.strip() for l in stdout.splitlines() if " = " in l)


CFRAC_N = "17545186520507317056371138836327483792789528"
CACHE_ARGS = "1000 1 2000000 {procs}"

# The rows of bench.sh's run_test, in its order; the tests of tests_all1..3 that need nothing
# but the suite's own programs.
TESTS = [
    MbTest("cfrac", "cfrac", "cfrac", CFRAC_N,
           "continued-fraction factorisation of a 44-digit number (many small bignums)"),
    MbTest("espresso", "espresso", "espresso", "{bench}/espresso/largest.espresso",
           "espresso logic minimiser on its largest input"),
    MbTest("barnes", "barnes", "barnes", "", "Barnes-Hut n-body simulation (few allocations)",
           stdin="{bench}/barnes/input"),
    MbTest("larsonN", "larson", "larson", "5 8 1000 5000 100 4141 {procs}",
           "larson server simulation, procs threads, 5 s, blocks freed by other threads"),
    MbTest("larsonN-sized", "larson-sized", "larson-sized", "5 8 1000 5000 100 4141 {procs}",
           "larson with sized delete"),
    MbTest("mstressN", "mstress", "mstress", "{procs} 50 25",
           "procs threads allocate, keep and hand over blocks of many sizes, 25 rounds"),
    MbTest("rptestN", "rptest", "rptest", "{procs} 0 1 2 500 1000 100 8 16000",
           "rpmalloc's benchmark: procs threads, random sizes 8-16000 B, cross-thread frees"),
    MbTest("alloc-test1", "alloc-test", "alloc-test", "1",
           "alloc-test, 1 thread: random sizes up to 1 KiB, memory touched"),
    MbTest("alloc-testN", "alloc-test", "alloc-test", "{procs16}",
           "alloc-test, procs threads (at most 16)", many_procs=True),
    MbTest("xmalloc-testN", "xmalloc-test", "xmalloc-test", "-w {procs} -t 5 -s 64",
           "procs threads allocate 64 B blocks that other threads free, 5 s"),
    MbTest("cache-scratch1", "cscratch", "cache-scratch", "1 " + CACHE_ARGS,
           "Hoard's passive false sharing test, 1 thread"),
    MbTest("cache-scratchN", "cscratch", "cache-scratch", "{procs} " + CACHE_ARGS,
           "Hoard's passive false sharing test: threads free blocks the main thread "
           "allocated, then allocate and write small blocks of their own",
           many_procs=True),
    MbTest("cache-thrash1", "cthrash", "cache-thrash", "1 " + CACHE_ARGS,
           "Hoard's active false sharing test, 1 thread", default=False),
    MbTest("cache-thrashN", "cthrash", "cache-thrash", "{procs} " + CACHE_ARGS,
           "Hoard's active false sharing test: threads allocate, write and free small "
           "blocks of their own",
           many_procs=True),
    MbTest("glibc-simple", "glibc-simple", "glibc-simple", "",
           "glibc's bench-malloc-simple: single-thread malloc/free of small sizes"),
    MbTest("glibc-thread", "glibc-thread", "glibc-thread", "{procs}",
           "glibc's bench-malloc-thread: procs threads, 2 s"),
    MbTest("malloc-large", "malloc-large", "malloc-large", "",
           "2000 blocks of 5-25 MiB, up to 20 live, zero-filled (make_unique)"),
    MbTest("mleak10", "mleak", "mleak", "5",
           "500 rounds of 10 short-lived threads, each allocating a small long-lived block"),
    MbTest("mleak100", "mleak", "mleak", "50", "mleak10 with 5000 rounds"),
]
TEST_BY_NAME = {t.test: t for t in TESTS}
GROUPS = {}
for _t in TESTS:
    GROUPS.setdefault(_t.group, []).append(_t.test)


def machine_procs():
    """What bench.sh takes as procs: nproc, the processors this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def select_tests(spec, procs):
    """The tests named in spec (row names or bench.sh's test names, comma-separated; None for
    the default set), in the suite's order, without the rows bench.sh skips on one processor.
    Raises ValueError naming the unknown names."""
    if spec is None:
        wanted = {t.test for t in TESTS if t.default}
    else:
        names = [x.strip() for x in spec.split(",") if x.strip()]
        bad = [n for n in names if n not in TEST_BY_NAME and n not in GROUPS]
        if bad:
            raise ValueError("unknown mimalloc-bench test(s): %s (known: %s; or bench.sh's "
                             "names: %s)" % (", ".join(bad), ", ".join(TEST_BY_NAME),
                                             ", ".join(g for g in GROUPS if g not in TEST_BY_NAME)))
        wanted = set()
        for n in names:
            wanted.update(GROUPS.get(n, [n]) if n not in TEST_BY_NAME else [n])
    tests = [t for t in TESTS if t.test in wanted]
    if procs < 2:
        skipped = [t.test for t in tests if t.many_procs]
        if skipped:
            log("mimalloc-bench: one processor, so %s not run (as bench.sh)" % ", ".join(skipped))
        tests = [t for t in tests if not t.many_procs]
    return tests


# --------------------------------------------------------------------------
# The programs: found in a build of the checkout, or built here

def own_build_dir(checkout):
    """Where the runner builds the programs of this checkout (outside the checkout)."""
    real = os.path.realpath(checkout)
    tag = hashlib.sha1(real.encode()).hexdigest()[:10]
    return os.path.join(tempfile.gettempdir(), "memf-mbench-%d" % os.getuid(),
                        "%s-%s" % (os.path.basename(real) or "mbench", tag))


def candidate_dirs(checkout, build_dir=None):
    """Directories that may hold the built programs, in the order they are tried: the one given,
    or bench.sh's own (DIR/out/bench), a build inside DIR/bench, then the runner's own."""
    if build_dir:
        return [os.path.abspath(build_dir)]
    return [os.path.join(checkout, "out", "bench"), os.path.join(checkout, "bench", "out"),
            own_build_dir(checkout)]


def is_program(path):
    return os.path.isfile(path) and os.access(path, os.X_OK)


def missing_programs(directory, programs):
    return [p for p in programs if not is_program(os.path.join(directory, p))]


def check_checkout(checkout, tests):
    """Raises MbError unless checkout is a mimalloc-bench checkout with the tests' inputs."""
    bench_dir = os.path.join(checkout, "bench")
    if not os.path.isfile(os.path.join(bench_dir, "CMakeLists.txt")):
        raise MbError("%s is not a mimalloc-bench checkout: %s/CMakeLists.txt not found "
                      "(git clone https://github.com/daanx/mimalloc-bench)" % (checkout, bench_dir))
    missing = [f for t in tests for f in t.inputs(bench_dir) if not os.path.isfile(f)]
    if missing:
        raise MbError("the checkout lacks the input file(s) %s" % ", ".join(missing))


def cmake_cache(outdir, key):
    """A value from the CMakeCache.txt of a build directory, or None."""
    try:
        with open(os.path.join(outdir, "CMakeCache.txt")) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return line.split("=", 1)[1].strip()
    except OSError:
        pass
    return None


def generator():
    """The cmake generator of a new build: Ninja, else make; MbError when neither is there."""
    if shutil.which("ninja"):
        return "Ninja"
    if shutil.which("make"):
        return "Unix Makefiles"
    raise MbError("neither ninja nor make is installed (apt-get install ninja-build)")


def missing_sources(cmake_output):
    """The source files cmake could not find, relative to the top of the source tree, from its
    messages ('CMake Error at sub/CMakeLists.txt:3 ...  Cannot find source file:  x.c')."""
    found = []
    for block in cmake_output.split("CMake Error at ")[1:]:
        where = os.path.dirname(block.split(":", 1)[0].strip())
        for m in re.finditer(r"Cannot find source file:\s+(\S+)", block):
            found.append(os.path.normpath(os.path.join(where, m.group(1))))
    return [f for f in found if not os.path.isabs(f) and not f.startswith("..")]


def link_tree(src, dst):
    """dst as a directory of symbolic links to every entry of src."""
    os.makedirs(dst, exist_ok=True)
    for entry in os.listdir(src):
        link = os.path.join(dst, entry)
        if not os.path.lexists(link):
            os.symlink(os.path.join(src, entry), link)


def add_placeholder(shadow, rel):
    """Puts an empty file at shadow/rel, turning the linked directories on its way into
    directories of links."""
    path = shadow
    for part in rel.split(os.sep)[:-1]:
        path = os.path.join(path, part)
        if os.path.islink(path):
            target = os.readlink(path)
            os.unlink(path)
            link_tree(target, path)
        os.makedirs(path, exist_ok=True)
    with open(os.path.join(shadow, rel), "w") as f:
        f.write("/* Stands in for a file this checkout lacks (mimalloc-bench's "
                "build-bench-env.sh downloads it), so that cmake configures; never compiled. */\n")


SHADOW = "src"   # the tree of links configure() builds from, inside the build directory


def run_logged(cmd, f):
    """Runs cmd with its output appended to the open log f; returns (ok, output)."""
    f.write("$ %s\n" % " ".join(cmd))
    f.flush()
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    f.write(r.stdout)
    f.flush()
    return r.returncode == 0, r.stdout


def configure(bench_src, outdir, f):
    """Configures a new build of bench_src in outdir, from a tree of links to it (outdir/src):
    a checkout that has not run the suite's build-bench-env.sh lacks the sources that script
    downloads, and cmake does not configure without them; the tree gets empty files in their
    place.  Returns the files stood in for; raises MbError if cmake fails otherwise."""
    shadow = os.path.join(outdir, SHADOW)
    link_tree(bench_src, shadow)
    gen = cmake_cache(outdir, "CMAKE_GENERATOR") or generator()
    cmd = ["cmake", "-S", shadow, "-B", outdir, "-G", gen, "-DCMAKE_BUILD_TYPE=Release"]
    placeholders = []
    while True:
        ok, output = run_logged(cmd, f)
        if ok:
            return placeholders
        missing = [m for m in missing_sources(output) if m not in placeholders]
        if not missing:
            raise MbError("cmake could not configure %s (log: %s):\n%s"
                          % (bench_src, f.name, "\n".join(output.splitlines()[-15:])))
        for rel in missing:
            log("mimalloc-bench: %s is not in the checkout; an empty file stands in for it so "
                "that cmake configures" % rel)
            add_placeholder(shadow, rel)
        placeholders += missing


def build_programs(checkout, outdir, programs, jobs):
    """Builds the programs (cmake targets of the same names) from checkout/bench into outdir,
    configuring it first unless it is a cmake build of another source tree (one made by hand or
    by the suite's own script: it is built as it is).  Returns the source files stood in for
    (see configure); raises MbError saying what is missing or what failed."""
    needs = "the mimalloc-bench program(s) %s" % ", ".join(programs)
    if not shutil.which("cmake"):
        raise MbError("%s are not built (looked in %s) and cmake, needed to build them, is not "
                      "installed (apt-get install cmake ninja-build)"
                      % (needs, ", ".join(candidate_dirs(checkout))))
    os.makedirs(outdir, exist_ok=True)
    logfile = os.path.join(outdir, "memf-bench-build.log")
    log("mimalloc-bench: building %s in %s" % (", ".join(programs), outdir))
    placeholders = []
    with open(logfile, "w") as f:
        home = cmake_cache(outdir, "CMAKE_HOME_DIRECTORY")
        if home is None or os.path.realpath(home) == os.path.realpath(os.path.join(outdir, SHADOW)):
            placeholders = configure(os.path.join(checkout, "bench"), outdir, f)
        run_logged(["cmake", "--build", outdir, "--parallel", str(jobs), "--target"] + programs, f)
    still = missing_programs(outdir, programs)
    if still:
        with open(logfile) as f:
            tail = "".join(f.readlines()[-15:])
        raise MbError("building %s failed; still missing: %s (log: %s):\n%s"
                      % (needs, ", ".join(still), logfile, tail))
    return placeholders


class Suite:
    """The checkout, procs, the tests chosen and where their programs are."""

    def __init__(self, checkout, tests, procs, build_dir=None):
        self.checkout = os.path.abspath(checkout)
        self.bench_dir = os.path.join(self.checkout, "bench")
        self.tests = tests
        self.procs = procs
        self.build_dir = build_dir
        self.program_dir = None
        self.built_now = False
        self.placeholders = []      # sources the build stood in for (see configure)
        self.workdir = None         # the runs' working directory (rptest writes a file there)
        self.seconds = None         # how long its timed runs took

    def programs(self):
        return sorted({t.program for t in self.tests})

    def locate(self):
        """Finds a build holding every program needed, or builds them; raises MbError."""
        check_checkout(self.checkout, self.tests)
        need = self.programs()
        dirs = candidate_dirs(self.checkout, self.build_dir)
        for d in dirs:
            if not missing_programs(d, need):
                self.program_dir = d
                return
        outdir = dirs[-1]
        self.placeholders = build_programs(self.checkout, outdir, missing_programs(outdir, need),
                                           max(1, self.procs))
        self.program_dir, self.built_now = outdir, True

    def command(self, t):
        """(argv, stdin path) of a test."""
        return ([os.path.join(self.program_dir, t.program)] + t.arguments(self.procs, self.bench_dir),
                t.stdin_path(self.bench_dir))

    def revision(self):
        """The checkout's commit as git describes it, or '?'."""
        desc = sh(["git", "-C", self.checkout, "describe", "--always", "--tags", "--dirty"])
        if not desc:
            return "not a git checkout"
        date = sh(["git", "-C", self.checkout, "log", "-1", "--format=%cs"])
        return "git %s%s" % (desc, " of %s" % date if date else "")
