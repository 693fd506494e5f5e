"""The markdown report: write_report() joins one function per section.

Each section function takes the ReportData and returns its lines."""

import os
import shlex
import statistics
import sys

from .bench import instr_configs
from .charts import draw_charts
from .common import ROOT
from .machine import machine_facts
from .measure import SETTLE_BUSY
from .peers import LSAN, LSAN_ENV, MEMF_LEAK_ENV, PEER_NAMES, versions
from .stats import (cell_text, cells_for, count_note, fmt_mib, fmt_ratio, fmt_time, geomean,
                    gm_text, med, ratio, unusable_text)
from .workloads import parse_kv


def table_head(columns):
    """A markdown table's header line and its separator."""
    return ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]


def table_row(cells):
    return "| " + " | ".join(cells) + " |"


class ReportData:
    """What the sections need: the cells of runs and the figures derived from them."""

    def __init__(self, bench, workloads, configs, instr, leak_workloads, leak_configs,
                 started, finished, load_before, load_after, mbench=None):
        self.bench = bench
        self.a = bench.args
        self.cells = cells_for(bench.runs)
        self.lcells = cells_for(bench.runs, "leak:")
        self.mbcells = cells_for(bench.runs, "mb:")
        self.workloads = workloads
        self.names = [w.name for w in workloads]
        # The mimalloc-bench suite's tests, compared with the peers like the workloads.
        self.mbench = mbench
        self.mb_names = [t.test for t in mbench.tests] if mbench else []
        self.rows = self.names + self.mb_names
        self.configs = configs
        extra = [p.name for p in getattr(self.a, "extra_peers", [])]
        # glibc and the Debian peers; the fastest of them and the targets are about these only.
        self.peers = [c for c in configs if c in PEER_NAMES]
        self.extras = [c for c in configs if c in extra]
        self.all_peers = [c for c in configs if c in self.peers or c in self.extras]
        self.has_memf = "memf" in configs
        self.instr = instr
        self.instr_results, self.variants = instr if instr else ({}, [])
        self.leak_workloads = leak_workloads
        self.leak_configs = leak_configs
        self.started, self.finished = started, finished
        self.load_before, self.load_after = load_before, load_after
        self.leak_said, self.leak_inactive = leak_mode_output(bench.runs)
        self.derive_ratios()
        self.leak = LeakFigures(self) if leak_workloads else None

    def derive_ratios(self):
        """memf's ratios: to the fastest Debian peer (ratio_best) and to the fastest of all
        peers (ratio_best_all), on the workloads and the suite's tests; to each peer
        (time_ratios), and in peak RSS to mimalloc and the extra peers
        (rss_ratios[peer][workload]), on the workloads."""
        self.fastest = self.fastest_peers(self.peers) if self.has_memf and self.peers else {}
        self.ratio_best = {n: ratio(self.figure(n, "memf"), best[0])
                           for n, best in self.fastest.items()}
        self.fastest_all = self.fastest
        if self.extras and self.has_memf:
            self.fastest_all = self.fastest_peers(self.all_peers)
        self.ratio_best_all = {n: ratio(self.figure(n, "memf"), best[0])
                               for n, best in self.fastest_all.items()}
        self.time_ratios = {}
        if self.has_memf:
            self.time_ratios = {(n, p): ratio(self.wall(n, "memf"), self.wall(n, p))
                                for n in self.names for p in self.all_peers}
        self.rss_refs = []
        if self.has_memf:
            self.rss_refs = (["mimalloc"] if "mimalloc" in self.configs else []) + self.extras
        self.rss_ratios = {p: {n: ratio(med(self.cells, n, "memf", "maxrss_kib"),
                                        med(self.cells, n, p, "maxrss_kib"))
                               for n in self.names} for p in self.rss_refs}

    def wall(self, name, config):
        return med(self.cells, name, config)

    def figure(self, name, config):
        """The median a workload or suite test is compared on (its wall time, or the suite's
        relative time where a test prints a rate)."""
        if name in self.mb_names:
            return med(self.mbcells, name, config, "score")
        return self.wall(name, config)

    def fastest_peers(self, peers):
        """{workload or test: (median, peer)} of the fastest of peers, where one has a figure."""
        out = {}
        for n in self.rows:
            pv = [(self.figure(n, p), p) for p in peers if self.figure(n, p) is not None]
            if pv:
                out[n] = min(pv)
        return out


def leak_mode_output(runs):
    """memf's leak-check mode writes its JSON report (MEMF_REPORT) at exit, with or without leaks.
    No report in any run means the mode did not run, and then its figures are those of the
    default mode.  Returns (the warnings it printed, whether it wrote no report at all)."""
    leak_runs = [r for r in runs if r.config == "memf-leak" and r.ok]
    said = [l for r in leak_runs for l in r.stderr_tail.splitlines()
            if l.startswith("memf: warning:")]
    inactive = bool(leak_runs) and not any(r.leak_report for r in leak_runs)
    return said, inactive


class LeakFigures:
    """Overheads in the leak-check comparison: over[config][workload] = time ÷ plain glibc,
    ht_ratio[workload] = heaptrack ÷ memf-leak, and the geometric means the targets use."""

    def __init__(self, d):
        lc = d.lcells
        self.over = {c: {} for c in d.leak_configs}
        self.ht_ratio = {}
        for w in d.leak_workloads:
            base = med(lc, w.name, "glibc")
            for c in d.leak_configs:
                if c != "glibc":
                    self.over[c][w.name] = ratio(med(lc, w.name, c), base)
            self.ht_ratio[w.name] = ratio(med(lc, w.name, "heaptrack"),
                                          med(lc, w.name, "memf-leak"))
        self.gm = {}
        # The target comparisons use the workloads where both sides have a figure.
        over = self.over
        if "memf-leak" in over and "lsan" in over:
            common = [n for n in over["memf-leak"]
                      if over["memf-leak"][n] is not None and over["lsan"].get(n) is not None]
            self.gm["lsan"] = (geomean([over["memf-leak"][n] for n in common]),
                               geomean([over["lsan"][n] for n in common]), common,
                               [n for n in over["memf-leak"] if n not in common])
        if "memf-leak" in over and "heaptrack" in over:
            common = [n for n, v in self.ht_ratio.items() if v is not None]
            self.gm["heaptrack"] = (geomean([self.ht_ratio[n] for n in common]), common,
                                    [n for n in self.ht_ratio if n not in common])


# --------------------------------------------------------------------------
# Introduction, machine, workloads

def command_block():
    """The command line that produced the report, as a code block."""
    out = ["Command:", "", "```"]
    script = os.path.abspath(sys.argv[0])
    shown = os.path.relpath(script, ROOT) if script.startswith(ROOT + os.sep) else script
    cwd = os.getcwd()
    if cwd != ROOT:
        out.append("# in %s" % cwd)
        shown = script
    out.append(" ".join(shlex.quote(x) for x in [sys.executable, shown] + sys.argv[1:]))
    out += ["```", ""]
    return out


def intro_section(d):
    a = d.a
    out = ["# memf benchmarks", ""]
    out.append("Generated by `tools/bench/run.py` on %s (%.1f minutes)." % (
        d.started.strftime("%Y-%m-%d %H:%M UTC"),
        (d.finished - d.started).total_seconds() / 60.0))
    if a.quick:
        out += ["", "**Quick smoke run** (`--quick`): reduced iteration counts and repeats; "
                "the figures show that everything runs, not how fast."]
    out.append("")
    out += command_block()
    out.append(
        "Every cell is the median of %d runs (wall time from start to exit, peak RSS as "
        "GNU time's `%%M`, the rusage high-water mark of the process); runs are interleaved round robin across allocators, each round "
        "in an order drawn afresh (seeded), so that no allocator always runs right after the same one. The allocator is chosen with `LD_PRELOAD` "
        "(glibc: nothing preloaded); the workload programs are the same binaries for all. "
        "A run that crashes, exits non-zero, times out, or prints a result different from "
        "the other allocators' is reported as FAILED and left out of every ratio." % a.repeats)
    out.append("")
    return out


def headline_row(d, label, ratios, fastest):
    """One line of the headline: geometric means over the workloads, the suite's tests and
    both, and the worst ratio."""
    groups = [d.names, d.mb_names] if d.mb_names and d.names else []
    row = [label] + [gm_text([ratios.get(n) for n in g]) for g in groups]
    every = [ratios.get(n) for n in d.rows]
    have = [v for v in every if v is not None]
    row.append("**%s**%s" % (fmt_ratio(geomean(have)), count_note(len(have), len(every))))
    have = [(v, n) for n, v in ratios.items() if v is not None]
    if have:
        worst = max(have)
        row.append("%s %s (%s)" % (worst[1], fmt_ratio(worst[0]), fastest[worst[1]][1]))
    else:
        row.append("–")
    return table_row(row)


def headline_section(d):
    """memf against the fastest peer on each workload and suite test: geometric mean and worst."""
    if not (d.has_memf and d.all_peers):
        return []
    out = ["## Summary: memf against the fastest peer", ""]
    what = "memf's %d workloads" % len(d.names) if d.names else ""
    if d.mb_names:
        what += (" and " if what else "") + ("the %d mimalloc-bench tests" % len(d.mb_names))
    out += ["On each of %s, memf's median time divided by the fastest peer's on it (lower is "
            "better; below 1.00× memf is the fastest). A workload where memf, or every peer, "
            "failed has no figure and is left out (the count says so); the worst case names the "
            "workload and the peer." % what, ""]
    both = bool(d.mb_names and d.names)
    out += table_head(["peers compared"] + (["geometric mean, memf's workloads",
                                             "geometric mean, mimalloc-bench"] if both else []) +
                      ["geometric mean" + (", all" if both else ""), "worst"])
    if d.peers:
        out.append(headline_row(d, "packaged: " + ", ".join(d.peers), d.ratio_best, d.fastest))
    if d.extras:
        out.append(headline_row(d, "all: %s" % ", ".join(d.all_peers), d.ratio_best_all,
                                d.fastest_all))
    out.append("")
    return out


def against_others(d, config, pool):
    """{row: config's figure ÷ the fastest figure of the other allocators of pool (None where
    config has none)}, and {row: (that figure, its allocator)}, as the headline's ratios."""
    fastest = d.fastest_peers([c for c in pool if c != config])
    return {n: ratio(d.figure(n, config), best[0]) for n, best in fastest.items()}, fastest


def others_section(d):
    """The headline's rule applied to every allocator in turn: how far from 1.00× the rule puts
    an allocator that is level with the field, on this machine's noise."""
    pool = (["memf"] if d.has_memf else []) + d.all_peers
    if len(pool) < 3:
        return []
    out = ["### Every allocator against the fastest of the others", ""]
    out += ["The headline's rule applied to each allocator in turn: its median divided by the "
            "fastest median of all the others (memf included) on each workload and suite test. "
            "The fastest of %d medians, each with this machine's run-to-run noise, is lower than "
            "a typical run of that allocator, so an allocator level with the field scores above "
            "1.00×: a peer's row shows how far the rule alone moves it. *fastest on* counts the "
            "rows where the allocator's median was the lowest of all." % (len(pool) - 1), ""]
    both = bool(d.mb_names and d.names)
    out += table_head(["allocator"] + (["geometric mean, memf's workloads",
                                        "geometric mean, mimalloc-bench"] if both else []) +
                      ["geometric mean" + (", all" if both else ""), "worst", "fastest on"])
    for config in pool:
        ratios, fastest = against_others(d, config, pool)
        row = headline_row(d, "**memf**" if config == "memf" else config, ratios, fastest)
        have = [v for v in ratios.values() if v is not None]
        out.append(row + " %d of %d |" % (sum(1 for v in have if v < 1.0), len(d.rows)))
    out.append("")
    return out


def busy_row(bench, a):
    quiet = sum(1 for b in bench.busy if b < SETTLE_BUSY)
    return ("| CPU use by other work just before each timed run | median %.0f%%, max %.0f%%; "
            "%d of %d runs started on a quiet machine (waited %.0f s in all; limits %g s "
            "per run, %g s in total) |"
            % (100 * statistics.median(bench.busy), 100 * max(bench.busy), quiet,
               len(bench.busy), bench.settle_waited, a.settle, a.settle_total))


def machine_section(d):
    bench = d.bench
    out = ["## Machine", "", "| | |", "|---|---|"]
    out += ["| %s | %s |" % (k, v) for k, v in machine_facts()]
    out.append("| load average before / after | %s / %s |" % (d.load_before, d.load_after))
    if bench.loads:
        out.append("| 1-minute load average before each timed run | median %.2f, max %.2f |"
                   % (statistics.median(bench.loads), max(bench.loads)))
    if bench.busy:
        out.append(busy_row(bench, d.a))
    out.append("")
    out += table_head(["component", "path", "package", "version"])
    out += ["| %s | `%s` | %s | %s |" % row for row in versions(d.a)]
    out.append("")
    return out


def workloads_section(d):
    out = ["## Workloads", ""]
    out += table_head(["workload", "what it does", "scale"])
    out += ["| %s | %s | %g |" % (w.name, w.desc, d.bench.scale(w)) for w in d.workloads]
    out += ["", "Sources: `tools/bench/*.c`, `cxx_churn.cpp`, `alloc_heavy.py`, "
            "`sqlite_workload.py`. Operation counts above are at scale 1.", ""]
    return out


# --------------------------------------------------------------------------
# Wall time and CPU time

def time_row(d, n):
    row = [n] + [cell_text(d.cells.get((n, c)), "wall", fmt_time) for c in d.configs]
    if d.has_memf and d.peers:
        if n in d.fastest:
            best = d.fastest[n]
            row += ["%s (%s)" % (best[1], fmt_time(best[0])), fmt_ratio(d.ratio_best[n])]
        else:
            row += ["–", "–"]
    return table_row(row)


def extra_peers_note(d):
    """Says which columns are extra peers (--peer), which the fastest peer leaves out."""
    if not d.extras:
        return []
    text = ", ".join("%s (`%s`)" % (p.name, p.path) for p in d.a.extra_peers
                     if p.name in d.extras)
    note = "Extra peers given with `--peer`: %s." % text
    if d.has_memf and d.peers:
        note += (" The fastest peer, and the targets below, consider only the allocators "
                 "from Debian packages.")
    return [note, ""]


def time_section(d):
    out = ["## Wall time (median seconds)", ""]
    hdr = ["workload"] + d.configs
    if d.has_memf and d.peers:
        hdr += ["fastest peer", "memf ÷ fastest peer"]
    out += table_head(hdr)
    out += [time_row(d, n) for n in d.names]
    out.append("")
    return out + extra_peers_note(d)


def peer_ratio_section(d):
    if not (d.has_memf and d.all_peers):
        return []
    out = ["### memf time relative to each peer (lower is better)", ""]
    out += table_head(["workload"] + ["vs " + p for p in d.all_peers])
    for n in d.names:
        out.append(table_row([n] + [fmt_ratio(d.time_ratios[(n, p)]) for p in d.all_peers]))
    row = ["**geometric mean**"]
    for p in d.all_peers:
        vals = [d.time_ratios[(n, p)] for n in d.names]
        have = [v for v in vals if v is not None]
        row.append("**%s**" % fmt_ratio(geomean(have)) + count_note(len(have), len(vals)))
    out += [table_row(row), ""]
    return out


def glibc_geomean_text(d, c):
    rs = []
    complete = True
    for n in d.names:
        cv, gv = d.wall(n, c), d.wall(n, "glibc")
        if cv is None or not gv:
            complete = False
            continue
        rs.append(cv / gv)
    return fmt_ratio(geomean(rs)) + ("" if complete else " (partial)")


def glibc_geomean_section(d):
    out = ["### Geometric mean of wall time, relative to glibc", ""]
    out += table_head(d.configs)
    out += [table_row([glibc_geomean_text(d, c) for c in d.configs]), ""]
    return out


def geomean_row(ncols, ratio_lists):
    """The bold geometric-mean row under a table with ncols empty columns before it."""
    text = ""
    for vals in ratio_lists:
        have = [v for v in vals if v is not None]
        text += " **%s**%s |" % (fmt_ratio(geomean(have)), count_note(len(have), len(vals)))
    return "| **geometric mean** |" + " |" * ncols + text


def cpu_row(d, n):
    """(table row, memf ÷ fastest peer CPU time or None)."""
    row = [n]
    meds = {}
    for c in d.configs:
        cell = d.cells.get((n, c))
        bad = unusable_text(cell)
        if bad:
            row.append(bad)
            continue
        meds[c] = cell.cpu()
        row.append(fmt_time(meds[c]))
    r = None
    if d.has_memf and d.peers:
        pv = [meds[p] for p in d.peers if p in meds]
        r = meds["memf"] / min(pv) if "memf" in meds and pv and min(pv) > 0 else None
        row.append(fmt_ratio(r))
    return table_row(row), r


def cpu_section(d):
    out = ["### CPU time (median user+system seconds)", "",
           "Less disturbed than wall time when other work shares the machine; for the "
           "threaded workloads it also counts time spent spinning or contending.", ""]
    with_ratio = d.has_memf and d.peers
    out += table_head(["workload"] + d.configs + (["memf ÷ fastest peer"] if with_ratio else []))
    rows = [cpu_row(d, n) for n in d.names]
    out += [row for row, _ in rows]
    if with_ratio:
        out.append(geomean_row(len(d.configs), [[r for _, r in rows]]))
    out.append("")
    return out


# --------------------------------------------------------------------------
# Memory

def rss_section(d):
    out = ["## Peak RSS (median MiB)", ""]
    out += table_head(["workload"] + d.configs + ["memf ÷ %s" % p for p in d.rss_refs])
    for n in d.names:
        row = [n] + [cell_text(d.cells.get((n, c)), "maxrss_kib", fmt_mib) for c in d.configs]
        row += [fmt_ratio(d.rss_ratios[p][n]) for p in d.rss_refs]
        out.append(table_row(row))
    if d.rss_refs:
        out.append(geomean_row(len(d.configs),
                               [list(d.rss_ratios[p].values()) for p in d.rss_refs]))
    out.append("")
    return out


def final_rss_text(cell):
    bad = unusable_text(cell)
    if bad:
        return bad
    vals = [r.final_rss_kib for r in cell.ok_runs if r.final_rss_kib is not None]
    return fmt_mib(statistics.median(vals)) if vals else "–"


def live_kib(runs, names):
    """The live bytes (KiB) the first successful run of these workloads reported."""
    for r in runs:
        if r.workload in names and r.ok:
            v = parse_kv(r.stdout, "live_kib")
            if v:
                return int(v)
    return None


def final_rss_section(d):
    frag = [w.name for w in d.workloads if w.final_rss]
    if not frag:
        return []
    out = ["### Resident set at the end (MiB, from /proc/self/statm, everything still "
           "allocated)", ""]
    out += table_head(["workload"] + d.configs)
    for n in frag:
        out.append(table_row([n] + [final_rss_text(d.cells.get((n, c))) for c in d.configs]))
    live = live_kib(d.bench.runs, frag)
    if live:
        out += ["", "Live bytes requested at that point: %.1f MiB." % (live / 1024.0)]
    out.append("")
    return out


# --------------------------------------------------------------------------
# mimalloc-bench

def built_text(s):
    """How the suite's programs came to be, when this run built them."""
    if not s.built_now:
        return ""
    text = " (built by this run with cmake"
    if s.placeholders:
        text += ("; the checkout lacks %s, which the suite's build-bench-env.sh downloads for "
                 "tests not run here, and empty files stood in for them so that cmake would "
                 "configure" % ", ".join("`%s`" % p for p in s.placeholders))
    return text + ")"


def rate_rules_text(rated):
    """'larsonN, larsonN-sized: rule; ...' for the tests measured by their rate."""
    by_rule = {}
    for t in rated:
        by_rule.setdefault(t.rate[1], []).append(t.test)
    return "; ".join("%s: %s" % (", ".join(tests), rule) for rule, tests in by_rule.items())


def mbench_intro(d):
    s = d.mbench
    rated = [t for t in s.tests if t.rate]
    intro = ("[mimalloc-bench](https://github.com/daanx/mimalloc-bench) from the checkout `%s` "
             "(%s), its programs from `%s`%s. Each test is a row of the suite's `bench.sh` "
             "with its program and arguments for procs = %d (bench.sh takes `nproc`); run from a "
             "scratch directory under every allocator (`LD_PRELOAD`), interleaved round robin "
             "in a drawn order as above, median of %d runs%s. The figure is "
             "the process's wall time, lower is better, "
             % (s.checkout, s.revision(), s.program_dir,
                built_text(s), s.procs, d.a.repeats,
                "; the suite's runs took %.1f minutes" % (s.seconds / 60.0) if s.seconds else ""))
    if rated:
        intro += ("except for the tests marked †, which run for a fixed time and print a "
                  "rate: for them, as in bench.sh, it is a relative time computed from that "
                  "rate (%s). " % rate_rules_text(rated))
    else:
        intro += "as in bench.sh. "
    intro += ("Peak RSS is GNU time's `%%M`, as bench.sh's rss column. The fastest peer is "
              "chosen among %s." % ("all peers, the extra ones included" if d.extras
                                    else "glibc and the packaged peers"))
    return intro


def mbench_cell(d, name, config):
    cell = d.mbcells.get((name, config))
    bad = unusable_text(cell)
    if bad:
        return bad
    return "%s s, %s MiB" % (fmt_time(cell.med("score")), fmt_mib(cell.med("maxrss_kib")))


def mbench_section(d):
    if not d.mbench:
        return []
    out = ["## mimalloc-bench", "", mbench_intro(d), "",
           "Each allocator's cell: median time (s), median peak RSS (MiB).", ""]
    with_ratio = d.has_memf and d.all_peers
    debian_too = with_ratio and d.extras and d.peers
    hdr = ["test", "args"] + d.configs
    if with_ratio:
        hdr += ["fastest peer", "memf ÷ fastest peer"]
    if debian_too:
        hdr += ["memf ÷ fastest packaged peer"]
    out += table_head(hdr)
    for t in d.mbench.tests:
        n = t.test
        args = t.shown_args(d.mbench.procs)
        row = [n + (" †" if t.rate else ""), "`%s`" % args if args else "none"]
        row += [mbench_cell(d, n, c) for c in d.configs]
        if with_ratio:
            best = d.fastest_all.get(n)
            row += ["%s (%s)" % (best[1], fmt_time(best[0])) if best else "–",
                    fmt_ratio(d.ratio_best_all.get(n))]
        if debian_too:
            best = d.fastest.get(n)
            row.append("%s (%s)" % (fmt_ratio(d.ratio_best.get(n)), best[1]) if best else "–")
        out.append(table_row(row))
    if with_ratio:
        lists = [[d.ratio_best_all.get(n) for n in d.mb_names]]
        if debian_too:
            lists.append([d.ratio_best.get(n) for n in d.mb_names])
        out.append(geomean_row(len(d.configs) + 2, lists))
    out += ["", "What the tests do:", ""]
    out += ["- %s: %s" % (t.test, t.desc) for t in d.mbench.tests]
    out.append("")
    return out


# --------------------------------------------------------------------------
# Instructions

def instructions_intro(d):
    ns = sorted(set(v[3] for v in d.instr_results.values()), key=lambda x: -x[1])
    return ("`valgrind --tool=callgrind` on `instructions N` for two values of N (%s); the "
            "figure is the difference in total instructions divided by the difference in N, "
            "so start-up and exit cancel and the loop (size drawn from a xorshift generator, "
            "sizes 8–256 B) is included. *window*: each iteration frees the block allocated "
            "1024 iterations earlier (the figure compared with the brief's); *pair*: free "
            "right after malloc."
            % "; ".join("%d and %d%s" % (x[0], x[1], " for memf-leak" if x[0] == 20000
                                          and len(ns) > 1 else "") for x in ns))


def instructions_section(d):
    if not d.instr:
        return []
    out = ["## Instructions per malloc+free pair (callgrind)", "", instructions_intro(d), ""]
    out += table_head(["allocator"] + [v for v, _ in d.variants])
    for c in instr_configs(d.configs):
        row = [c]
        for v, _ in d.variants:
            st, per, _, _ = d.instr_results.get((c, v), ("not run", None, None, None))
            row.append("%.1f" % per if st == "ok" else "FAILED (%s)" % st)
        out.append(table_row(row))
    out.append("")
    if d.leak_inactive and d.has_memf:
        out += ["memf-leak is memf with `MEMF_LEAK_CHECK=1 MEMF_STACKS=all`; this build "
                "wrote no leak report in that mode (see below).", ""]
    return out


# --------------------------------------------------------------------------
# Leak checking

def env_text(env):
    return " ".join("%s=%s" % kv for kv in env.items())


def leak_intro(d):
    a = d.a
    return ("Each program run plain (glibc), under memf's default mode, under memf's leak-check "
            "mode (`%s`, and `MEMF_REPORT` to check that the report was written), with LeakSanitizer preloaded (`LD_PRELOAD=%s`, `%s`) and under "
            "`heaptrack -o FILE`; median of %d runs, at reduced scales (%s) so heaptrack "
            "finishes in seconds. Overhead = time ÷ plain glibc time. Runs are interleaved "
            "round robin as above."
            % (env_text(MEMF_LEAK_ENV), LSAN, env_text(LSAN_ENV), a.leak_repeats,
               ", ".join("%s %g" % (w.name, d.bench.leak_scale(w)) for w in d.leak_workloads)))


def leak_gm_text(values):
    vals = [v for v in values.values() if v is not None]
    g = geomean(vals)
    if g is None:
        return "–"
    return fmt_ratio(g) + count_note(len(vals), len(values))


def leak_time_table(d):
    lf, checked = d.leak, [c for c in d.leak_configs if c != "glibc"]
    out = table_head(["workload"] + d.leak_configs + ["%s overhead" % c for c in checked] +
                     ["heaptrack ÷ memf-leak"])
    for w in d.leak_workloads:
        row = [w.name] + [cell_text(d.lcells.get((w.name, c)), "wall", fmt_time)
                          for c in d.leak_configs]
        row += [fmt_ratio(lf.over[c][w.name]) for c in checked]
        out.append(table_row(row + [fmt_ratio(lf.ht_ratio[w.name])]))
    row = ["**geometric mean**"] + [""] * len(d.leak_configs)
    row += ["**%s**" % leak_gm_text(lf.over[c]) for c in checked]
    out += [table_row(row + ["**%s**" % leak_gm_text(lf.ht_ratio)]), ""]
    return out


def leak_inactive_note(d):
    if not d.leak_inactive:
        return []
    return ["**memf's leak-check mode wrote no leak report in any run**, where it "
            "should write its JSON report (`MEMF_REPORT`) at exit%s. So this build does not "
            "check for leaks yet, and the memf-leak column shows only what "
            "`MEMF_LEAK_CHECK=1 MEMF_STACKS=all` costs without the report."
            % ("; it only said `%s`" % d.leak_said[0] if d.leak_said else ""), ""]


def leak_rss_table(d):
    out = ["Peak RSS (median MiB) in the same runs:", ""]
    out += table_head(["workload"] + d.leak_configs)
    for w in d.leak_workloads:
        out.append(table_row([w.name] + [cell_text(d.lcells.get((w.name, c)), "maxrss_kib",
                                                   fmt_mib) for c in d.leak_configs]))
    out.append("")
    return out


def leak_section(d):
    if not d.leak_workloads:
        return []
    out = ["## Leak checking cost", "", leak_intro(d), ""]
    return out + leak_time_table(d) + leak_inactive_note(d) + leak_rss_table(d)


# --------------------------------------------------------------------------
# Targets

def verdict(d, ok, leak=False):
    if leak and d.leak_inactive:
        return "n/a: no leak report from memf"
    return "n/a" if ok is None else ("yes" if ok else "**no**")


def complete(vals):
    return vals and all(v is not None for v in vals)


def target_time_vs_mimalloc(d):
    if "mimalloc" not in d.peers or not d.names:
        return []
    vals = [d.time_ratios.get((n, "mimalloc")) for n in d.names]
    g = geomean(vals) if complete(vals) else None
    return ["| memf geomean time ≤ 1.0× mimalloc | %s | %s |" % (
        fmt_ratio(g) if g else "incomplete (failed or missing runs)",
        verdict(d, None if g is None else g <= 1.0))]


def target_worst_workload(d):
    if not d.peers:
        return []
    vals = [d.ratio_best.get(n) for n in d.rows]
    if not complete(vals):
        bad = [n for n in d.rows if d.ratio_best.get(n) is None]
        return ["| no workload worse than 1.2× the fastest peer | no figure for: %s | **no** |"
                % ", ".join(bad)]
    worst = max((v, n) for n, v in d.ratio_best.items() if v is not None)
    return ["| no workload worse than 1.2× the fastest peer | worst: %s %s | %s |" % (
        worst[1], fmt_ratio(worst[0]), verdict(d, worst[0] <= 1.2))]


def target_instructions(d):
    if not (d.instr and "mimalloc" in d.configs):
        return []
    st_m, pm, _, _ = d.instr_results.get(("memf", "window"), ("not run", None, None, None))
    st_p, pp, _, _ = d.instr_results.get(("mimalloc", "window"), ("not run", None, None, None))
    if pm is not None and pp is not None:
        return ["| instructions per pair ≤ mimalloc | %.1f vs %.1f | %s |"
                % (pm, pp, verdict(d, pm <= pp))]
    return ["| instructions per pair ≤ mimalloc | memf: %s, mimalloc: %s | n/a |" % (st_m, st_p)]


def target_rss(d):
    if "mimalloc" not in d.configs or not d.names:
        return []
    vals = list(d.rss_ratios["mimalloc"].values())
    g = geomean(vals) if complete(vals) else None
    return ["| peak RSS geomean ≤ 1.1× mimalloc | %s | %s |" % (
        fmt_ratio(g) if g else "incomplete", verdict(d, None if g is None else g <= 1.1))]


def target_huge(d):
    if not ("tcmalloc" in d.configs and "huge" in d.names):
        return []
    r = d.time_ratios.get(("huge", "tcmalloc"))
    return ["| huge at least as fast as tcmalloc | %s | %s |" % (
        fmt_ratio(r) if r else "no figure", verdict(d, None if r is None else r <= 1.0))]


def workload_list(common, excluded):
    return "%s%s" % (", ".join(common) or "no workload",
                     "; no figure for " + ", ".join(excluded) if excluded else "")


def target_leak_vs_lsan(d):
    if not (d.leak and "lsan" in d.leak.gm):
        return []
    ml, ls, common, excluded = d.leak.gm["lsan"]
    return ["| leak-check overhead ≤ LeakSanitizer's | %s vs %s over %s | %s |" % (
        fmt_ratio(ml), fmt_ratio(ls), workload_list(common, excluded),
        verdict(d, None if ml is None or ls is None else ml <= ls, leak=True))]


def target_leak_vs_heaptrack(d):
    if not (d.leak and "heaptrack" in d.leak.gm):
        return []
    ht, common, excluded = d.leak.gm["heaptrack"]
    return ["| leak-check ≥ 5× faster than heaptrack | %s over %s | %s |" % (
        fmt_ratio(ht), workload_list(common, excluded),
        verdict(d, None if ht is None else ht >= 5.0, leak=True))]


TARGETS = [target_time_vs_mimalloc, target_worst_workload, target_instructions, target_rss,
           target_huge, target_leak_vs_lsan, target_leak_vs_heaptrack]


def targets_section(d):
    if not d.has_memf:
        return []
    out = ["## Targets", ""]
    if d.mb_names:
        out += ["The worst-workload row counts the mimalloc-bench tests too; the other rows "
                "are about memf's workloads.", ""]
    out += table_head(["target", "measured", "holds"])
    for target in TARGETS:
        out += target(d)
    out.append("")
    return out


# --------------------------------------------------------------------------
# Application pools

UNSYNCHRONIZED_POOLS = {"boost::pool", "pmr::unsynchronized_pool_resource"}

POOLS_INTRO = (
    "`tools/bench/pool_bench` (64-byte objects; in the *mixed* rows 16–512 B, for the pools "
    "that take any size; docs/pools.md describes the patterns), run "
    "%d times interleaved: `pool_bench all` with glibc's libc.so.6 preloaded (every pool; "
    "new/delete and the other pools' upstream are glibc's malloc: without the preload "
    "they would be libmimalloc.so.2's, which pool_bench links for memf's engine), "
    "and `pool_bench new/` with memf and with mimalloc preloaded. Nanoseconds per "
    "allocate+free pair, all threads' pairs counted (so two threads that scale perfectly "
    "halve the one-thread figure); lowest of the runs (each already the best of five).")


def pool_leaders(figures):
    """The pools within 5% (or 0.05 ns) of the lowest figure, a tie on this machine."""
    if not figures:
        return "–"
    low = min(figures.values())
    tied = sorted((c for c, v in figures.items() if v <= max(low * 1.05, low + 0.05)),
                  key=figures.get)
    return " = ".join(tied) + " (%.1f)" % low


def pools_section(d):
    pools = getattr(d.bench, "pools", None)
    if not (pools and pools[0]):
        return []
    order, best = pools
    contenders = []
    for key in order:
        contenders += [pool for pool in best[key] if pool not in contenders]
    out = ["## Application pools", "", POOLS_INTRO % d.a.pool_repeats,
           "`boost::pool` and `pmr::unsynchronized_pool_resource` are not thread-safe: "
           "single-thread rows only. Figures within 5% of the lowest are listed as tied.", ""]
    out += table_head(["pattern", "threads"] + contenders + ["fastest", "fastest thread-safe"])
    for key in order:
        row = best[key]
        figures = [("%.1f" % row[c]) if c in row else "–" for c in contenders]
        safe = {c: v for c, v in row.items() if c not in UNSYNCHRONIZED_POOLS}
        out.append("| %s | %s | %s | %s | %s |" % (key[0], key[1], " | ".join(figures),
                                                    pool_leaders(row), pool_leaders(safe)))
    out.append("")
    return out


# --------------------------------------------------------------------------
# Charts, spread, failures, notes

def charts_section(d):
    a = d.a
    if not a.chart:
        return []
    charts = draw_charts(a.chart, d.cells, d.names, d.configs, a.quick)
    out = ["## Charts", ""]
    outdir = os.path.dirname(os.path.abspath(a.out)) if a.out else os.getcwd()
    for title, path, err in charts:
        if err:
            out.append("%s: %s." % (title, err))
        else:
            out.append("![%s](%s)" % (title, os.path.relpath(os.path.abspath(path), outdir)))
        out.append("")
    return out


def spread_text(cell):
    if not cell or cell.failed_any:
        return "–"
    sp = cell.spread()
    wall = "%s–%s" % (fmt_time(sp[0]), fmt_time(sp[1])) if sp else fmt_time(cell.med("wall"))
    return wall + ", cpu %s" % fmt_time(cell.cpu())


def spread_section(d):
    out = ["## Spread", "",
           "Wall time min–max over the runs of each cell, and median CPU time (user+system).", ""]
    out += table_head(["workload"] + d.configs)
    out += [table_row([n] + [spread_text(d.cells.get((n, c))) for c in d.configs])
            for n in d.names]
    out.append("")
    return out


LSAN_SQLITE_NOTE = (
    "  - Known: sqlite3 calls `signal()` before its first allocation; with "
    "liblsan.so.0 preloaded into an uninstrumented program that call reaches "
    "LeakSanitizer's interceptor before the runtime has initialised, and it jumps "
    "to a null pointer (seen in gdb: the fault is at address 0, called from "
    "sqlite3's `main` via `signal@plt`). `echo 'select 1;' | "
    "LD_PRELOAD=liblsan.so.0 sqlite3` crashes the same way.")


def failure_item(d, r, count):
    """The lines of one kind of failure (workload, config, status)."""
    out = ["- **%s / %s**: %s (%d run%s)" % (r.workload, r.config, r.status, count,
                                              "" if count == 1 else "s")]
    note = d.bench.mismatch.get((r.workload, r.config))
    if note:
        out.append("  - %s" % note)
    if r.config == "lsan" and r.workload.endswith("sqlite") and "SEGV" in r.status:
        out.append(LSAN_SQLITE_NOTE)
    tail = r.stderr_tail.strip().splitlines()[-6:]
    if tail:
        out += ["", "  ```"] + ["  " + line[:200] for line in tail] + ["  ```"]
    return out


def failures_section(d):
    failures = [r for r in d.bench.runs if not r.ok]
    out = ["## Failures", ""]
    if not failures:
        out.append("None: every run exited 0 with the expected output.")
    seen = set()
    for r in failures:
        key = (r.workload, r.config, r.status)
        if key in seen:
            continue
        seen.add(key)
        count = sum(1 for x in failures if (x.workload, x.config, x.status) == key)
        out += failure_item(d, r, count)
    out.append("")
    if d.a.memf_missing:
        out += ["memf was requested but `%s` does not exist, so it was not measured." % d.a.memf,
                ""]
    return out


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
- The order of the runs matters on this machine, a virtual machine whose kernel hands freed
  memory back to the host (`page_reporting.page_reporting_order=11` on its command line): a
  process right after one that freed much memory pays to have its pages backed again. Run
  directly on 7 December 2026, `huge 1` took 0.05 s under memf and under mimalloc 2.2.7 alone
  (0.00-0.01 s system time), and 0.16-0.22 s (0.12-0.17 s system) right after a jemalloc run;
  malloc-large 1.07-1.22 s under memf after itself and 1.48-2.41 s after jemalloc (mimalloc
  3.4.3: 1.21-1.30 and 2.00 s). Each round therefore runs the allocators in an order drawn
  afresh; until then a rotation kept memf right behind tcmalloc and jemalloc in every round.
  What pays is a fresh transparent huge page, made of a free block the host may have
  discarded; 4 KiB faults cost the same either way. Since git 3c6bc66 memf's default
  (`MEMF_HUGE_PAGES=auto`) gives huge blocks 4 KiB pages on a machine that reports free memory,
  so memf's `huge` and `malloc-large` runs no longer depend on what ran before them
  ([design](design.md#large-blocks)); mimalloc 2.2.7 and 3.4.3 advise huge pages and still do.
  Since git 6a6436d the pools take huge pages 2 MiB at a time once they pass 8 MiB, each region
  timed, and go back to 4 KiB pages for 10 s after a slow one: `fragmentation`, `sqlite` and
  `python` gain where the memory is warm and lose about one slow region (some 5 ms) where it is
  not ([design](design.md#huge-page-regions)).
"""


def notes_section(d):
    return [ELSEWHERE]


SECTIONS = [intro_section, headline_section, others_section, machine_section, workloads_section, time_section,
            peer_ratio_section, glibc_geomean_section, cpu_section, rss_section,
            final_rss_section, mbench_section, instructions_section, leak_section,
            targets_section, pools_section, charts_section, spread_section, failures_section,
            notes_section]
# The sections about memf's own workloads, left out when only the suite ran.
WORKLOAD_SECTIONS = {workloads_section, time_section, peer_ratio_section, glibc_geomean_section,
                     cpu_section, rss_section, charts_section, spread_section, notes_section}


def write_report(bench, workloads, configs, instr, leak_workloads, leak_configs,
                 started, finished, load_before, load_after, mbench=None):
    d = ReportData(bench, workloads, configs, instr, leak_workloads, leak_configs,
                   started, finished, load_before, load_after, mbench)
    lines = []
    for section in SECTIONS:
        if d.names or section not in WORKLOAD_SECTIONS:
            lines += section(d)
    return "\n".join(lines)
