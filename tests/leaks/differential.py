#!/usr/bin/env python3
"""Runs each corpus program under memf, under LeakSanitizer and under Valgrind, and compares the
bytes and counts of definite (LeakSanitizer: direct) and indirect leaks. Nothing here is an
expectation written by hand: the two reference checkers are the oracle. A difference fails the
test unless known_differences.txt lists it (program, checker, reason); a listed difference that
no longer occurs fails too, so the list stays true (except one listed as lsan-stack: a stale
pointer in a dead frame, there on some machines and not on others). An unlisted difference from
LeakSanitizer passes only when Valgrind agrees with memf and LeakSanitizer does too once its stack
and register roots are off (a stale pointer in a dead frame, which varies between machines).

  differential.py --lib libmemf.so --bindir DIR --lsan liblsan.so.0 --known FILE
                  [--linked a,b] [--no-valgrind] PROGRAM...

Prints one row per program and the agreement figure. Exits 77 (skipped) when LeakSanitizer's
runtime or Valgrind is not installed.
"""
import argparse
import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

CHECKERS = ("lsan", "valgrind")
TIMEOUT = 120


def scrubbed_env():
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MEMF_", "LSAN_", "ASAN_")) and k != "LD_PRELOAD"}
    env["LC_ALL"] = "C"
    return env


def program_path(bindir, name):
    return os.path.join(bindir, "corpus-" + name.replace("_", "-"))


def run_memf(args, name, tmp):
    report = os.path.join(tmp, f"{name}.memf.json")
    env = scrubbed_env()
    env.update(LD_PRELOAD=args.lib, MEMF_LEAK_CHECK="1", MEMF_STACKS="all", MEMF_REPORT=report)
    proc = subprocess.run([program_path(args.bindir, name)], env=env, capture_output=True, text=True,
                          timeout=TIMEOUT)
    if not os.path.exists(report):
        raise RuntimeError(f"{name}: memf wrote no report (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    with open(report, encoding="utf-8") as f:
        totals = json.load(f)["leak_totals"]
    return {kind: (totals[kind]["bytes"], totals[kind]["count"]) for kind in ("definite", "indirect")}


def run_lsan(args, name, tmp, options=""):
    env = scrubbed_env()
    env.update(LD_PRELOAD=args.lsan, LSAN_OPTIONS="exitcode=0:detect_leaks=1" + options)
    proc = subprocess.run([program_path(args.bindir, name)], env=env, capture_output=True, text=True,
                          timeout=TIMEOUT)
    if "LeakSanitizer" in proc.stderr and "detected memory leaks" not in proc.stderr:
        raise RuntimeError(f"{name}: LeakSanitizer failed:\n{proc.stderr[-2000:]}")
    result = {"definite": [0, 0], "indirect": [0, 0]}
    for m in re.finditer(r"^(Direct|Indirect) leak of (\d+) byte\(s\) in (\d+) object\(s\)", proc.stderr, re.M):
        entry = result["definite" if m.group(1) == "Direct" else "indirect"]
        entry[0] += int(m.group(2))
        entry[1] += int(m.group(3))
    summary = re.search(r"SUMMARY: LeakSanitizer: (\d+) byte\(s\) leaked in (\d+) allocation\(s\)", proc.stderr)
    total = (int(summary.group(1)), int(summary.group(2))) if summary else (0, 0)
    added = tuple(result["definite"][i] + result["indirect"][i] for i in (0, 1))
    if total != added:
        raise RuntimeError(f"{name}: LeakSanitizer's summary {total} is not its groups' sum {added}")
    return {k: tuple(v) for k, v in result.items()}


def run_valgrind(args, name, tmp):
    log = os.path.join(tmp, f"{name}.valgrind.log")
    argv = ["valgrind", "--leak-check=full", "--show-leak-kinds=all", "--errors-for-leak-kinds=none",
            f"--log-file={log}"]
    if name in args.linked:
        argv.append("--soname-synonyms=somalloc=libmemf.so*")  # its malloc is memf's: replace it too
    subprocess.run(argv + [program_path(args.bindir, name)], env=scrubbed_env(), capture_output=True,
                   text=True, timeout=TIMEOUT * 3)
    with open(log, encoding="utf-8") as f:
        text = f.read()
    if "HEAP SUMMARY" not in text:
        raise RuntimeError(f"{name}: Valgrind did not finish:\n{text[-2000:]}")

    def figure(label):
        m = re.search(label + r": ([\d,]+) bytes in ([\d,]+) blocks", text)
        return (int(m.group(1).replace(",", "")), int(m.group(2).replace(",", ""))) if m else (0, 0)

    return {"definite": figure("definitely lost"), "indirect": figure("indirectly lost"),
            "possibly": figure("possibly lost")}


# Valgrind's "possibly lost" comes from an interior pointer, and a stale one (a value a libc
# routine or the exit path left in a register or a dead stack slot) is there in some runs and not
# in others: on corpus-huge, 1 run in 12 called one of the 5 MiB blocks possibly lost. When such
# a run disagrees with memf, Valgrind runs again, up to VALGRIND_RUNS times, and the first run
# without possibly lost blocks is its verdict (the report says it was re-run).
VALGRIND_RUNS = 3


def valgrind_verdict(args, name, tmp, memf):
    runs = 0
    while True:
        result = run_valgrind(args, name, tmp)
        runs += 1
        verdict = {k: result[k] for k in ("definite", "indirect")}
        if verdict == memf or result["possibly"] == (0, 0) or runs == VALGRIND_RUNS:
            verdict["runs"] = runs
            return verdict


# LeakSanitizer's exit-time check scans the threads' stacks from deep inside its own frames, so a
# stale copy of a pointer in a dead frame is a reference for it; whether the exit path overwrites
# that slot depends on the C library's build and the machine (aligned_leak: 3 blocks lost here,
# 2 on another machine). An unlisted difference from LeakSanitizer where Valgrind agrees with
# memf is therefore checked once more with LeakSanitizer's stack and register roots off: if it
# then agrees with memf exactly, the difference is that stale pointer and is reported, not failed.
# Without Valgrind's agreement nothing is excused (a live stack's reference must count).
LSAN_WITHOUT_STACKS = ":use_stacks=0:use_registers=0"


def measure(args, name, tmp):
    results = {"memf": run_memf(args, name, tmp), "lsan": run_lsan(args, name, tmp)}
    if args.valgrind:
        results["valgrind"] = valgrind_verdict(args, name, tmp, results["memf"])
        if (results["lsan"] != results["memf"] and (name, "lsan") not in args.known
                and {k: results["valgrind"][k] for k in ("definite", "indirect")} == results["memf"]):
            results["lsan_without_stacks"] = run_lsan(args, name, tmp, LSAN_WITHOUT_STACKS)
    return name, results


# A line's checker "lsan-stack": a difference from LeakSanitizer that a stale pointer in a dead
# stack frame makes, which the exit path overwrites on some machines and not on others (the C
# library's build, the environment's size): where LeakSanitizer agrees with memf, that is noted,
# not failed. Where it differs, it is listed, as any other.
STACK_DEPENDENT = "lsan-stack"


def load_known(path):
    """{(program, checker): reason}, and the programs listed as lsan-stack"""
    known = {}
    stack_dependent = set()
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split(None, 2)
            if len(parts) < 3 or parts[1] not in CHECKERS + (STACK_DEPENDENT,):
                raise SystemExit(f"{path}:{number}: expected 'program lsan|lsan-stack|valgrind reason', got {line!r}")
            if parts[1] == STACK_DEPENDENT:
                stack_dependent.add(parts[0])
                parts[1] = "lsan"
            known[(parts[0], parts[1])] = parts[2]
    return known, stack_dependent


def cell(result):
    d, i = result["definite"], result["indirect"]
    return f"{d[0]} B/{d[1]} + {i[0]} B/{i[1]}"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lib", required=True)
    parser.add_argument("--bindir", required=True)
    parser.add_argument("--lsan", required=True)
    parser.add_argument("--known", dest="known_path", required=True)
    parser.add_argument("--linked", default="", help="programs linked with memf (comma-separated)")
    parser.add_argument("--no-valgrind", dest="valgrind", action="store_false")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("programs", nargs="+")
    args = parser.parse_args()
    args.linked = set(filter(None, args.linked.split(",")))
    if not os.path.exists(args.lsan):
        print(f"SKIP: LeakSanitizer's runtime {args.lsan} is not installed (Debian: liblsan0)")
        return 77
    if args.valgrind and not shutil.which("valgrind"):
        print("SKIP: valgrind is not installed (Debian: valgrind)")
        return 77
    known, stack_dependent = load_known(args.known_path)
    args.known = known
    unknown_programs = {p for p, _ in known} - set(args.programs)
    checkers = CHECKERS if args.valgrind else ("lsan",)

    with tempfile.TemporaryDirectory(prefix="memf-differential.") as tmp:
        with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
            futures = [pool.submit(measure, args, name, tmp) for name in args.programs]
            results = dict(f.result() for f in futures)

    failures = []
    identical = agree_lsan = agree_valgrind = references_agree = 0
    stale_stack_notes = []
    print(f"{'program':26} {'memf definite + indirect':28} {'LeakSanitizer':28} {'Valgrind':28} verdict")
    for name in args.programs:
        r = results[name]
        valgrind_runs = r["valgrind"].pop("runs", 1) if args.valgrind else 1
        same = {c: r[c] == r["memf"] for c in checkers}
        agree_lsan += same["lsan"]
        agree_valgrind += same.get("valgrind", False)
        identical += all(same.values())
        if args.valgrind:
            references_agree += r["lsan"] == r["valgrind"]
        notes = []
        for c in checkers:
            listed = (name, c) in known
            rootless = r.get("lsan_without_stacks") if c == "lsan" else None
            if not same[c] and not listed and rootless == r["memf"]:
                notes.append("differs from lsan (stale pointer on a stack)")
                stale_stack_notes.append(
                    f"{name} vs lsan: LeakSanitizer {cell(r['lsan'])} on this machine, and "
                    f"{cell(rootless)} with use_stacks=0:use_registers=0, as memf and Valgrind: "
                    "a stale pointer on a stack kept the difference reachable")
            elif not same[c] and not listed:
                failures.append(f"{name}: memf {cell(r['memf'])}, {c} {cell(r[c])}")
                notes.append(f"DIFFERS from {c}")
            elif not same[c]:
                notes.append(f"differs from {c} (listed)")
            elif listed and c == "lsan" and name in stack_dependent:
                notes.append("listed for lsan (stale pointer on a stack), agrees on this machine")
            elif listed:
                failures.append(f"{name}: listed as differing from {c}, but both say {cell(r['memf'])}: "
                                f"remove the line from {os.path.basename(args.known_path)}")
                notes.append(f"listed for {c} but agrees")
        if valgrind_runs > 1:
            notes.append(f"Valgrind run {valgrind_runs} times (possibly lost blocks before)")
        print(f"{name:26} {cell(r['memf']):28} {cell(r['lsan']):28} "
              f"{cell(r['valgrind']) if args.valgrind else '-':28} {'; '.join(notes) or 'identical'}")
    total = len(args.programs)
    print(f"\nmemf identical to LeakSanitizer on {agree_lsan} of {total} programs", end="")
    if args.valgrind:
        print(f", to Valgrind on {agree_valgrind} of {total}, to both on {identical} of {total}; "
              f"LeakSanitizer and Valgrind agree with each other on {references_agree} of {total}")
    else:
        print(" (Valgrind not run)")
    for (program, checker), reason in sorted(known.items()):
        if program in results and results[program][checker] != results[program]["memf"]:
            print(f"listed: {program} vs {checker}: {reason}")
    for note in stale_stack_notes:
        print(f"not listed, checked: {note}")
    for program in sorted(unknown_programs):
        failures.append(f"{os.path.basename(args.known_path)} names {program}, which is not in the corpus")
    if failures:
        print("\nFAIL:\n  " + "\n  ".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
