#!/usr/bin/env python3
"""Runs the leak programs under memf and checks the reports against what each program leaks by
construction; compares with LeakSanitizer when its runtime is installed.

  check_leaks.py --lib libmemf.so --bindir DIR --report-tool memf-report [--lsan liblsan.so.0]
                 [--memf-run memf-run] CASE

CASE is a program (plain, new_array, realloc, thread, owner, global, interior, cycle, clean,
report_write, closes_stderr, live_thread) or
one of: exitcode, suppressions, memf-report, report_write, stacks-sampled, unwind-precise.
"""
import argparse
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

# Per program: exact (bytes, count) of each kind from the program's own allocations; the
# function named by frame #0 of every group of a kind; what LeakSanitizer reports (direct and
# indirect), which differs from memf's definite/indirect only for a lost cycle.
# Reachable is split: blocks whose stack passes through the program ("own"), blocks the dynamic
# linker allocated (a thread's dtv: "loader"), and blocks allocated before memf recorded stacks
# (the C++ runtime's emergency pool: the same in every program, measured with `clean`).
CASES = {
    "plain": dict(definite=(123, 1), functions={"definite": "leak_plain"}),
    "new_array": dict(definite=(204, 2), functions={"definite": "leak_new_array"}),
    "realloc": dict(definite=(20000, 1), functions={"definite": "leak_realloc"}),
    "thread": dict(definite=(77, 1), functions={"definite": "leak_in_thread"}, loader=2),
    "owner": dict(definite=(16, 1), indirect=(200, 1),
                  functions={"definite": "lose_owner", "indirect": "make_buffer"},
                  stdout="owner: lost its struct\n"),
    "global": dict(own_reachable=(300, 1), functions={"reachable": "keep_in_global"}),
    "interior": dict(possible=(400, 1), functions={"possible": "keep_interior"}),
    "cycle": dict(definite=(48, 1), indirect=(48, 1), functions={"definite": "lose_cycle", "indirect": "lose_cycle"},
                  lsan_direct=(0, 0), lsan_indirect=(96, 2)),
    "clean": dict(loader=1),
    "closes_stderr": dict(definite=(31, 1), functions={"definite": "leak_then_close"}),
    "live_thread": dict(own_reachable=(253, 3), functions={"reachable": ("park", "main")}, loader=1),
    "callback": dict(definite=(88, 1), functions={"definite": "leak_in_compare"}),
    "sampled": dict(definite=(300 * 64 + 3 * (4 << 20), 303), functions={"definite": ("leak_small", "leak_big")}),
}

EXIT_CODE = 42


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


class Runner:
    def __init__(self, args, tmp):
        self.lib = os.path.abspath(args.lib)
        self.bindir = args.bindir
        self.tool = args.report_tool
        self.lsan = args.lsan if args.lsan and os.path.exists(args.lsan) else None
        self.memf_run = args.memf_run
        self.tmp = tmp
        self.runs = 0

    def program(self, name):
        if name.startswith("corpus-"):  # a program of the differential corpus
            return os.path.join(self.bindir, name)
        return os.path.join(self.bindir, "leak-" + name.replace("_", "-"))

    def run_memf(self, name, argv=(), **env):
        """Runs a program under memf; returns (exit status, stdout, stderr, report)."""
        self.runs += 1
        report_pattern = os.path.join(self.tmp, f"{name}.{self.runs}.%p.json")
        environment = dict(os.environ)
        for key in list(environment):
            if key.startswith("MEMF_") or key in ("LD_PRELOAD", "LSAN_OPTIONS", "ASAN_OPTIONS"):
                del environment[key]
        environment.update(LD_PRELOAD=self.lib, MEMF_LEAK_CHECK="1", MEMF_STACKS="all",
                           MEMF_REPORT=report_pattern, MEMF_LEAK_EXITCODE=str(EXIT_CODE))
        for key, value in env.items():
            if value is None:
                environment.pop(key, None)
            else:
                environment[key] = value
        proc = subprocess.Popen([self.program(name), *argv], env=environment, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        out, err = proc.communicate(timeout=120)
        path = report_pattern.replace("%p", str(proc.pid))
        report = None
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                report = json.load(f)
        return proc.returncode, out, err, report, path

    def run_lsan(self, name):
        environment = dict(os.environ)
        for key in list(environment):
            if key.startswith("MEMF_"):
                del environment[key]
        environment.update(LD_PRELOAD=self.lsan, LSAN_OPTIONS="exitcode=0:report_objects=1:detect_leaks=1")
        proc = subprocess.run([self.program(name)], env=environment, capture_output=True, text=True, timeout=120)
        check(proc.returncode == 0, f"{name} under LeakSanitizer exited with {proc.returncode}:\n{proc.stderr}")
        direct = [0, 0]
        indirect = [0, 0]
        for m in re.finditer(r"^(Direct|Indirect) leak of (\d+) byte\(s\) in (\d+) object\(s\)", proc.stderr, re.M):
            t = direct if m.group(1) == "Direct" else indirect
            t[0] += int(m.group(2))
            t[1] += int(m.group(3))
        summary = re.search(r"SUMMARY: LeakSanitizer: (\d+) byte\(s\) leaked in (\d+) allocation\(s\)", proc.stderr)
        total = (int(summary.group(1)), int(summary.group(2))) if summary else (0, 0)
        check(total == (direct[0] + indirect[0], direct[1] + indirect[1]),
              f"LeakSanitizer's summary {total} does not add up: {proc.stderr}")
        return tuple(direct), tuple(indirect)


def module_is(frame, program):
    return os.path.realpath(frame.get("module", "")) == os.path.realpath(program)


def split_reachable(report, program):
    """(own, loader, stackless) reachable (bytes, count); fails on any other reachable block."""
    own, loader, stackless = [0, 0], [0, 0], [0, 0]
    for leak in report["leaks"]:
        if leak["kind"] != "reachable":
            continue
        stack = leak["stack"]
        if any(module_is(f, program) for f in stack):
            t = own
        elif stack and "ld-linux" in os.path.basename(stack[0]["module"]):
            t = loader
        elif not stack:
            t = stackless
        else:
            raise Failure(f"reachable block from an unexpected place: {json.dumps(leak)}")
        t[0] += leak["bytes"]
        t[1] += leak["count"]
    return tuple(own), tuple(loader), tuple(stackless)


def names(demangled, function):
    """A frame's function is `function` (C++ names come with their parameter list)."""
    return demangled == function or demangled.startswith(function + "(")


def totals(report, kind):
    t = report["leak_totals"][kind]
    return t["bytes"], t["count"]


def check_text(err, report, show_possible=False):
    """The text report on stderr says what the JSON says; nothing at all when nothing leaked."""
    d, i, p, r = (totals(report, k) for k in ("definite", "indirect", "possible", "reachable"))
    s = report["suppressed"]["bytes"], report["suppressed"]["count"]
    process = f"{os.path.basename(report['exe'])} (pid {report['pid']})"
    if d[1] + i[1] == 0 and not (show_possible and p[1]):
        check("memf:" not in err, f"a report without leaks to show wrote to stderr:\n{err}")
        return
    heading = "detected memory leaks in" if d[1] + i[1] else "no leaks in"
    check(f"\nmemf: {heading} {process}" in err, f"report heading with program and pid missing:\n{err}")
    summary = (f"memf: SUMMARY: {process}: {d[0] + i[0]} bytes leaked in {d[1] + i[1]} allocations "
               f"(definite {d[0]} in {d[1]}, indirect {i[0]} in {i[1]}); not counted: possibly lost {p[0]} in {p[1]}, "
               f"still reachable {r[0]} in {r[1]}, suppressed {s[0]} in {s[1]}")
    check(summary in err, f"summary line missing; expected\n  {summary}\nin stderr:\n{err}")
    headings = {"definite": "Direct leak", "indirect": "Indirect leak", "possible": "Possibly lost"}
    for leak in report["leaks"]:
        if leak["kind"] == "reachable" or leak["suppressed"] or (leak["kind"] == "possible" and not show_possible):
            continue
        if leak["kind"] == "possible":
            heading = (f"Possibly lost {leak['bytes']} byte(s) in {leak['count']} object(s), reached only through "
                       "interior pointers, allocated from:")
        else:
            heading = f"{headings[leak['kind']]} of {leak['bytes']} byte(s) in {leak['count']} object(s) allocated from:"
        check(heading in err, f"missing in the text report: {heading}\n{err}")
        top = leak["stack"][0]
        frame = re.compile(r"^    #0 0x[0-9a-f]+ in " + re.escape(top["function"]) + r" \S+:" + str(top["line"]) +
                           r" \(" + re.escape(os.path.basename(top["module"])) + r"\+0x[0-9a-f]+\)$", re.M)
        check(frame.search(err), f"frame #0 of '{heading}' ({top['function']}) not shown as expected:\n{err}")
    check("Still reachable" not in err, "still-reachable groups are listed in the text report")
    if not show_possible:
        check("Possibly lost " not in err, "possibly lost groups listed without MEMF_SHOW_POSSIBLE")


def check_program(runner, name):
    spec = CASES[name]
    status, out, err, report, path = runner.run_memf(name)
    check(report is not None, f"{name}: no JSON report at {path}; stderr:\n{err}")
    check(report["memf_report"] == 1 and report["pid"] > 0 and report["exe"].endswith(os.path.basename(runner.program(name))),
          f"{name}: report header wrong: pid {report['pid']}, exe {report['exe']}")
    for field in ("current_bytes", "peak_bytes", "total_allocated_bytes", "total_freed_bytes", "allocations", "frees"):
        check(isinstance(report["stats"].get(field), int), f"{name}: stats.{field} missing")
    check(report["stats"]["peak_bytes"] >= report["stats"]["current_bytes"], f"{name}: peak below current")
    check(any(c["name"] == "Unknown" for c in report["categories"]), f"{name}: no Unknown category")

    for kind in ("definite", "indirect", "possible"):
        expected = spec.get(kind, (0, 0))
        check(totals(report, kind) == expected, f"{name}: {kind} is {totals(report, kind)}, expected {expected}")
    program = runner.program(name)
    own, loader, stackless = split_reachable(report, program)
    check(own == spec.get("own_reachable", (0, 0)), f"{name}: own reachable {own}, expected {spec.get('own_reachable', (0, 0))}")
    check(loader[1] == spec.get("loader", 0), f"{name}: {loader[1]} reachable blocks from the dynamic linker, expected {spec.get('loader', 0)}")
    check(totals(report, "reachable") == (own[0] + loader[0] + stackless[0], own[1] + loader[1] + stackless[1]),
          f"{name}: reachable total does not add up")
    if name != "clean":
        _, _, _, baseline, _ = runner.run_memf("clean")
        check(split_reachable(baseline, runner.program("clean"))[2] == stackless,
              f"{name}: stackless reachable {stackless} differs from the leak-free program's")

    for leak in report["leaks"]:
        kind = leak["kind"]
        if kind == "reachable" and not any(module_is(f, program) for f in leak["stack"]):
            continue
        function = spec["functions"].get(kind)
        check(function is not None, f"{name}: unexpected {kind} group {json.dumps(leak)}")
        check(leak["stack"] and any(names(leak["stack"][0]["function"], f) for f in
                                    (function if isinstance(function, tuple) else (function,))),
              f"{name}: {kind} group's frame #0 is {leak['stack'][0]['function'] if leak['stack'] else 'missing'}, expected {function}")
        check(leak["stack"][0]["line"] > 0 and leak["stack"][0]["file"].endswith(".c" if not name.endswith("array") else ".cpp"),
              f"{name}: no file:line for {function}")

    fails = spec.get("definite", (0, 0))[1] + spec.get("indirect", (0, 0))[1] > 0
    check(status == (EXIT_CODE if fails else 0), f"{name}: exit status {status}, expected {EXIT_CODE if fails else 0}")
    if "stdout" in spec:
        check(out == spec["stdout"], f"{name}: stdout {out!r}, expected {spec['stdout']!r}")
    check_text(err, report)
    if totals(report, "possible")[1]:
        _, _, err_possible, report_possible, _ = runner.run_memf(name, MEMF_SHOW_POSSIBLE="1")
        check_text(err_possible, report_possible, show_possible=True)

    # The kinds do not depend on allocation stacks (the dynamic linker's dtv blocks are known by
    # their shape without them).
    _, _, err_off, report_off, _ = runner.run_memf(name, MEMF_STACKS="off")
    check(report_off["leak_totals"] == report["leak_totals"],
          f"{name}: with MEMF_STACKS=off the totals are {report_off['leak_totals']}, with stacks {report['leak_totals']}")
    check(all(not l["stack"] for l in report_off["leaks"]), f"{name}: stacks reported with MEMF_STACKS=off")
    if fails:
        check("(allocation stacks are off; MEMF_STACKS=all records them)" in err_off, f"{name}: no hint about MEMF_STACKS:\n{err_off}")

    message = f"{name}: memf definite {totals(report, 'definite')}, indirect {totals(report, 'indirect')}, " \
              f"possible {totals(report, 'possible')}, reachable {totals(report, 'reachable')}"
    if runner.lsan:
        direct, indirect = runner.run_lsan(name)
        want_direct = spec.get("lsan_direct", spec.get("definite", (0, 0)))
        want_indirect = spec.get("lsan_indirect", spec.get("indirect", (0, 0)))
        check(direct == want_direct and indirect == want_indirect,
              f"{name}: LeakSanitizer direct {direct} indirect {indirect}, expected {want_direct} / {want_indirect}")
        d, i = totals(report, "definite"), totals(report, "indirect")
        check((d[0] + i[0], d[1] + i[1]) == (direct[0] + indirect[0], direct[1] + indirect[1]),
              f"{name}: memf loses {d[0] + i[0]} bytes, LeakSanitizer {direct[0] + indirect[0]}")
        message += f"; LeakSanitizer direct {direct}, indirect {indirect}"
    else:
        message += "; LeakSanitizer not installed, not compared"
    print(message)


def check_own_api(runner):
    """memf's APIs (MemoryTracker, the C stats, a MemoryPool) used by the program: the one block it
    leaks is all that is reported; memf's own memory is in no group and no figure; a block only a
    pool object points to is reachable."""
    status, out, err, report, _ = runner.run_memf("own_api")
    check(report is not None and out == "own_api: 1 1 1\n", f"own_api: stdout {out!r}, stderr:\n{err}")
    check(totals(report, "definite") == (45, 1) and totals(report, "indirect") == (0, 0)
          and totals(report, "possible") == (0, 0),
          f"own_api: definite {totals(report, 'definite')}, indirect {totals(report, 'indirect')}, "
          f"possible {totals(report, 'possible')}: expected only the program's 45-byte block")
    lost = [l for l in report["leaks"] if l["kind"] == "definite"]
    check(names(lost[0]["stack"][0]["function"], "leak_own_block"), f"own_api: the leak's frame #0: {lost[0]['stack'][:1]}")
    pooled = [l for l in report["leaks"] if l["kind"] == "reachable" and l["bytes"] == 100 and l["stack"]
              and names(l["stack"][0]["function"], "keep_in_pool_object")]
    check(len(pooled) == 1, f"own_api: the block held by a pool object is not reachable: {json.dumps(report['leaks'])[:2000]}")
    check(all(c["name"] != "memf.internal" for c in report["categories"]), "own_api: memf's category is listed")
    check(status == EXIT_CODE, f"own_api: exit status {status}")
    check_text(err, report)
    print("own api: MemoryTracker, memf_get_stats and a MemoryPool used; only the program's 45-byte block leaked, "
          "the block a pool object holds is reachable")


def check_unloaded_library(runner):
    """A library that leaked and was then dlclose'd (really unmapped): its frames keep the
    library's path, function names and lines."""
    for name in ("corpus-dlopen-closed", "corpus-dlopen-kept"):
        status, _, err, report, _ = runner.run_memf(name)
        check(report is not None, f"{name}: no report:\n{err}")
        lost = [l for l in report["leaks"] if l["kind"] == "definite"]
        check(len(lost) == 1 and (lost[0]["bytes"], lost[0]["count"]) == (180, 3), f"{name}: {json.dumps(lost)[:1500]}")
        stack = lost[0]["stack"]
        check(len(stack) >= 3, f"{name}: stack {stack}")
        for frame, function in zip(stack, ("plugin_make", "plugin_leak")):
            check(frame["function"] == function and frame["module"].endswith("/libcorpus_plugin.so")
                  and frame["file"] and frame["file"].endswith("plugin.c") and frame["line"] > 0,
                  f"{name}: frame {frame}, expected {function} in libcorpus_plugin.so with plugin.c:line")
        check("in plugin_make " in err and "(libcorpus_plugin.so+0x" in err, f"{name}: text report:\n{err}")
    print("unloaded library: frames of a dlclose'd plugin name it, its functions and lines, as for one still loaded")


def check_exitcode(runner):
    status, _, _, report, _ = runner.run_memf("plain", MEMF_LEAK_EXITCODE=None)
    check(report is not None and status == 0, f"default MEMF_LEAK_EXITCODE: status {status}, expected the program's 0")
    status, _, _, _, _ = runner.run_memf("plain", MEMF_LEAK_EXITCODE="0")
    check(status == 0, f"MEMF_LEAK_EXITCODE=0: status {status}, expected 0")
    status, _, _, _, _ = runner.run_memf("plain", MEMF_LEAK_EXITCODE="255")
    check(status == 255, f"MEMF_LEAK_EXITCODE=255: status {status}")
    status, _, _, _, _ = runner.run_memf("interior", MEMF_LEAK_EXITCODE="9")
    check(status == 0, f"possible leaks only: status {status}, expected 0")
    status, _, _, _, _ = runner.run_memf("global", MEMF_LEAK_EXITCODE="9")
    check(status == 0, f"reachable blocks only: status {status}, expected 0")
    status, _, err, report, _ = runner.run_memf("plain", MEMF_LEAK_CHECK="0", MEMF_LEAK_EXITCODE="9")
    check(status == 0 and report is None and "SUMMARY" not in err, "MEMF_LEAK_CHECK=0 still checked for leaks")
    # MEMF_REPORT naming a symbolic link: not followed, the file it points to untouched.
    victim = os.path.join(runner.tmp, "victim")
    with open(victim, "w") as f:
        f.write("precious\n")
    link = os.path.join(runner.tmp, "planted.json")
    os.symlink(victim, link)
    status, _, err, _, _ = runner.run_memf("plain", MEMF_REPORT=link, MEMF_LEAK_EXITCODE="0")
    with open(victim) as f:
        check(f.read() == "precious\n", "MEMF_REPORT followed a symbolic link and overwrote its target")
    check(f"cannot write MEMF_REPORT {link}: it is a symbolic link, not followed" in err and status == 0,
          f"MEMF_REPORT through a symbolic link: status {status}, stderr:\n{err}")
    message = "exit codes: the program's own by default, N with MEMF_LEAK_EXITCODE=N for definite/indirect leaks only"
    if runner.memf_run:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MEMF_") and k != "LD_PRELOAD"}
        env["MEMF_LIB"] = runner.lib
        report_path = os.path.join(runner.tmp, "memf-run.json")
        proc = subprocess.run([runner.memf_run, "--leak-exitcode", "7", "--report", report_path, "--",
                               runner.program("owner")], env=env, capture_output=True, text=True, timeout=120)
        check(proc.returncode == 7, f"memf-run --leak-exitcode 7: status {proc.returncode}:\n{proc.stderr}")
        with open(report_path, encoding="utf-8") as f:
            report = json.load(f)
        check(totals(report, "definite") == (16, 1) and totals(report, "indirect") == (200, 1), "memf-run's report")
        check("Direct leak of 16 byte(s)" in proc.stderr, "memf-run: no text report")
        message += "; memf-run --leak-exitcode 7 gives 7"
    print(message)


def check_suppressions(runner):
    def with_file(text):
        path = os.path.join(runner.tmp, f"supp.{runner.runs}")
        with open(path, "w") as f:
            f.write(text)
        return runner.run_memf("owner", MEMF_SUPPRESSIONS=path)

    # The owned buffer's group alone: the definite struct remains and still fails the run.
    status, _, err, report, _ = with_file("# the buffer only\nleak:make_buffer\n")
    check(totals(report, "definite") == (16, 1) and totals(report, "indirect") == (0, 0),
          f"leak:make_buffer: definite {totals(report, 'definite')} indirect {totals(report, 'indirect')}")
    check(report["suppressed"] == {"bytes": 200, "count": 1}, f"leak:make_buffer: suppressed {report['suppressed']}")
    check([l["suppressed"] for l in report["leaks"] if l["kind"] == "indirect"] == ["make_buffer"], "group not marked")
    check(status == EXIT_CODE, f"leak:make_buffer: status {status}")
    check("Indirect leak" not in err and re.search(r"^\s+1\s+200 make_buffer$", err, re.M), f"text: {err}")
    check_text(err, report)
    # A function on both stacks: both groups, and the run no longer fails.
    status, _, err, report, _ = with_file("leak:lose_owner\n")
    check(totals(report, "definite") == (0, 0) and totals(report, "indirect") == (0, 0), "leak:lose_owner left leaks")
    check(report["suppressed"] == {"bytes": 216, "count": 2} and status == 0, f"leak:lose_owner: {report['suppressed']}, status {status}")
    check_text(err, report)
    # A module pattern (the executable's name, anchored at the end) and a glob.
    status, _, _, report, _ = with_file("leak:leak-owner$\n")
    check(report["suppressed"] == {"bytes": 216, "count": 2} and status == 0, "module pattern did not suppress")
    status, _, _, report, _ = with_file("leak:^lose_*er$\n")
    check(report["suppressed"] == {"bytes": 216, "count": 2}, "glob did not suppress")
    status, _, _, report, _ = with_file("leak:no_such_function\n")
    check(report["suppressed"] == {"bytes": 0, "count": 0} and status == EXIT_CODE, "a non-matching pattern suppressed")
    # A device or a FIFO: a warning, no suppression, and no hang at exit.
    fifo = os.path.join(runner.tmp, "supp.fifo")
    os.mkfifo(fifo)
    for special in ("/dev/zero", fifo):
        status, _, err, report, _ = runner.run_memf("owner", MEMF_SUPPRESSIONS=special)
        check(f"cannot read MEMF_SUPPRESSIONS file {special}: not a regular file" in err and status == EXIT_CODE
              and report["suppressed"] == {"bytes": 0, "count": 0}, f"MEMF_SUPPRESSIONS={special}: {err}")
    # An unreadable file: a warning, no suppression.
    status, _, err, report, _ = runner.run_memf("owner", MEMF_SUPPRESSIONS="/nonexistent/memf.supp")
    check("cannot read MEMF_SUPPRESSIONS" in err and status == EXIT_CODE, f"missing file: {err}")
    print("suppressions: by function, by module, glob; suppressed totals in text and JSON; exit code follows; "
          "/dev/zero and a FIFO refused at once")


def check_stacks_sampled(runner):
    """MEMF_STACKS=sampled: exact totals; the 4 MiB blocks have stacks, nearly all 64-byte ones not."""
    expected = CASES["sampled"]["definite"]

    def by_function(report):
        groups = {}
        for leak in report["leaks"]:
            if leak["kind"] != "definite":
                continue
            top = leak["stack"][0]["function"] if leak["stack"] else None
            bytes_, count = groups.get(top, (0, 0))
            groups[top] = (bytes_ + leak["bytes"], count + leak["count"])
        return groups

    status, _, err, report, _ = runner.run_memf("sampled", MEMF_STACKS="sampled")
    check(report is not None and status == EXIT_CODE, f"sampled: status {status}, report {report is not None}")
    check(totals(report, "definite") == expected, f"sampled: definite {totals(report, 'definite')}, expected {expected}")
    check(report["leak_check"]["stacks"] == "sampled", f"sampled: report says stacks {report['leak_check']['stacks']}")
    groups = by_function(report)
    check(groups.get("leak_big") == (3 * (4 << 20), 3), f"sampled: the 4 MiB blocks' stacks: {groups}")
    stackless = groups.get(None, (0, 0))
    check(stackless[1] >= 290 and stackless[0] == stackless[1] * 64,
          f"sampled: {stackless[1]} of the 300 small blocks without a stack, expected at least 290 ({groups})")
    check(groups.get("leak_small", (0, 0))[1] + stackless[1] == 300, f"sampled: small blocks lost track of: {groups}")
    check("(allocation stack not recorded)" in err, f"sampled: the text report does not say a stack is missing:\n{err}")
    # A mean of 1 byte samples every allocation: as MEMF_STACKS=all.
    _, _, _, every, _ = runner.run_memf("sampled", MEMF_STACKS="sampled", MEMF_STACK_SAMPLE="1")
    groups_every = by_function(every)
    check(groups_every == {"leak_small": (300 * 64, 300), "leak_big": (3 * (4 << 20), 3)},
          f"MEMF_STACK_SAMPLE=1: {groups_every}")
    # A bad value warns and keeps the default.
    _, _, err_bad, bad, _ = runner.run_memf("sampled", MEMF_STACKS="sampled", MEMF_STACK_SAMPLE="lots")
    check("MEMF_STACK_SAMPLE=lots is not a size" in err_bad and totals(bad, "definite") == expected,
          f"MEMF_STACK_SAMPLE=lots: {err_bad}")
    print(f"stacks sampled: totals exact {expected}; 4 MiB blocks all with stacks; "
          f"{stackless[1]} of 300 64-byte blocks without; MEMF_STACK_SAMPLE=1 records every stack")


def check_unwind_precise(runner):
    """MEMF_UNWIND=precise: the stack of a block lost in a qsort callback reaches main through
    libc's frames; the frame-pointer walk does not get past them."""
    def stack_of(report):
        groups = [l for l in report["leaks"] if l["kind"] == "definite"]
        check(len(groups) == 1 and (groups[0]["bytes"], groups[0]["count"]) == (88, 1), f"callback: {groups}")
        return [f["function"] for f in groups[0]["stack"]]

    _, _, _, fp, _ = runner.run_memf("callback")
    _, _, err, precise, _ = runner.run_memf("callback", MEMF_UNWIND="precise")
    fp_stack, precise_stack = stack_of(fp), stack_of(precise)
    check(fp_stack and names(fp_stack[0], "leak_in_compare"), f"frame-pointer stack: {fp_stack}")
    check(precise_stack and names(precise_stack[0], "leak_in_compare"), f"precise stack: {precise_stack}")
    check("qsort" in " ".join(precise_stack) or "msort" in " ".join(precise_stack),
          f"precise stack does not go through qsort: {precise_stack}")
    check("sort_numbers" in precise_stack and "main" in precise_stack, f"precise stack misses its callers: {precise_stack}")
    check("main" not in fp_stack, f"the frame-pointer walk got through libc after all: {fp_stack}")
    check("in sort_numbers" in err and "in main" in err, f"text report lacks the precise frames:\n{err}")
    _, _, err_bad, _, _ = runner.run_memf("callback", MEMF_UNWIND="dwarf")
    check("MEMF_UNWIND=dwarf is not fp or precise" in err_bad, f"MEMF_UNWIND=dwarf: {err_bad}")
    print(f"unwind precise: {' <- '.join(precise_stack[:6])}; frame pointers: {' <- '.join(fp_stack[:6])}")


def check_memf_report(runner):
    _, _, _, one, one_path = runner.run_memf("plain", ["1"])
    _, _, _, three, three_path = runner.run_memf("plain", ["3"])
    _, _, _, owner, owner_path = runner.run_memf("owner")
    check(totals(three, "definite") == (369, 3), f"plain 3: {totals(three, 'definite')}")

    def tool(*argv):
        proc = subprocess.run([sys.executable, runner.tool, *argv], capture_output=True, text=True, timeout=60)
        return proc.returncode, proc.stdout, proc.stderr

    status, out, _ = tool("-n", "1", owner_path)
    check(status == 0, f"memf-report failed: {out}")
    leaks = out.split("top 1 leaks")[1].split("\n\n")[0]
    check(re.search(r"^\s+200\s+1\s+indirect\s+make_buffer \(owner.c:\d+\) <- lose_owner", leaks, re.M), f"top leak:\n{out}")
    check(len(re.findall(r"^\s+\d+\s+\d+\s+(definite|indirect)", leaks, re.M)) == 1, f"-n 1 showed more than one leak:\n{out}")
    check("definite 16 B in 1, indirect 200 B in 1" in out, f"totals:\n{out}")
    check(re.search(r"top 1 categories.*\n.*\n\s+\d+\s+\d+\s+\d+\s+Unknown", out), f"categories:\n{out}")
    # Possibly lost blocks are not leaks: a section of their own, not in the leaks or the leaked total.
    _, _, _, _, interior_path = runner.run_memf("interior")
    status, out, _ = tool("-n", "3", interior_path)
    check(status == 0 and "leaked: 0 B in 0 (definite 0 B in 0, indirect 0 B in 0); not leaked: possibly lost 400 B in 1" in out,
          f"interior's totals:\n{out}")
    check(re.search(r"top 3 leaks \(of 0 groups\):\n  none", out), f"interior's possibly lost block listed as a leak:\n{out}")
    check(re.search(r"possibly lost groups.*\n.*\n\s+400\s+1\s+keep_interior", out), f"interior's possibly lost group:\n{out}")
    status, out, _ = tool("show", "--top", "5", three_path)
    check(status == 0 and re.search(r"^\s+369\s+3\s+definite\s+leak_plain \(plain.c:\d+\) <- main", out, re.M), out)
    check(re.search(r"allocation sites of live blocks.*\n.*\n(.*\n)*\s+369\s+3\s+leak_plain", out), out)

    status, out, _ = tool("diff", one_path, three_path)
    check(status == 0, f"diff failed: {out}")
    check("definite: 123 B in 1 -> 369 B in 3 (+246 B, +2)" in out, f"diff totals:\n{out}")
    check(re.search(r"leak groups that grew.*\n.*\n\s+\+246\s+\+2\s+definite\s+leak_plain", out), f"diff groups:\n{out}")
    status, out, _ = tool("diff", three_path, one_path)
    check(re.search(r"leak groups that grew \(top 10 of 0; 1 shrank", out), f"reverse diff:\n{out}")
    status, _, err = tool(os.path.join(runner.tmp, "missing.json"))
    check(status == 2 and "cannot read" in err, "a missing report is no error")
    bogus = os.path.join(runner.tmp, "bogus.json")
    with open(bogus, "w") as f:
        f.write('{"something": 1}')
    status, _, err = tool(bogus)
    check(status == 2 and "not a memf report" in err, "a foreign JSON file is no error")
    print("memf-report: top N leaks, sites and categories; diff shows +246 B in +2 objects at leak_plain")


def check_report_write(runner):
    """memf_report_write while the program runs: %p expanded, the blocks live at that moment."""
    mid_pattern = os.path.join(runner.tmp, "mid.%p.json")
    status, _, err, at_exit, _ = runner.run_memf("report_write", [mid_pattern])
    check(status == EXIT_CODE, f"report_write: status {status} (3: no memf_report_write, 4: it failed, "
                               f"5: no ENOENT for a bad path); stderr:\n{err}")
    found = glob.glob(os.path.join(runner.tmp, "mid.*.json"))
    check(len(found) == 1 and found[0] == mid_pattern.replace("%p", str(at_exit["pid"])), f"mid-run report: {found}")
    with open(found[0], encoding="utf-8") as f:
        mid = json.load(f)
    program = runner.program("report_write")
    check(totals(mid, "definite") == (55, 1), f"mid-run definite {totals(mid, 'definite')}")
    check(split_reachable(mid, program)[0] == (64, 1), f"mid-run own reachable {split_reachable(mid, program)[0]}")
    mid_functions = {l["kind"]: l["stack"][0]["function"] for l in mid["leaks"] if l["stack"] and module_is(l["stack"][0], program)}
    check(mid_functions == {"definite": "leak_midway", "reachable": "main"}, f"mid-run stacks: {mid_functions}")
    check(totals(at_exit, "definite") == (55, 1) and split_reachable(at_exit, program)[0] == (0, 0),
          f"at exit: definite {totals(at_exit, 'definite')}, own reachable {split_reachable(at_exit, program)[0]}")
    exit_functions = [l["stack"][0]["function"] for l in at_exit["leaks"] if l["kind"] == "definite"]
    check(exit_functions == ["leak_midway"],
          f"at exit, after a report made while running, the leak's frame #0 is {exit_functions}, not leak_midway: "
          f"the exit report had no symbolizer (lib/symbolizer.cpp's instance is a function-local static whose "
          f"destructor runs before the exit leak check; lib/leak_report.cpp then falls back to dladdr)")
    check_text(err, at_exit)
    print("memf_report_write: mid-run JSON (definite 55 B, reachable 64 B held by main), -1/ENOENT on a bad path")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lib", required=True)
    parser.add_argument("--bindir", required=True)
    parser.add_argument("--report-tool", required=True)
    parser.add_argument("--lsan")
    parser.add_argument("--memf-run")
    parser.add_argument("case")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="memf-leaks.") as tmp:
        runner = Runner(args, tmp)
        try:
            if args.case in CASES:
                check_program(runner, args.case)
            elif args.case == "unloaded-library":
                check_unloaded_library(runner)
            elif args.case == "own-api":
                check_own_api(runner)
            elif args.case == "exitcode":
                check_exitcode(runner)
            elif args.case == "suppressions":
                check_suppressions(runner)
            elif args.case == "memf-report":
                check_memf_report(runner)
            elif args.case == "report_write":
                check_report_write(runner)
            elif args.case == "stacks-sampled":
                check_stacks_sampled(runner)
            elif args.case == "unwind-precise":
                check_unwind_precise(runner)
            else:
                parser.error(f"unknown case {args.case}")
        except Failure as e:
            print(f"FAIL: {e}")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
