#!/usr/bin/python3
"""What the heap profile costs, and how close its sampled estimates are.

    /usr/bin/python3 tools/bench/profile_cost.py [--repeats N] [--out FILE]

1. Sampled mode against memf's default mode on every benchmark workload (the target: geometric
   mean at most 1.1x), medians of N interleaved runs.
2. Exact mode against heaptrack on the leak-check subset of workloads (time and peak RSS; the
   target: at least 5x faster, less memory), with the default frame-pointer walk and with
   whole stacks (MEMF_UNWIND=precise, as heaptrack unwinds), and each profile's stack length.
3. Accuracy: the ten sites of tests/profile's `profile-program sites` in an exact profile
   against the estimates of sampled profiles (each site allocates --site-megabytes MB).
4. memf-report's commands on a generated profile of 5000 sites and 30000 frames
   (tests/report/time_report.py).
Writes a Markdown section (stdout, or --out). Python 3 standard library only; reuses membench.
"""

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys

from membench.bench import Bench, interleaved_plan
from membench.common import PYTHON, ROOT, log
from membench.measure import clean_env, run_measured
from membench.peers import HEAPTRACK
from membench.workloads import WORKLOAD_BY_NAME, WORKLOADS, locate_programs

PROFILE_CONFIGS = {
    "memf": {},
    "memf-sampled": {"MEMF_PROFILE": "sampled"},
    "memf-exact": {"MEMF_PROFILE": "exact"},
    # Whole stacks, unwound with DWARF as heaptrack unwinds them (libunwind): the frame-pointer
    # walk of the default gives one or two frames in programs built without frame pointers.
    "memf-exact-precise": {"MEMF_PROFILE": "exact", "MEMF_UNWIND": "precise"},
}


HEAPTRACK_PRINT = "/usr/bin/heaptrack_print"


class ProfileBench(Bench):
    """memf's profile modes, and heaptrack with the time its analysis takes (heaptrack_print
    turns its trace into the per-site figures memf's profile holds when the program ends)."""

    def config_env(self, config):
        if config == "heaptrack":
            env = clean_env()
            return env, [HEAPTRACK, "-o", os.path.join(self.tmp, "ht", "trace")]
        env = clean_env()
        env["LD_PRELOAD"] = self.args.memf
        env.update(PROFILE_CONFIGS[config])
        # One file per process: GNU time, which starts the program (run_measured), is profiled
        # too, and would otherwise overwrite the program's profile with its own.
        env["MEMF_PROFILE_FILE"] = os.path.join(self.tmp, "profile.%p.json")
        return env, []

    def profiles(self):
        return [os.path.join(self.tmp, f) for f in os.listdir(self.tmp)
                if f.startswith("profile.") and f.endswith(".json")]


    def measure(self, w, config, rep, scale, timeout):
        for path in self.profiles():
            os.remove(path)
        run = Bench.measure(self, w, config, rep, scale, timeout)
        if run.ok and config.startswith("memf-exact"):
            # The program's profile: the one of the most allocations (GNU time's has a few).
            depths = [d for d in (frames_per_allocation(p) for p in self.profiles()) if d is not None]
            if depths:
                self.depths.setdefault((w.name, config), []).append(max(depths)[1])
        if config == "heaptrack":
            directory = os.path.join(self.tmp, "ht")
            traces = [os.path.join(directory, f) for f in os.listdir(directory)] if os.path.isdir(directory) else []
            if run.ok and traces and os.path.exists(HEAPTRACK_PRINT):
                wall, _, _, _, status, _, _ = run_measured([HEAPTRACK_PRINT, "-f", traces[0]], clean_env(), timeout=timeout)
                if status == "ok":
                    self.analysis.setdefault(w.name, []).append(wall)
            shutil.rmtree(directory, ignore_errors=True)
        return run


def frames_per_allocation(path):
    """(allocations, the mean number of frames of their stacks) of a profile (each site's stack
    weighted by its allocations), or None without one."""
    try:
        with open(path) as f:
            sites = json.load(f)["sites"]
    except (OSError, ValueError, KeyError):
        return None
    total = sum(s["allocations"] for s in sites)
    return (total, sum(len(s["stack"]) * s["allocations"] for s in sites) / total) if total else None


def medians(runs, field):
    out = {}
    for r in runs:
        if r.ok:
            out.setdefault((r.workload, r.config), []).append(getattr(r, field))
    return {k: statistics.median(v) for k, v in out.items()}


def geomean(values):
    values = [v for v in values if v > 0]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def run_plan(bench, workloads, configs, repeats, scale_of):
    plan = interleaved_plan(repeats, workloads, configs)
    for i, (rep, w, config) in enumerate(plan):
        run = bench.measure(w, config, rep, scale_of(w), 600)
        bench.runs.append(run)
        if not run.ok:
            log("FAILED %s %s: %s" % (w.name, config, run.status))
        if i % 10 == 0:
            log("%d/%d" % (i + 1, len(plan)))


def measure_medians(bench, workloads, configs, repeats, scale_of):
    """Median wall time and peak RSS per (workload, config) of interleaved runs."""
    bench.runs = []
    run_plan(bench, workloads, configs, repeats, scale_of)
    return medians(bench.runs, "wall"), medians(bench.runs, "maxrss_kib")


def overhead_section(bench, workloads, repeats):
    wall, rss = measure_medians(bench, workloads, ["memf", "memf-sampled"], repeats, lambda w: w.quick_scale * 5)
    lines = ["### Sampled mode against the default mode", "",
             "Median of %d interleaved runs at 5x the quick scale; `MEMF_PROFILE=sampled` "
             "(512 KiB mean sample interval)." % repeats, "",
             "| workload | memf (s) | memf sampled (s) | ratio | peak RSS memf (MiB) | sampled (MiB) |",
             "|---|---|---|---|---|---|"]
    ratios = []
    for w in workloads:
        a, b = wall.get((w.name, "memf")), wall.get((w.name, "memf-sampled"))
        if a and b:
            ratios.append(b / a)
            lines.append("| %s | %.3f | %.3f | %.2fx | %.1f | %.1f |" % (
                w.name, a, b, b / a, rss[(w.name, "memf")] / 1024, rss[(w.name, "memf-sampled")] / 1024))
        else:
            lines.append("| %s | FAILED | | | | |" % w.name)
    lines.append("| **geometric mean** | | | **%.3fx** | | |" % geomean(ratios))
    return lines, geomean(ratios)


def heaptrack_section(bench, workloads, repeats):
    configs = ["memf", "memf-exact", "memf-exact-precise"] + (["heaptrack"] if os.path.exists(HEAPTRACK) else [])
    wall, rss = measure_medians(bench, workloads, configs, repeats, lambda w: w.leak_scale)
    analysis = {(name, "heaptrack"): statistics.median(v) for name, v in bench.analysis.items()}
    depth = {k: statistics.median(v) for k, v in bench.depths.items()}
    lines = ["### Exact mode against heaptrack", "",
             "Median of %d interleaved runs at the leak-check scales; heaptrack `-o FILE` records "
             "every allocation too, with its whole stack; its analysis, `heaptrack_print`, is timed apart. "
             "*exact*: `MEMF_PROFILE=exact` with the default frame-pointer walk; *precise*: the same with "
             "`MEMF_UNWIND=precise`, whole stacks unwound with DWARF as heaptrack's are. *frames*: the mean "
             "stack length of the profile's allocations." % repeats, "",
             "| workload | memf (s) | exact (s) | frames | precise (s) | frames | heaptrack (s) | heaptrack / exact | heaptrack / precise | + heaptrack_print (s) | peak RSS exact (MiB) | heaptrack (MiB) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    speedups, precise_speedups, rss_ratios = [], [], []
    for w in workloads:
        m, e, p, h = (wall.get((w.name, c)) for c in ("memf", "memf-exact", "memf-exact-precise", "heaptrack"))
        if not (m and e and p and h):
            lines.append("| %s | FAILED | | | | | | | | | | |" % w.name)
            continue
        a = analysis.get((w.name, "heaptrack"), 0.0)
        speedups.append(h / e)
        precise_speedups.append(h / p)
        rss_ratios.append(rss[(w.name, "memf-exact")] / rss[(w.name, "heaptrack")])
        lines.append("| %s | %.3f | %.3f | %.1f | %.3f | %.1f | %.3f | %.1fx | %.1fx | %.3f | %.1f | %.1f |" % (
            w.name, m, e, depth.get((w.name, "memf-exact"), float("nan")), p,
            depth.get((w.name, "memf-exact-precise"), float("nan")), h, h / e, h / p, a,
            rss[(w.name, "memf-exact")] / 1024, rss[(w.name, "heaptrack")] / 1024))
    lines.append("| **geometric mean** | | | | | | | **%.2fx** | **%.2fx** | | exact / heaptrack: **%.2fx** | |" % (
        geomean(speedups), geomean(precise_speedups), geomean(rss_ratios)))
    lines += ["", "memf's times include writing the symbolized profile at exit; heaptrack's run writes a "
              "compressed trace, which `heaptrack_print -f TRACE` analyses into per-site figures. The "
              "target is judged by *heaptrack / precise*, the comparison with stacks as whole as heaptrack's."]
    return lines, geomean(speedups), geomean(precise_speedups), geomean(rss_ratios)


def site_key(profile, site):
    """Function and line of every frame; module and offset where the function is unknown."""
    def frame(f):
        return (f["function"], f["line"]) if f["function"] != "?" else (os.path.basename(f["module"]), f["offset"])
    return tuple(frame(profile["frames"][i]) for i in site["stack"])


def accuracy_section(tmp, memf, runs, program, megabytes):
    """Sampled estimates of the ten sites of `profile-program sites` against the exact figures."""
    def profile(mode):
        path = os.path.join(tmp, "acc-%s.json" % mode)
        env = clean_env()
        env.update({"LD_PRELOAD": memf, "MEMF_PROFILE": mode, "MEMF_PROFILE_FILE": path})
        # Not through the measuring wrapper: only the program writes the profile.
        subprocess.run([program, "sites", str(megabytes)], env=env, check=True, capture_output=True, timeout=600)
        with open(path) as f:
            return json.load(f)

    def by_site(p):
        sums = {}
        for s in p["sites"]:
            names = [p["frames"][i]["function"] for i in s["stack"]]
            site = next((n for n in names if n.startswith("site_")), None)
            if site:
                sums[site] = sums.get(site, 0) + s["allocated_bytes"]
        return sums

    exact = by_site(profile("exact"))
    estimates = {k: [] for k in exact}
    for _ in range(runs):
        sampled = by_site(profile("sampled"))
        for k in estimates:
            estimates[k].append(sampled.get(k, 0))
    lines = ["### Sampled estimates against exact figures", "",
             "`profile-program sites %d` (tests/profile): ten sites, blocks of 16 B to 20000 B, each allocating "
             "about %d MB; the exact profile's bytes per site against %d sampled profiles (512 KiB mean interval). "
             "The estimate's relative standard error is about sqrt(512 KiB / bytes of the site): %.1f%% here." %
             (megabytes, megabytes, runs, 100 * math.sqrt(524288 / (megabytes * 1e6))), "",
             "| site | exact bytes | sampled: mean estimate | worst error |", "|---|---|---|---|"]
    worst_all = 0.0
    for k in sorted(exact, key=lambda k: -exact[k]):
        ests = estimates[k]
        mean = statistics.mean(ests)
        worst = max(abs(e - exact[k]) / exact[k] for e in ests)
        worst_all = max(worst_all, worst)
        lines.append("| `%s` | %d | %.0f (%+.1f%%) | %.1f%% |" % (k, exact[k], mean, 100 * (mean - exact[k]) / exact[k], 100 * worst))
    lines.append("")
    lines.append("Worst error of any site in any run: **%.1f%%**." % (100 * worst_all))
    return lines, worst_all


def render_section(tmp):
    """tests/report/time_report.py's table: memf-report's commands timed on its large profile."""
    r = subprocess.run([PYTHON, os.path.join(ROOT, "tests", "report", "time_report.py"),
                        "--report", os.path.join(ROOT, "tools", "memf-report"), "--python", PYTHON],
                       cwd=tmp, capture_output=True, text=True)
    lines = ["### Rendering a large profile", ""] + r.stdout.rstrip("\n").splitlines()
    seconds = [float(row.split("|")[2]) for row in lines if row.startswith("| `memf-report")]
    worst = max(seconds) if seconds and r.returncode == 0 else float("inf")
    lines += ["", "Slowest: **%.2f s**." % worst]
    return lines, worst


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--accuracy-runs", type=int, default=5)
    ap.add_argument("--memf", default=os.path.join(ROOT, "build", "interpose", "libmemf.so"))
    ap.add_argument("--only", help="comma-separated workloads for the overhead table")
    ap.add_argument("--site-megabytes", type=int, default=600, help="bytes each site allocates in the accuracy test")
    ap.add_argument("--skip-timing", action="store_true", help="only the accuracy test")
    ap.add_argument("--out")
    a = ap.parse_args()
    a.quick, a.no_warmup, a.scale, a.timeout = True, True, None, None
    bench = ProfileBench(a)
    bench.analysis = {}
    bench.depths = {}
    try:
        shutil.copy(a.memf, os.path.join(bench.tmp, "libmemf.so"))
        a.memf = os.path.join(bench.tmp, "libmemf.so")
        workloads = [WORKLOAD_BY_NAME[n] for n in a.only.split(",")] if a.only else list(WORKLOADS)
        bench.programs = locate_programs(os.path.join(ROOT, "build"),
                                         sorted({w.name for w in WORKLOADS if w.kind == "exe"}))
        out = ["## Heap profile cost", "", "Command: `/usr/bin/python3 tools/bench/profile_cost.py %s`" %
               " ".join(sys.argv[1:]), ""]
        sampled = speedup = precise_speedup = rss_ratio = float("nan")
        if not a.skip_timing:
            lines, sampled = overhead_section(bench, workloads, a.repeats)
            out += lines + [""]
            lines, speedup, precise_speedup, rss_ratio = heaptrack_section(bench, [w for w in WORKLOADS if w.leak_scale], max(3, a.repeats - 2))
            out += lines + [""]
        lines, slowest = render_section(bench.tmp)
        out += lines + [""]
        lines, worst = accuracy_section(bench.tmp, a.memf, a.accuracy_runs,
                                        os.path.join(ROOT, "build", "tests", "profile", "profile-program"), a.site_megabytes)
        out += lines + [""]
        out += ["| target | measured | holds |", "|---|---|---|",
                "| sampled mode ≤ 1.1× the default mode (geomean) | %.3fx | %s |" % (sampled, "yes" if sampled <= 1.1 else "**no**"),
                "| exact mode ≥ 5× faster than heaptrack, whole stacks as heaptrack's (`MEMF_UNWIND=precise`) | %.2fx (%.2fx with the frame-pointer walk) | %s |" % (
                    precise_speedup, speedup, "yes" if precise_speedup >= 5 else "**no**"),
                "| exact mode's peak RSS below heaptrack's | %.2fx | %s |" % (rss_ratio, "yes" if rss_ratio < 1 else "**no**"),
                "| top 10 sites' sampled bytes within 10%% of exact | worst %.1f%% | %s |" % (100 * worst, "yes" if worst <= 0.10 else "**no**"),
                "| memf-report renders a 5000-site, 30000-frame profile in seconds | slowest command %.1f s | %s |" % (
                    slowest, "yes" if slowest < 10 else "**no**"),
                ""]
        text = "\n".join(out)
        if a.out:
            with open(a.out, "w") as f:
                f.write(text)
        print(text)
    finally:
        bench.close()


if __name__ == "__main__":
    main()
