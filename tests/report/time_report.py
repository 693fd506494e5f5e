#!/usr/bin/env python3
"""Times memf-report's commands on a large generated profile (make_profile.py big: 5000 sites,
about 30000 frames, 4000 timeline points), each command once, and prints a Markdown table.
With --limit, exits 1 when a command fails or takes longer than that many seconds.

    time_report.py --report tools/memf-report [--limit SECONDS] [--sites N] [--frames N] [--points N]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
COMMANDS = [(["top"], None), (["peak"], None), (["show"], None), (["folded"], None),
            (["flame", "-o", "big.flame.svg"], "big.flame.svg"), (["timeline", "-o", "big.timeline.html"], "big.timeline.html"),
            (["timeline", "-o", "big.timeline.svg"], "big.timeline.svg"), (["pprof", "-o", "big.pb.gz"], "big.pb.gz"),
            (["diff"], None)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--report", required=True)
    ap.add_argument("--limit", type=float, help="fail above this many seconds for a command")
    ap.add_argument("--sites", type=int, default=5000)
    ap.add_argument("--frames", type=int, default=30000)
    ap.add_argument("--points", type=int, default=4000)
    ap.add_argument("--python", default=sys.executable)
    a = ap.parse_args()
    report = os.path.abspath(a.report)
    bad = []
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "big.json")
        subprocess.run([a.python, os.path.join(HERE, "make_profile.py"), "big", path, "--sites", str(a.sites),
                        "--frames", str(a.frames), "--points", str(a.points)], check=True)
        with open(path) as f:
            profile = json.load(f)
        depth = sum(len(s["stack"]) for s in profile["sites"]) / len(profile["sites"])
        print(f"A generated profile (tests/report/make_profile.py big) of {len(profile['sites'])} sites, "
              f"{len(profile['frames'])} frames (stacks of {depth:.0f} frames on average, sharing their callers), "
              f"{len(profile['timeline']['points'])} timeline points: {os.path.getsize(path) / 1e6:.1f} MB of JSON. "
              f"Each command once, wall time, Python {sys.version.split()[0]}:\n")
        print("| command | seconds | output |\n|---|---|---|")
        for args, out in COMMANDS:
            command = args + ([path, path] if args == ["diff"] else [path])
            start = time.perf_counter()
            r = subprocess.run([a.python, report] + command, cwd=tmp, capture_output=True)
            seconds = time.perf_counter() - start
            if r.returncode != 0:
                result = "FAILED: " + r.stderr.decode(errors="replace").strip()[-300:]
                bad.append(" ".join(args))
            elif out:
                result = f"{os.path.getsize(os.path.join(tmp, out)) / 1e6:.1f} MB"
            else:
                result = f"{len(r.stdout.splitlines())} lines"
            if a.limit is not None and seconds > a.limit:
                bad.append(f"{' '.join(args)} ({seconds:.1f} s)")
            shown = " ".join(a for a in args if not a.startswith("big.") and a != "-o")
            suffix = " -o " + out.split(".", 1)[1] if out and args[0] == "timeline" else ""
            print(f"| `memf-report {shown}{suffix}` | {seconds:.2f} | {result} |")
    if bad:
        print(f"\nover {a.limit} s or failed: {', '.join(bad)}")
        sys.exit(1)


if __name__ == "__main__":
    main()
