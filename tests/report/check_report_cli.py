#!/usr/bin/env python3
"""memf-report's commands on the demo profile of make_profile.py, whose figures are known: the
exact text of top, peak, show, folded and diff, the ordering of top by every measure, the
files flame, timeline and pprof write (names, structure, nothing fetched from outside), two
leak reports still shown and diffed as before, the bash completion, for every kind of bad input
one line on stderr and exit status 2, and the examples of docs/profiling.md. Needs nothing but
Python and bash.

    check_report_cli.py --report tools/memf-report --make-profile tests/report/make_profile.py \
        --completion tools/completion/memf-report --docs docs/profiling.md
"""
import gzip
import json
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checks import arguments, check, finish, make_profile  # noqa: E402

SVG = "{http://www.w3.org/2000/svg}"


def report(*args):
    return subprocess.run([sys.executable, ARGS.report] + list(args), capture_output=True, text=True, cwd=TMP)


def table(stdout, title_start):
    """The rows of the table under the line starting with title_start (heading row excluded)."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title_start))
    rows = []
    for line in lines[start + 2:]:
        if not line.strip():
            break
        rows.append(line)
    return rows


def first_function(row):
    """The allocating function of a table row: the text after the last number column."""
    site = re.split(r"\s{2,}", row.strip())[-1]
    return site.split(" (")[0].split(" <- ")[0]


HEADER = [
    "memf heap profile demo.json: pid 4242, /usr/bin/demo (exit after 2.00 s)",
    "mode: exact, sample_bytes 0 (every allocation recorded); site figures are exact, totals exact",
    "totals: allocated 65.5 MiB in 145,062 blocks, freed 59.1 MiB in 143,748, live 6.3 MiB in 1,314, "
    "peak 28.5 MiB at 0.90 s, temporary 134,103",
    "peak snapshot: 27.9 MiB live in the sites at 0.90 s",
]

TOP = """
all 8 sites by alloc_space (bytes allocated; 64.5 MiB in all):
  share  allocated  blocks      freed  blocks      live  blocks    at peak  blocks  temporary  site
  62.0%   40.0 MiB      40   40.0 MiB      40       0 B       0   16.0 MiB      16          2  grow_vector (vector.h:22) <- build_index (index.c:15) <- main (demo.c:40) <- ...
  24.2%   15.6 MiB   2,000    9.4 MiB   1,200   6.2 MiB     800   11.7 MiB   1,500          0  cache_insert (cache.c:70) <- handle_request (server.c:120) <- run_server (server.c:88) <- ...
   8.5%    5.5 MiB  90,000    5.5 MiB  90,000       0 B       0      192 B       3     89,000  log_line (log.c:9) <- handle_request (server.c:120) <- run_server (server.c:88) <- ...
   4.7%    3.1 MiB  50,000    3.1 MiB  50,000       0 B       0    7.5 KiB     120     45,000  json_strdup (parse.c:12) <- parse_value (parse.c:55) <- parse_json (parse.c:30) <- ...
   0.4%  281.2 KiB   3,000  234.4 KiB   2,500  46.9 KiB     500  187.5 KiB   2,000        100  walk_tree (tree.c:44) <- walk_tree (tree.c:44) <- walk_tree (tree.c:44) <- ...
   0.1%   40.0 KiB      10        0 B       0  40.0 KiB      10   40.0 KiB      10          0  demo+0x1234 <- main (demo.c:40) <- libc.so.6+0x29d90
   0.0%    1.2 KiB       5    1.2 KiB       5       0 B       0        0 B       0          0  (no allocation stack recorded)
   0.0%      700 B       7      300 B       3     400 B       4      400 B       4          1  visit<a;b> (visit.hpp:7) <- main (demo.c:40) <- libc.so.6+0x29d90
"""

# The allocating function of each site, in the order top lists them by each measure; sites
# with 0 for the measure are left out.
ORDER = {
    "alloc_space": ["grow_vector", "cache_insert", "log_line", "json_strdup", "walk_tree", "demo+0x1234",
                    "(no allocation stack recorded)", "visit<a;b>"],
    "alloc_objects": ["log_line", "json_strdup", "walk_tree", "cache_insert", "grow_vector", "demo+0x1234",
                      "visit<a;b>", "(no allocation stack recorded)"],
    "inuse_space": ["cache_insert", "walk_tree", "demo+0x1234", "visit<a;b>"],
    "inuse_objects": ["cache_insert", "walk_tree", "demo+0x1234", "visit<a;b>"],
    "peak_space": ["grow_vector", "cache_insert", "walk_tree", "demo+0x1234", "json_strdup", "visit<a;b>", "log_line"],
    "peak_objects": ["walk_tree", "cache_insert", "json_strdup", "grow_vector", "demo+0x1234", "visit<a;b>", "log_line"],
    "temporary": ["log_line", "json_strdup", "walk_tree", "grow_vector", "visit<a;b>"],
    "freed_space": ["grow_vector", "cache_insert", "log_line", "json_strdup", "walk_tree",
                    "(no allocation stack recorded)", "visit<a;b>"],
}
FIELD = {"alloc_space": "allocated_bytes", "alloc_objects": "allocations", "inuse_space": "live_bytes",
         "inuse_objects": "live", "peak_space": "peak_bytes", "peak_objects": "peak", "temporary": "temporary",
         "freed_space": "freed_bytes"}

PEAK = """
at the peak snapshot (27.9 MiB live in the sites at 0.899 s; the process's peak 28.5 MiB at 0.900 s): top 3 of 7 sites
  share    at peak  blocks  site
  57.2%   16.0 MiB      16  grow_vector (vector.h:22) <- build_index (index.c:15) <- main (demo.c:40) <- ...
  41.9%   11.7 MiB   1,500  cache_insert (cache.c:70) <- handle_request (server.c:120) <- run_server (server.c:88) <- ...
   0.7%  187.5 KiB   2,000  walk_tree (tree.c:44) <- walk_tree (tree.c:44) <- walk_tree (tree.c:44) <- ...
"""

FOLDED = """(no stack) 1280
libc.so.6+0x29d90;main;build_index;grow_vector 41943040
libc.so.6+0x29d90;main;demo+0x1234 40960
libc.so.6+0x29d90;main;run_server;handle_request;cache_insert 16384000
libc.so.6+0x29d90;main;run_server;handle_request;log_line 5760000
libc.so.6+0x29d90;main;run_server;handle_request;parse_json;parse_value;json_strdup 3200000
libc.so.6+0x29d90;main;visit<a:b> 700
libc.so.6+0x29d90;main;walk_tree;walk_tree;walk_tree 288000
"""

DIFF = """memf heap profile diff by alloc_space
  old demo.json: /usr/bin/demo, pid 4242
  new new.json: /usr/bin/demo, pid 4343
  allocated_bytes: 68,666,556 -> 74,963,132 (+6,296,576)
  allocations: 145,062 -> 116,053 (-29,009)
  peak_bytes: 29,900,000 -> 38,112,096 (+8,212,096)
  live_bytes: 6,647,056 -> 16,502,032 (+9,854,976)
  temporary: 134,103 -> 107,103 (-27,000)

sites that grew (all 2 sites):
     change  growth       old       new  site
   +7.8 MiB  +50.0%  15.6 MiB  23.4 MiB  cache_insert (cache.c:70) <- handle_request (server.c:120) <- run_server (server.c:88) <- ...
  +64.0 KiB     new       0 B  64.0 KiB  dump_state (state.c:18) <- main (demo.c:40) <- libc.so.6+0x29d90 (new)

sites that shrank (all 2 sites):
     change   growth       old      new  site
   -1.8 MiB   -60.0%   3.1 MiB  1.2 MiB  json_strdup (parse.c:12) <- parse_value (parse.c:55) <- parse_json (parse.c:30) <- ...
  -40.0 KiB  -100.0%  40.0 KiB      0 B  demo+0x1234 <- main (demo.c:40) <- libc.so.6+0x29d90 (gone)
"""


def text_commands(profile):
    r = report("top", "demo.json")
    check(r.returncode == 0 and r.stderr == "", "top: exit 0, nothing on stderr", r.stderr)
    check(r.stdout.splitlines()[:4] == HEADER, "top: the header (mode, sample_bytes, process totals, peak)",
          "\n".join(r.stdout.splitlines()[:4]))
    check(r.stdout == "\n".join(HEADER) + "\n" + TOP, "top: the whole table, every figure of each site", r.stdout)

    for measure, expected in ORDER.items():
        r = report("top", "--by", measure, "demo.json")
        rows = table(r.stdout, f"all {len(expected)} sites by {measure} ")
        got = [first_function(row) for row in rows]
        check(got == expected, f"top --by {measure}: {', '.join(expected)}", got)
        total = sum(s[FIELD[measure]] for s in profile["sites"])
        shares = [float(row.split("%")[0]) for row in rows]
        check(abs(sum(shares) - 100) < 0.5, f"top --by {measure}: the shares add up to 100% of {total}", shares)

    r = report("top", "-n", "2", "--by", "inuse_objects", "--frames", "1", "demo.json")
    rows = table(r.stdout, "top 2 of 4 sites by inuse_objects ")
    check(len(rows) == 2 and rows[0].endswith("cache_insert (cache.c:70) <- ...")
          and rows[1].endswith("walk_tree (tree.c:44) <- ..."), "top -n 2 --frames 1: two rows of one frame each", rows)
    r = report("top", "--frames", "10", "--by", "temporary", "demo.json")
    check("json_strdup (parse.c:12) <- parse_value (parse.c:55) <- parse_json (parse.c:30) <- handle_request "
          "(server.c:120) <- run_server (server.c:88) <- main (demo.c:40) <- libc.so.6+0x29d90\n" in r.stdout,
          "top --frames 10: the whole stack, inlined frames as frames, a frame without a function as module+offset")

    r = report("peak", "-n", "3", "demo.json")
    check(r.returncode == 0 and r.stdout == "\n".join(HEADER) + "\n" + PEAK, "peak -n 3: peak time and bytes, sites by peak_bytes",
          r.stdout)

    r = report("show", "demo.json")
    check(r.returncode == 0 and r.stdout.startswith("\n".join(HEADER) + "\n"), "show: the profile's header")
    for title, first in (("all 8 sites by alloc_space:", "grow_vector"), ("all 7 sites by peak_space:", "grow_vector"),
                         ("all 4 sites by inuse_space:", "cache_insert")):
        rows = table(r.stdout, title)
        check(rows and first_function(rows[0]) == first, f"show: '{title}' first {first}", rows[:1])
    check(table(r.stdout, "categories:") == ["      0 B  14.3 MiB           40  index",
                                             "  3.2 MiB  11.4 MiB        2,000  cache",
                                             "  3.2 MiB   5.7 MiB      143,022  Unknown"],
          "show: the categories by peak", table(r.stdout, "categories:"))
    r = report("show", "-n", "10", "demo.json")
    check(len(table(r.stdout, "all 8 sites by alloc_space:")) == 8, "show -n 10: all 8 sites")
    r = report("demo.json")
    check(r.returncode == 0 and r.stdout.startswith(HEADER[0]), "a file alone is show")


def folded(profile):
    r = report("folded", "demo.json")
    check(r.returncode == 0 and r.stdout == FOLDED, "folded: outermost frame first, inlined frames as frames, "
          "'?' as module+offset, ';' in a name replaced", r.stdout)
    for measure, field in FIELD.items():
        r = report("folded", "--by", measure, "demo.json")
        lines = r.stdout.splitlines()
        well_formed = all(re.fullmatch(r"[^ ;][^;]*(;[^;]+)* [1-9][0-9]*", line) for line in lines)
        total = sum(int(line.rsplit(" ", 1)[1]) for line in lines)
        expected = sum(s[field] for s in profile["sites"])
        check(well_formed and total == expected, f"folded --by {measure}: the lines add up to {expected}", total)


def diff():
    r = report("diff", "demo.json", "new.json")
    check(r.returncode == 0 and r.stdout == DIFF, "diff: sites matched by function, module and line (the frames are "
          "listed in another order); grew, new, shrank, gone", r.stdout)
    r = report("diff", "--by", "alloc_objects", "-n", "1", "demo.json", "new.json")
    grew, shrank = table(r.stdout, "sites that grew (top 1 of 2 sites)"), table(r.stdout, "sites that shrank (top 1 of 2 sites)")
    check(len(grew) == 1 and re.match(r"\s*\+1,000\s+\+50\.0%\s+2,000\s+3,000\s+cache_insert ", grew[0])
          and len(shrank) == 1 and re.match(r"\s*-30,000\s+-60\.0%\s+50,000\s+20,000\s+json_strdup ", shrank[0]),
          "diff --by alloc_objects -n 1: cache_insert +1,000 blocks, json_strdup -30,000", grew + shrank)
    r = report("diff", "--by", "peak_space", "demo.json", "demo.json")
    check(r.returncode == 0 and r.stdout.count("  none") == 2, "diff of a profile with itself: nothing grew, nothing shrank")


def leak_report(path, copies):
    frames = [{"function": "leak_plain", "module": "/usr/bin/leaky", "offset": 4593, "file": "/src/plain.c", "line": 23,
               "pc": 94080389501425, "inlined": False},
              {"function": "main", "module": "/usr/bin/leaky", "offset": 4723, "file": "/src/plain.c", "line": 34,
               "pc": 94080389501555, "inlined": False}]
    document = {"memf_report": 1, "pid": 100 + copies, "exe": "/usr/bin/leaky",
                "stats": {"current_bytes": 123 * copies, "peak_bytes": 123 * copies, "total_allocated_bytes": 123 * copies,
                          "total_freed_bytes": 0, "allocations": copies, "frees": 0},
                "categories": [{"name": "Unknown", "current_bytes": 123 * copies, "peak_bytes": 123 * copies,
                                "allocations": copies}],
                "leaks": [{"kind": "definite", "bytes": 123 * copies, "count": copies, "category": "Unknown", "stack_id": 1,
                           "suppressed": None, "stack": frames}],
                "leak_totals": {"definite": {"bytes": 123 * copies, "count": copies}, "indirect": {"bytes": 0, "count": 0},
                                "possible": {"bytes": 0, "count": 0}, "reachable": {"bytes": 0, "count": 0}},
                "suppressed": {"bytes": 0, "count": 0}}
    with open(os.path.join(TMP, path), "w") as f:
        json.dump(document, f)


def leak_reports():
    leak_report("one.json", 1)
    leak_report("three.json", 3)
    r = report("show", "three.json")
    check(r.returncode == 0 and re.search(r"^\s+369\s+3\s+definite\s+leak_plain \(plain.c:23\) <- main \(plain.c:34\)$",
                                          r.stdout, re.M), "show REPORT: the leak report as before", r.stdout)
    r = report("diff", "one.json", "three.json")
    check(r.returncode == 0 and "definite: 123 B in 1 -> 369 B in 3 (+246 B, +2)" in r.stdout
          and re.search(r"leak groups that grew.*\n.*\n\s+\+246\s+\+2\s+definite\s+leak_plain", r.stdout),
          "diff REPORT REPORT: what grew, as before", r.stdout)


def svg_root(path):
    with open(os.path.join(TMP, path), encoding="utf-8") as f:
        text = f.read()
    return text, ET.fromstring(text)


def self_contained(text):
    """Nothing fetched from elsewhere: no href or src, no url(), no address but the SVG namespace."""
    addresses = set(re.findall(r"https?://[^\s\"'<>)]+", text)) - {"http://www.w3.org/2000/svg"}
    return not addresses and not re.search(r"\b(href|src)\s*=|url\(|@import", text)


def flame(profile):
    r = report("flame", "demo.json")
    check(r.returncode == 0 and r.stderr.strip() == "memf-report: wrote demo.flame.svg" and
          os.path.exists(os.path.join(TMP, "demo.flame.svg")), "flame: writes demo.flame.svg by default", r.stderr)
    text, root = svg_root("demo.flame.svg")
    frames = root.findall(f"{SVG}g[@class='f']")
    by_name = {}
    for g in frames:
        by_name.setdefault(g.get("data-name"), []).append(g)
    total = sum(s["allocated_bytes"] for s in profile["sites"])
    width = 1180  # the graph's width less its margins
    check(float(by_name["all"][0].get("data-w")) == width and by_name["all"][0].get("data-d") == "0",
          "flame: the root 'all' spans the width at depth 0")
    expected = {"libc.so.6+0x29d90": 1, "main": 2, "build_index": 3, "grow_vector": 4, "run_server": 3,
                "handle_request": 4, "cache_insert": 5, "log_line": 5, "parse_json": 5, "parse_value": 6, "json_strdup": 7,
                "walk_tree": 3, "demo+0x1234": 3}
    depths = {name: sorted(int(g.get("data-d")) for g in gs) for name, gs in by_name.items()}
    check(all(depths.get(n, [None])[0] == d for n, d in expected.items()) and depths.get("walk_tree") == [3, 4, 5],
          "flame: one node per frame of each distinct stack, at its depth (the recursion three deep)", depths)
    # visit<a;b> (700 B) and the stackless 1280 B are narrower than a tenth of a pixel: not drawn.
    check(set(by_name) == set(expected) | {"all"}, "flame: frames narrower than 0.1 px are left out", sorted(by_name))
    grow = by_name["grow_vector"][0]
    check(abs(float(grow.get("data-w")) - width * 41943040 / total) < 0.01, "flame: widths proportional to the measure")
    rect = grow.find(f"{SVG}rect")
    check(float(rect.get("y")) < float(by_name["all"][0].find(f"{SVG}rect").get("y")), "flame: the root at the bottom")
    tip = by_name["json_strdup"][0].find(f"{SVG}title").text
    check(tip == "json_strdup (parse.c:12, /usr/lib/x86_64-linux-gnu/libparse.so.1): 3.1 MiB (4.73%)",
          "flame: the tooltip names function, file:line, module, value and share", tip)
    tip = by_name["demo+0x1234"][0].find(f"{SVG}title").text
    check(tip == "demo+0x1234 (demo, /usr/bin/demo): 40.0 KiB (0.06%)", "flame: a frame without a function", tip)
    fills = {g.get("data-name"): g.find(f"{SVG}rect").get("fill") for g in frames}
    check(len(set(fills.values())) >= 10, "flame: colours from the function names", fills)
    label = by_name["json_strdup"][0].find(f"{SVG}text").text or ""
    check(label == "json_..", "flame: a name is cut to its frame's width", label)
    check(root.find(f".//{SVG}text[@id='search']") is not None and root.find(f".//{SVG}text[@id='reset']") is not None
          and "function search(" in text and "keydown" in text, "flame: Search and Reset controls, the search script")
    check(self_contained(text), "flame: self-contained (no link, no address)")
    r = report("flame", "--by", "peak_objects", "-o", "peak.svg", "demo.json")
    names = {g.get("data-name") for g in svg_root("peak.svg")[1].findall(f"{SVG}g[@class='f']")}
    check(r.returncode == 0 and "visit<a;b>" in names and "grow_vector" in names,
          "flame --by peak_objects -o peak.svg: visit<a;b> (4 of 3,653 blocks) drawn, its name escaped", sorted(names))


def timeline(profile):
    r = report("timeline", "demo.json")
    check(r.returncode == 0 and os.path.exists(os.path.join(TMP, "demo.timeline.html")),
          "timeline: writes demo.timeline.html by default", r.stderr)
    with open(os.path.join(TMP, "demo.timeline.html"), encoding="utf-8") as f:
        page = f.read()
    check(page.startswith("<!DOCTYPE html>") and self_contained(page), "timeline HTML: one page, nothing fetched")
    check(all(f"<td>{e['detail']}</td>" in page for e in profile["timeline"]["events"]),
          "timeline HTML: the events in a table")
    r = report("timeline", "-o", "t.svg", "demo.json")
    text, root = svg_root("t.svg")
    check(r.returncode == 0 and root.tag == f"{SVG}svg" and self_contained(text), "timeline -o t.svg: a standalone SVG")
    series = {p.get("data-name"): p.get("points").split() for p in root.iter(f"{SVG}polyline")}
    check(sorted(series) == ["category Unknown", "category cache", "category index", "live bytes", "resident (RSS)"]
          and all(len(points) == 201 for points in series.values()),
          "timeline: live bytes, RSS and each category, a point each 10 ms", {k: len(v) for k, v in series.items()})
    labels = [t.text for t in root.iter(f"{SVG}text") if t.text]
    check({"0 B", "8.0 MiB", "16.0 MiB", "24.0 MiB"} <= set(labels) and {"0 s", "0.5 s", "1 s", "1.5 s", "2 s"} <= set(labels),
          "timeline: axes in MiB and seconds", labels)
    events = [g.find(f"{SVG}title").text for g in root.iter(f"{SVG}g") if g.get("class") == "event"]
    check(events == ["pressure at 1.190 s: level high (limit 40.0 MiB)",
                     "optimizer at 1.200 s: freed 9.4 MiB (caches 8.0 MiB, thread caches 1.4 MiB)",
                     "pressure at 1.500 s: level normal (limit 40.0 MiB)"], "timeline: the events as marks with their text", events)
    peak = [g.find(f"{SVG}title").text for g in root.iter(f"{SVG}g") if g.get("class") == "peak"]
    check(peak == ["peak 28.5 MiB at 0.900 s"], "timeline: the peak marked", peak)


def pprof_file():
    r = report("pprof", "demo.json")
    path = os.path.join(TMP, "demo.pb.gz")
    check(r.returncode == 0 and os.path.exists(path), "pprof: writes demo.pb.gz by default", r.stderr)
    with gzip.open(path) as f:
        data = f.read()
    check(data[:1] == b"\x0a", "pprof: gzipped protobuf, a sample type first")


ERRORS = [
    (["top", "missing.json"], "memf-report: cannot read missing.json: No such file or directory"),
    (["top", "notjson.json"], "memf-report: notjson.json is not JSON: "),
    (["top", "foreign.json"], "memf-report: foreign.json is not a memf heap profile (no \"memf_profile\")"),
    (["show", "foreign.json"], "memf-report: foreign.json is not a memf report: neither a leak report"),
    (["show", "list.json"], "memf-report: list.json is not a memf report"),
    (["top", "format2.json"], "memf-report: format2.json is a heap profile of format 2; this memf-report reads format 1"),
    (["peak", "badframe.json"], "memf-report: badframe.json: site 0 has no stack or one that names frames not in \"frames\""),
    (["folded", "nosites.json"], "memf-report: nosites.json is not a complete heap profile (no \"sites\" list)"),
    (["top", "--by", "nothing", "demo.json"], "memf-report top: argument --by: unknown measure 'nothing' (measures: "
     "alloc_space, alloc_objects, inuse_space, inuse_objects, peak_space, peak_objects, temporary, freed_space)"),
    (["flame", "--by", "space", "demo.json"], "memf-report flame: argument --by: unknown measure 'space'"),
    (["folded", "--by", "", "demo.json"], "memf-report folded: argument --by: unknown measure ''"),
    (["diff", "--by", "bytes", "demo.json", "new.json"], "memf-report diff: argument --by: unknown measure 'bytes'"),
    (["diff", "demo.json", "one.json"], "memf-report: cannot diff a heap profile (demo.json) with a leak report (one.json)"),
    (["diff", "one.json", "demo.json"], "memf-report: cannot diff a leak report (one.json) with a heap profile (demo.json)"),
    (["top", "-n", "0", "demo.json"], "memf-report top: --top and --frames take a positive number"),
    (["top"], "memf-report top: the following arguments are required: PROFILE.json"),
    (["tops", "demo.json"], "memf-report: unknown command 'tops' (commands: show, diff, top, peak, flame, folded, timeline, "
     "pprof, dump); see memf-report --help"),
] + [([command, "one.json"], "memf-report: one.json is a leak report, not a heap profile")
     for command in ("top", "peak", "flame", "folded", "timeline", "pprof")]


def errors():
    files = {"notjson.json": "hello\n", "foreign.json": '{"name": "x"}', "list.json": "[1, 2]",
             "format2.json": '{"memf_profile": 2, "frames": [], "sites": [], "totals": {}}',
             "badframe.json": '{"memf_profile": 1, "frames": [], "sites": [{"stack": [3]}], "totals": {}}',
             "nosites.json": '{"memf_profile": 1, "frames": [], "totals": {}}'}
    for name, content in files.items():
        with open(os.path.join(TMP, name), "w") as f:
            f.write(content)
    before = set(os.listdir(TMP))
    for args, message in ERRORS:
        r = report(*args)
        lines = r.stderr.splitlines()
        check(r.returncode == 2 and len(lines) == 1 and lines[0].startswith(message) and r.stdout == "",
              f"memf-report {' '.join(args)}: exit 2, one line: {message}", f"status {r.returncode}: {r.stderr}")
    # No command reads only leak reports (show and diff read both), so a profile is refused by
    # none; a failed command writes no file.
    check(set(os.listdir(TMP)) == before, "no file written by a command that failed", set(os.listdir(TMP)) - before)


def usage():
    r = report("--help")
    check(r.returncode == 0 and all(f"memf-report {c}" in r.stdout for c in
                                    ("diff", "top", "peak", "flame", "folded", "timeline", "pprof", "dump")),
          "--help: every command's usage")
    for command, options in (("show", ["--frames"]), ("diff", ["--by"]), ("top", ["-n", "--by", "--frames"]),
                             ("peak", ["-n"]), ("flame", ["--by", "-o"]), ("folded", ["--by"]), ("timeline", ["-o"]),
                             ("pprof", ["-o"]), ("dump", ["-o"])):
        r = report(command, "--help")
        check(r.returncode == 0 and r.stdout.startswith(f"usage: memf-report {command}" if command != "show"
                                                        else "usage: memf-report [show]")
              and all(o in r.stdout for o in options), f"{command} --help: its usage and options")


def completion():
    def words(*line):
        r = subprocess.run(["bash", "-c", 'source /usr/share/bash-completion/bash_completion 2>/dev/null || true; '
                            'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); '
                            '_memf_report; printf "%s\\n" "${COMPREPLY[@]}"', "_", ARGS.completion] + list(line),
                           capture_output=True, text=True, cwd=TMP)
        return r.stdout.split()
    commands = [w for w in words("memf-report", "t") if not w.endswith(".json")]
    check(commands == ["top", "timeline"], "completion: commands", commands)
    check(words("memf-report", "top", "-") == ["-n", "--top", "--frames", "--by", "--help"], "completion: top's options")
    check(words("memf-report", "folded", "-") == ["--by", "--help"], "completion: folded's options")
    check(words("memf-report", "flame", "--by", "in") == ["inuse_space", "inuse_objects"], "completion: measures")
    check(words("memf-report", "pprof", "-o", "dem") == ["demo.pb.gz"], "completion: pprof -o offers .pb.gz files")
    check("demo.json" in words("memf-report", "peak", "dem") and "demo.flame.svg" not in words("memf-report", "peak", "dem"),
          "completion: JSON files after a command")


def docs_examples():
    """Each `$ memf-report ...` example of docs/profiling.md's memf-report section prints what it
    shows (its lines, '...' standing for any)."""
    with open(ARGS.docs, encoding="utf-8") as f:
        text = f.read()
    section = text[text.index("## memf-report"):text.index("\n## ", text.index("## memf-report") + 1)]
    leak_report("leaks.json", 2)
    examples = 0
    for block in re.findall(r"```\n(.*?)```", section, re.S):
        lines = block.splitlines()
        starts = [i for i, line in enumerate(lines) if line.startswith("$ memf-report ") and "&&" not in line]
        for k, i in enumerate(starts):
            shown = lines[i + 1:starts[k + 1] if k + 1 < len(starts) else len(lines)]
            r = report(*lines[i].split()[2:])
            printed = (r.stdout + r.stderr).splitlines()
            missing = [line for line in shown if line != "..." and line not in printed]
            check(not missing, f"docs/profiling.md: {lines[i][2:]}", "\n".join(missing))
            examples += 1
    check(examples >= 6, f"docs/profiling.md: {examples} examples checked")


def main():
    global ARGS, TMP
    ARGS = arguments("--completion", "--docs")
    with tempfile.TemporaryDirectory() as tmp:
        TMP = tmp
        make_profile(ARGS, "demo", os.path.join(tmp, "demo.json"))
        make_profile(ARGS, "demo-new", os.path.join(tmp, "new.json"))
        with open(os.path.join(tmp, "demo.json")) as f:
            profile = json.load(f)
        text_commands(profile)
        folded(profile)
        diff()
        leak_reports()
        flame(profile)
        timeline(profile)
        pprof_file()
        errors()
        usage()
        completion()
        docs_examples()
    finish()


if __name__ == "__main__":
    main()
