#!/usr/bin/env python3
"""Writes heap profiles (docs/profile-format.md, "memf_profile": 1) whose every figure is known,
for memf-report's tests and for timing it; nothing here needs libmemf.

    make_profile.py demo OUT.json          the demo profile (DEMO_SITES below): inlined frames,
                                           frames without a function, a recursive stack, a
                                           site without a stack, three categories, a timeline
                                           with pressure and optimizer events
    make_profile.py demo-new OUT.json      the same program's next run, for diff: cache_insert
                                           grew, parse_json shrank, dump_state is new, the
                                           unknown frame's site is gone; frames listed in
                                           another order
    make_profile.py big OUT.json [--sites N] [--frames N] [--points N]
                                           a large program's profile (default 5000 sites,
                                           about 30000 frames, 4000 timeline points): stacks
                                           that share their callers as real ones do
"""
import argparse
import json
import random

PROGRAM = "/usr/bin/demo"
LIBPARSE = "/usr/lib/x86_64-linux-gnu/libparse.so.1"
LIBC = "/usr/lib/x86_64-linux-gnu/libc.so.6"

# name: (function, module, offset, file, line, inlined). A frame marked inlined is a call inlined
# into the frame that follows it in a stack, and has that frame's address.
DEMO_FRAMES = {
    "start": ("?", LIBC, 0x29D90, None, 0, False),
    "main": ("main", PROGRAM, 0x1A40, "/src/demo/demo.c", 40, False),
    "run_server": ("run_server", PROGRAM, 0x2210, "/src/demo/server.c", 88, False),
    "handle_request": ("handle_request", PROGRAM, 0x2380, "/src/demo/server.c", 120, False),
    "parse_json": ("parse_json", LIBPARSE, 0x3120, "/src/parse/parse.c", 30, False),
    "json_strdup": ("json_strdup", LIBPARSE, 0x3340, "/src/parse/parse.c", 12, True),
    "parse_value": ("parse_value", LIBPARSE, 0x3340, "/src/parse/parse.c", 55, False),
    "cache_insert": ("cache_insert", PROGRAM, 0x2A10, "/src/demo/cache.c", 70, False),
    "build_index": ("build_index", PROGRAM, 0x2C80, "/src/demo/index.c", 15, False),
    "grow_vector": ("grow_vector", PROGRAM, 0x2C80, "/src/demo/vector.h", 22, True),
    "log_line": ("log_line", PROGRAM, 0x3000, "/src/demo/log.c", 9, False),
    "unknown": ("?", PROGRAM, 0x1234, None, 0, False),
    "walk_tree": ("walk_tree", PROGRAM, 0x3300, "/src/demo/tree.c", 44, False),
    "semicolon": ("visit<a;b>", PROGRAM, 0x3500, "/src/demo/visit.hpp", 7, False),
    "dump_state": ("dump_state", PROGRAM, 0x3700, "/src/demo/state.c", 18, False),
}
REQUEST = ["handle_request", "run_server", "main", "start"]

# name: (stack innermost first, allocations, bytes each, frees, peak blocks, temporary). The
# figures are chosen so that every measure orders the sites differently and without ties.
DEMO_SITES = {
    "parse": (["json_strdup", "parse_value", "parse_json"] + REQUEST, 50000, 64, 50000, 120, 45000),
    "cache": (["cache_insert"] + REQUEST, 2000, 8192, 1200, 1500, 0),
    "index": (["grow_vector", "build_index", "main", "start"], 40, 1048576, 40, 16, 2),
    "log": (["log_line"] + REQUEST, 90000, 64, 90000, 3, 89000),
    "unknown": (["unknown", "main", "start"], 10, 4096, 0, 10, 0),
    "tree": (["walk_tree", "walk_tree", "walk_tree", "main", "start"], 3000, 96, 2500, 2000, 100),
    "nostack": ([], 5, 256, 5, 0, 0),
    "semicolon": (["semicolon", "main", "start"], 7, 100, 3, 4, 1),
}
# The next run: what changed.
NEW_SITES = dict(DEMO_SITES)
NEW_SITES["cache"] = (["cache_insert"] + REQUEST, 3000, 8192, 1000, 2500, 0)
NEW_SITES["parse"] = (["json_strdup", "parse_value", "parse_json"] + REQUEST, 20000, 64, 20000, 50, 18000)
NEW_SITES["dump"] = (["dump_state", "main", "start"], 1, 65536, 0, 1, 0)
del NEW_SITES["unknown"]

CATEGORIES = ["Unknown", "cache", "index"]


def site_record(stack, allocations, size, frees, peak, temporary):
    return {"stack": stack, "allocations": allocations, "allocated_bytes": allocations * size, "frees": frees,
            "freed_bytes": frees * size, "live": allocations - frees, "live_bytes": (allocations - frees) * size,
            "peak": peak, "peak_bytes": peak * size, "temporary": temporary}


def demo_timeline(peak_bytes, peak_time, duration, live_end):
    """200 points over the run: a ramp to the peak, a drop when the optimizer frees caches, a
    plateau; each category its share."""
    points = []
    steps = int(duration / 0.01)
    for i in range(steps + 1):
        t = round(i * 0.01, 2)
        if t <= peak_time:
            live = int(peak_bytes * t / peak_time)
        elif t < 1.21:
            live = int(peak_bytes * (1 - 0.3 * (t - peak_time) / (1.21 - peak_time)))
        else:
            live = max(live_end, int(peak_bytes * 0.25))
        cache = live * 4 // 10
        index = live * 5 // 10 if t < 1.21 else 0
        points.append([t, live, live + 3 * 1048576 + i * 4096, [live - cache - index, cache, index]])
    return points


def demo(sites):
    names = list(DEMO_FRAMES)
    if sites is NEW_SITES:
        names.reverse()  # other indices: sites must match by function, module and line
    index = {n: i for i, n in enumerate(names)}
    frames = []
    for n in names:
        function, module, offset, file, line, inlined = DEMO_FRAMES[n]
        base = 0x555555554000 if module == PROGRAM else 0x7F1200000000 if module == LIBPARSE else 0x7F1300000000
        frames.append({"function": function, "module": module, "offset": offset, "file": file, "line": line,
                       "pc": base + offset, "inlined": inlined})
    records = [site_record([index[f] for f in s[0]], *s[1:]) for s in sites.values()]
    keys = ("allocations", "allocated_bytes", "frees", "freed_bytes", "live", "live_bytes", "temporary")
    sums = {k: sum(r[k] for r in records) for k in keys}
    peak_sites = sum(r["peak_bytes"] for r in records)
    # The process totals count pool blocks by their size class: a little above the sites' bytes.
    peak_bytes = peak_sites + 593552
    duration, peak_time = 2.0, 0.9
    categories = [{"name": "Unknown", "current_bytes": sums["live_bytes"] // 2, "peak_bytes": peak_bytes // 5,
                   "allocations": sums["allocations"] - 2040},
                  {"name": "cache", "current_bytes": sums["live_bytes"] - sums["live_bytes"] // 2,
                   "peak_bytes": peak_bytes * 2 // 5, "allocations": 2000},
                  {"name": "index", "current_bytes": 0, "peak_bytes": peak_bytes // 2, "allocations": 40}]
    return {
        "memf_profile": 1, "program": PROGRAM, "pid": 4242 if sites is DEMO_SITES else 4343, "reason": "exit",
        "mode": "exact", "sample_bytes": 0, "duration": duration,
        "totals": {"allocations": sums["allocations"], "allocated_bytes": sums["allocated_bytes"] + 1048576,
                   "frees": sums["frees"], "freed_bytes": sums["freed_bytes"] + 1048576 - 4096,
                   "live_blocks": sums["live"], "live_bytes": sums["live_bytes"] + 4096,
                   "peak_bytes": peak_bytes, "peak_time": peak_time, "temporary": sums["temporary"]},
        "categories": categories,
        "frames": frames,
        "sites": records,
        "peak": {"bytes": peak_sites, "time": peak_time - 0.001, "process_peak_bytes": peak_bytes},
        "timeline": {
            "interval": 0.01, "categories": CATEGORIES,
            "points": demo_timeline(peak_bytes, peak_time, duration, sums["live_bytes"]),
            "events": [{"time": 1.19, "kind": "pressure", "detail": "level high (limit 40.0 MiB)"},
                       {"time": 1.2, "kind": "optimizer",
                        "detail": "freed 9.4 MiB (caches 8.0 MiB, thread caches 1.4 MiB)"},
                       {"time": 1.5, "kind": "pressure", "detail": "level normal (limit 40.0 MiB)"}],
        },
    }


def big(sites=5000, frames=30000, points=4000, seed=11):
    """Stacks of 8 to 40 calls down a call tree of about `frames` frames: each call site (one
    address) is a node; one in eight of them has a call inlined into it (two frames, one
    address), a few two."""
    rng = random.Random(seed)
    modules = [PROGRAM] + [f"/usr/lib/x86_64-linux-gnu/libbig{i}.so" for i in range(39)]
    frame_list = []
    children = {}  # node id -> [child node ids]
    chain_of = {}  # node id -> frame indices of its address, innermost first

    def new_node(parent):
        node = len(chain_of)
        module = modules[rng.randrange(len(modules))] if parent is not None else PROGRAM
        offset = 0x1000 + node * 0x40
        pc = (0x555555554000 if module == PROGRAM else 0x7F0000000000 + modules.index(module) * 0x1000000) + offset
        inlined = 2 if rng.random() < 0.02 else 1 if rng.random() < 0.12 else 0
        chain = []
        for k in range(inlined, -1, -1):
            unknown = module != PROGRAM and rng.random() < 0.03
            chain.append(len(frame_list))
            frame_list.append({"function": "?" if unknown else f"fn_{node}_{k}" if k else f"fn_{node}",
                               "module": module, "offset": offset, "file": None if unknown else f"/src/big/file_{node % 700}.c",
                               "line": 0 if unknown else 1 + (node * 7 + k) % 900, "pc": pc, "inlined": k > 0})
        chain_of[node] = chain
        children[node] = []
        if parent is not None:
            children[parent].append(node)
        return node

    root = new_node(None)
    # Descending, a new call site branches off with a probability that keeps the tree growing
    # towards the frame count by the last site.
    target_nodes = frames / 1.15 * 0.7  # the ends of short paths grow too
    site_list = []
    seen = set()
    for done in range(sites):
        branch = max(target_nodes - len(chain_of), 0) / (sites - done) / 24
        node, path = root, [root]
        for _ in range(rng.randint(8, 40) - 1):
            kids = children[node]
            node = new_node(node) if not kids or rng.random() < branch else kids[rng.randrange(len(kids))]
            path.append(node)
        if tuple(path) in seen:  # a site is a distinct stack: a call of its own at the end
            path.append(new_node(node))
        seen.add(tuple(path))
        stack = [i for n in reversed(path) for i in chain_of[n]]
        blocks = rng.randint(1, 4000)
        size = rng.choice((16, 24, 32, 48, 64, 128, 256, 1024, 4096, 65536))
        frees = rng.randint(0, blocks)
        site_list.append(site_record(stack, blocks, size, frees, rng.randint(0, blocks), rng.randint(0, frees)))
    duration = 60.0
    step = duration / points
    total_allocated = sum(s["allocated_bytes"] for s in site_list)
    timeline_points = []
    for i in range(points):
        live = int(2e8 * (0.5 + 0.5 * ((i * 37) % 1000) / 1000) * min(1.0, i / (points / 4)))
        timeline_points.append([round(i * step, 6), live, live + (50 << 20), [live * 6 // 10, live * 3 // 10, live // 10]])
    peak_point = max(timeline_points, key=lambda p: p[1])
    return {
        "memf_profile": 1, "program": PROGRAM, "pid": 1, "reason": "exit", "mode": "sampled", "sample_bytes": 524288,
        "duration": duration,
        "totals": {"allocations": sum(s["allocations"] for s in site_list), "allocated_bytes": total_allocated,
                   "frees": sum(s["frees"] for s in site_list), "freed_bytes": sum(s["freed_bytes"] for s in site_list),
                   "live_blocks": sum(s["live"] for s in site_list), "live_bytes": sum(s["live_bytes"] for s in site_list),
                   "peak_bytes": peak_point[1], "peak_time": peak_point[0],
                   "temporary": sum(s["temporary"] for s in site_list)},
        "categories": [{"name": n, "current_bytes": 0, "peak_bytes": 0, "allocations": 0} for n in CATEGORIES],
        "frames": frame_list,
        "sites": site_list,
        "peak": {"bytes": sum(s["peak_bytes"] for s in site_list), "time": peak_point[0],
                 "process_peak_bytes": peak_point[1]},
        "timeline": {"interval": step, "categories": CATEGORIES, "points": timeline_points,
                     "events": [{"time": i * 4.0 + 1, "kind": "pressure" if i % 2 else "optimizer",
                                 "detail": f"event {i}"} for i in range(15)]},
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("kind", choices=("demo", "demo-new", "big"))
    ap.add_argument("out")
    ap.add_argument("--sites", type=int, default=5000)
    ap.add_argument("--frames", type=int, default=30000)
    ap.add_argument("--points", type=int, default=4000)
    a = ap.parse_args()
    if a.kind == "big":
        profile = big(a.sites, a.frames, a.points)
    else:
        profile = demo(DEMO_SITES if a.kind == "demo" else NEW_SITES)
    with open(a.out, "w", encoding="utf-8") as f:
        json.dump(profile, f, indent=None if a.kind == "big" else 1)
        f.write("\n")


if __name__ == "__main__":
    main()
