#!/usr/bin/env python3
"""memf-report's views of a real heap profile (profile-program, exact mode), each read back by
the consumer people use: the text views against the JSON; the pprof file decoded with the
profile.proto definition (protoc + python3-protobuf) and read by the pprof tool itself, built
from Debian's source; the flame graph and the timeline opened in headless Chromium (a screenshot
that is not blank, frame names and controls in the DOM, the search run in the page)."""
import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "report"))
import consumers  # noqa: E402  (tests/report: pprof, protoc's classes, Chromium, PNG)

from checks import check, finish  # noqa: E402  (tests/report: one line per check, the exit status)


def report(*args, expect=0):
    r = subprocess.run([sys.executable, ARGS.report] + list(args), capture_output=True, text=True, cwd=TMP)
    if r.returncode != expect:
        print(f"  memf-report {' '.join(args)} -> {r.returncode}\n  {r.stderr[-500:]}")
    return r


def make_profile(mode, name):
    path = os.path.join(TMP, name)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMF_")}
    env.update({"LD_PRELOAD": ARGS.lib, "MEMF_PROFILE": mode, "MEMF_PROFILE_FILE": path})
    if mode == "sampled":
        env["MEMF_PROFILE_SAMPLE"] = "4096"
    subprocess.run([ARGS.program, "phases"], env=env, check=True, capture_output=True)
    return path, json.load(open(path))


def text_views(path, profile, sampled_path):
    key = {"alloc_space": "allocated_bytes", "alloc_objects": "allocations", "peak_space": "peak_bytes",
           "temporary": "temporary", "inuse_space": "live_bytes"}
    for measure, field in key.items():
        r = report("top", "-n", "3", "--by", measure, "--frames", "1", path)
        expected = sorted((s for s in profile["sites"] if s[field] > 0), key=lambda s: -s[field])[0]
        first_frame = profile["frames"][expected["stack"][0]]["function"] if expected["stack"] else "(no stack"
        rows = [l for l in r.stdout.split("sites by")[-1].splitlines() if l.strip()[:1].isdigit() and "%" in l]
        check(r.returncode == 0 and rows and first_frame in rows[0],
              f"top --by {measure}: first row is {first_frame}")
    r = report("peak", path)
    check("site_peak" in r.stdout and "site_after" not in r.stdout.split("at the peak")[1],
          "peak: site_peak listed, site_after (allocated after the peak) not")
    r = report("folded", "--by", "alloc_space", path)
    values = [int(line.rsplit(" ", 1)[1]) for line in r.stdout.splitlines()]
    check(sum(values) == sum(s["allocated_bytes"] for s in profile["sites"]), "folded: the values sum to the profile's total")
    check(any(line.startswith("") and ";main;site_peak " in line or line.startswith("main;site_peak ") or ";site_peak " in line
              for line in r.stdout.splitlines()), "folded: main's call of site_peak is a stack")
    check(all(";" in line or line.startswith("(no stack)") or line.count(" ") >= 1 for line in r.stdout.splitlines()),
          "folded: one stack and value per line")
    r = report("show", path)
    check("mode: exact" in r.stdout and "site_temporary" in r.stdout, "show: a profile's summary")
    r = report("diff", "--by", "alloc_objects", path, sampled_path)
    check(r.returncode == 0 and "sites that grew" in r.stdout and "sites that shrank" in r.stdout, "diff of two profiles")
    # Bad input: one line, exit 2.
    open(os.path.join(TMP, "notjson.json"), "w").write("hello")
    leak = os.path.join(TMP, "leak.json")
    json.dump({"memf_report": 1, "leaks": []}, open(leak, "w"))
    for args, message in ((["top", "missing.json"], "cannot read missing.json"),
                          (["top", "notjson.json"], "is not JSON"),
                          (["top", leak], "is a leak report, not a heap profile"),
                          (["diff", path, leak], "with a leak report"),
                          (["flame", "--by", "nothing", path], "unknown measure")):
        r = report(*args, expect=2)
        check(r.returncode == 2 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1,
              f"memf-report {args[0]} {args[-1]}: exit 2 with '{message}'")
    for command in ("top", "peak", "flame", "folded", "timeline", "pprof", "dump", "diff", "show"):
        r = report(command, "--help")
        check(r.returncode == 0 and ("usage: memf-report " + command in r.stdout or
                                     "usage: memf-report [" + command in r.stdout), f"{command} --help")


def pprof_views(path, profile):
    out = os.path.join(TMP, "p.pb.gz")
    r = report("pprof", "-o", out, path)
    check(r.returncode == 0 and os.path.exists(out), "pprof: file written")
    pb = consumers.profile_pb2(os.path.join(TMP, "proto")).Profile()
    pb.ParseFromString(gzip.open(out).read())
    strings = pb.string_table
    types = [(strings[t.type], strings[t.unit]) for t in pb.sample_type]
    check(types == [("alloc_objects", "count"), ("alloc_space", "bytes"), ("inuse_objects", "count"), ("inuse_space", "bytes")],
          f"pprof: sample types ({types})")
    for i, field in enumerate(("allocations", "allocated_bytes", "live", "live_bytes")):
        check(sum(s.value[i] for s in pb.sample) == sum(s[field] for s in profile["sites"]),
              f"pprof: {types[i][0]} sums to the profile's {field}")
    functions = {f.id: strings[f.name] for f in pb.function}
    locations = {l.id: l for l in pb.location}
    check(all(l.mapping_id in {m.id for m in pb.mapping} for l in pb.location), "pprof: every location has its mapping")
    leaf_names = set()
    for s in pb.sample:
        leaf = locations[s.location_id[0]]
        leaf_names.add(functions[leaf.line[0].function_id])
    check({"site_temporary", "site_kept", "site_large", "site_peak", "site_after"} <= leaf_names,
          "pprof: every site function is a sample's first location")
    peak_line = next(l for l in pb.location for ln in l.line if functions[ln.function_id] == "site_peak")
    check(peak_line.line[0].line > 0, "pprof: lines carry source line numbers")
    check(strings[pb.mapping[0].filename] == profile["program"], "pprof: the program is the first mapping")
    # The pprof tool itself, built from Debian's source (golang-github-google-pprof-dev).
    tool = consumers.build_pprof(ARGS.cache)
    r = subprocess.run([tool, "-top", "-sample_index=alloc_space", out], capture_output=True, text=True)
    total = sum(s["allocated_bytes"] for s in profile["sites"])
    check(r.returncode == 0 and "site_peak" in r.stdout and "site_temporary" in r.stdout and "Type: alloc_space" in r.stdout,
          "pprof tool: -top lists the sites")
    check(f"{total / 1e6:.2f}MB total" in r.stdout or f"{total / 1048576:.2f}MB total" in r.stdout,
          f"pprof tool: the total is the profile's ({total} B): {[l for l in r.stdout.splitlines() if 'total' in l][:1]}")
    r = subprocess.run([tool, "-traces", "-sample_index=inuse_objects", out], capture_output=True, text=True)
    check(r.returncode == 0 and "site_after" in r.stdout and "main" in r.stdout, "pprof tool: -traces shows site_after's stack")


def chromium(*args):
    return consumers.chromium(os.path.join(TMP, "chrome"), *args)


def browser_views(path, profile):
    flame = os.path.join(TMP, "f.svg")
    timeline = os.path.join(TMP, "t.html")
    check(report("flame", "-o", flame, path).returncode == 0, "flame: written")
    check(report("timeline", "-o", timeline, path).returncode == 0, "timeline: written")
    check(report("timeline", "-o", os.path.join(TMP, "t.svg"), path).returncode == 0, "timeline: SVG written")
    for page, size in ((flame, "1200,600"), (timeline, "1200,700")):
        shot = page + ".png"
        chromium(f"--screenshot={shot}", f"--window-size={size}", "file://" + page)
        check(os.path.exists(shot), f"chromium: screenshot of {os.path.basename(page)}")
        if os.path.exists(shot):
            colours, share = consumers.png_colours(consumers.png_pixels(shot))
            check(len(colours) >= 8 and share > 0.05,
                  f"chromium: {os.path.basename(page)} renders ({len(colours)} colours, {100 * share:.0f}% not white)")
    dom = chromium("--dump-dom", "file://" + flame).stdout
    check('id="search"' in dom and "Reset zoom" in dom, "flame DOM: search and reset controls")
    for name in ("site_peak", "site_temporary", "main"):
        check(f'data-name="{name}"' in dom, f"flame DOM: frame {name}")
    check("<title>site_peak (profile_program.c:" in dom, "flame DOM: tooltip with the source line")
    # The search, run in the page: frames matching site_ turn magenta and the covered share shows.
    searched = os.path.join(TMP, "searched.svg")
    svg = open(flame).read().replace("</svg>", "<script>search('^site_');</script></svg>")
    open(searched, "w").write(svg)
    dom = chromium("--dump-dom", "file://" + searched).stdout
    highlighted = dom.count('fill="#e040fb"')
    check(highlighted >= 5, f"flame search: the 5 site frames highlighted ({highlighted})")
    check("Matched: " in dom, "flame search: the matched share is shown")
    zoomed = os.path.join(TMP, "zoomed.svg")
    svg = open(flame).read().replace("</svg>", "<script>zoom(document.querySelector('g[data-name=\"site_kept\"]'));</script></svg>")
    open(zoomed, "w").write(svg)
    dom = chromium("--dump-dom", "file://" + zoomed).stdout
    check('data-name="site_kept"' in dom and 'width="1180"' in dom.split('data-name="site_kept"')[1][:600],
          "flame zoom: the clicked frame fills the width")
    dom = chromium("--dump-dom", "file://" + timeline).stdout
    check("live bytes" in dom and "resident (RSS)" in dom and "peak " in dom and "<polyline" in dom,
          "timeline DOM: series, legend and the peak mark")


def main():
    global ARGS, TMP
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True)
    ap.add_argument("--program", required=True)
    ap.add_argument("--report", required=True)
    ap.add_argument("--cache", required=True, help="where the pprof tool is built once")
    ARGS = ap.parse_args()
    for name in ("lib", "program", "report", "cache"):
        setattr(ARGS, name, os.path.abspath(getattr(ARGS, name)))
    os.makedirs(ARGS.cache, exist_ok=True)
    try:
        consumers.require("chromium", "protoc", "go")
    except consumers.Missing as e:
        check(False, str(e))
    with tempfile.TemporaryDirectory() as tmp:
        TMP = tmp
        path, profile = make_profile("exact", "exact.json")
        sampled_path, _ = make_profile("sampled", "sampled.json")
        text_views(path, profile, sampled_path)
        pprof_views(path, profile)
        browser_views(path, profile)
    finish()


if __name__ == "__main__":
    main()
