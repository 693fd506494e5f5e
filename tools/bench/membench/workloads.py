"""The workloads: what each one runs, building the compiled ones, reading their output."""

import os
import re
import subprocess
import tempfile

from .common import HERE, log


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
    Workload("cxx_containers", "exe",
             "std::map<std::string, std::vector<int>> and std::unordered_map<int, std::string> of 20k entries, "
             "a 4-level std::shared_ptr tree, built and destroyed, 150 rounds",
             0.1),
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
    "small_churn": "small_churn.c", "cxx_churn": "cxx_churn.cpp", "cxx_containers": "cxx_containers.cpp", "xthread": "xthread.c",
    "larson": "larson.c", "realloc_growth": "realloc_growth.c", "large": "large.c",
    "huge": "huge.c", "fragmentation": "fragmentation.c", "instructions": "instructions.c",
}


# --------------------------------------------------------------------------
# Building / locating the workload programs

def find_built(build_dir, name):
    """The program from the meson build, or None."""
    p = os.path.join(build_dir, name)
    if not os.path.isfile(p):
        p = os.path.join(build_dir, "tools", "bench", name)
    if not (os.path.isfile(p) and os.access(p, os.X_OK)):
        return None
    src = os.path.join(HERE, EXE_SOURCES[name])
    if os.path.getmtime(src) > os.path.getmtime(p):
        log("warning: %s is older than %s; rebuild with ninja" % (p, src))
    return p


def compile_private(name, outdir):
    """Compiles one workload with the system compiler (unless already up to date)."""
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
    return out


def locate_programs(build_dir, need):
    """Returns {name: path}. Uses the meson build if it has the programs,
    otherwise compiles them privately with the system compiler."""
    found = {}
    if build_dir:
        for name in need:
            p = find_built(build_dir, name)
            if p:
                found[name] = p
    missing = [n for n in need if n not in found]
    if missing:
        outdir = os.path.join(tempfile.gettempdir(), "memf-bench-bin-%d" % os.getuid())
        os.makedirs(outdir, exist_ok=True)
        for name in missing:
            found[name] = compile_private(name, outdir)
    return found


# --------------------------------------------------------------------------
# Reading a workload's output

def parse_kv(line, key):
    m = re.search(r"\b%s=(-?[0-9.]+)" % re.escape(key), line)
    return m.group(1) if m else None


# Lines heaptrack itself prints on stdout around the program's output.
TOOL_LINE = re.compile(r"heaptrack|^starting application|^NOTE:|^\s|^$", re.IGNORECASE)


def output_signature(workload, stdout):
    """The part of a workload's output that must not depend on the allocator."""
    if workload.kind == "mbench":
        return workload.signature(stdout)
    if workload.kind in ("exe", "python"):
        return parse_kv(stdout, "checksum")
    return "\n".join(l for l in stdout.splitlines() if not TOOL_LINE.search(l))
