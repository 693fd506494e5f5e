#!/usr/bin/python3
"""memf-report pprof read back by its real consumers: the file decoded with the classes protoc
generates from pprof's own profile.proto (python3-protobuf), then read by the pprof tool built
from Debian's source. Runs under Debian's python3 (it has the protobuf module).

    check_pprof.py --report tools/memf-report --make-profile tests/report/make_profile.py --cache DIR
"""
import gzip
import json
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import consumers  # noqa: E402
from checks import arguments, check, finish, make_profile  # noqa: E402

SAMPLE_TYPES = [("alloc_objects", "count", "allocations"), ("alloc_space", "bytes", "allocated_bytes"),
                ("inuse_objects", "count", "live"), ("inuse_space", "bytes", "live_bytes")]


def write_pprof(profile_path, out):
    r = subprocess.run([sys.executable, ARGS.report, "pprof", "-o", out, profile_path], capture_output=True, text=True)
    check(r.returncode == 0 and os.path.exists(out), f"memf-report pprof -o {os.path.basename(out)}", r.stderr)


def frame_name(frame):
    if frame["function"] == "?":
        return f"{os.path.basename(frame['module'])}+{frame['offset']:#x}"
    return frame["function"]


def decoded(pb2, path, profile, profile_path):
    pb = pb2.Profile()
    with gzip.open(path) as f:
        pb.ParseFromString(f.read())
    strings = pb.string_table
    check(strings[0] == "", "protoc: the string table starts with the empty string")
    types = [(strings[t.type], strings[t.unit]) for t in pb.sample_type]
    check(types == [(n, u) for n, u, _ in SAMPLE_TYPES], "protoc: sample types alloc_objects/count, alloc_space/bytes, "
          "inuse_objects/count, inuse_space/bytes, in that order", types)
    check((strings[pb.period_type.type], strings[pb.period_type.unit]) == ("space", "bytes"), "protoc: period type space/bytes")
    expected_period = profile["sample_bytes"] if profile["mode"] == "sampled" else 0
    check(pb.period == expected_period, f"protoc: period {expected_period} in {profile['mode']} mode", pb.period)
    check(strings[pb.default_sample_type] == "alloc_space", "protoc: default sample type alloc_space")
    check(pb.duration_nanos == int(profile["duration"] * 1e9), "protoc: duration_nanos", pb.duration_nanos)
    start = os.stat(profile_path).st_mtime_ns - int(profile["duration"] * 1e9)
    check(pb.time_nanos == start, "protoc: time_nanos is the start (the file's time less the duration)",
          (pb.time_nanos, start))
    check([strings[c] for c in pb.comment] == [f"memf heap profile of /usr/bin/demo (pid 4242), {profile['mode']} mode"],
          "protoc: the comment names program, pid and mode")

    for i, (name, _, field) in enumerate(SAMPLE_TYPES):
        total = sum(s.value[i] for s in pb.sample)
        expected = sum(s[field] for s in profile["sites"])
        check(total == expected, f"protoc: the {name} values add up to the sites' {field} ({expected})", total)
    with_values = [s for s in profile["sites"] if any(s[f] for _, _, f in SAMPLE_TYPES)]
    check(len(pb.sample) == len(with_values), "protoc: one sample per site with figures", len(pb.sample))

    mappings = {m.id: m for m in pb.mapping}
    modules = [strings[m.filename] for m in pb.mapping]
    check(modules[0] == profile["program"] and sorted(modules) == sorted({f["module"] for f in profile["frames"]}),
          "protoc: one mapping per module, with its file name, the program first", modules)
    check(all(m.has_functions and m.has_filenames and m.has_line_numbers and m.has_inline_frames for m in pb.mapping),
          "protoc: the mappings say they are symbolized")
    functions = {f.id: f for f in pb.function}
    locations = {loc.id: loc for loc in pb.location}
    check(len(locations) == len(pb.location) and all(loc.mapping_id in mappings or
                                                      strings[functions[loc.line[0].function_id].name].startswith("(no ")
                                                      for loc in pb.location),
          "protoc: locations with distinct ids, each in a mapping (but the stackless site's)")
    pcs = [(loc.address, loc.mapping_id) for loc in pb.location if loc.address]
    check(len(pcs) == len(set(pcs)), "protoc: one location per address")

    # Each sample, its locations' lines expanded, gives back the site's stack, innermost first.
    frames = profile["frames"]
    stacks_ok, inline_ok = True, True
    for sample, site in zip(pb.sample, with_values):
        expanded = []
        for lid in sample.location_id:
            loc = locations[lid]
            for line in loc.line:
                f = functions[line.function_id]
                expanded.append((strings[f.name], strings[f.filename], line.line, loc.address))
        expected = [(frame_name(frames[i]), frames[i]["file"] or "", frames[i]["line"], frames[i]["pc"]) for i in site["stack"]]
        if not site["stack"]:
            expected = [("(no allocation stack recorded)", "", 0, 0)]
        stacks_ok &= expanded == expected
        values_ok = list(sample.value) == [site[f] for _, _, f in SAMPLE_TYPES]
        stacks_ok &= values_ok
        # A frame marked inlined shares its location with the frame after it.
        inlined = sum(1 for i in site["stack"] if frames[i]["inlined"])
        inline_ok &= len(sample.location_id) == max(len(site["stack"]) - inlined, 1)
    check(stacks_ok, "protoc: every sample's lines are its site's stack (function, file, line, address) and its values the site's")
    check(inline_ok, "protoc: inlined frames are lines of the location of the frame they are inlined into")
    by_function = {strings[functions[loc.line[0].function_id].name]: loc for loc in pb.location}
    strdup = by_function["json_strdup"]
    check([(strings[functions[ln.function_id].name], ln.line) for ln in strdup.line] == [("json_strdup", 12), ("parse_value", 55)],
          "protoc: json_strdup's location: json_strdup:12 inlined into parse_value:55")
    tree = [s for s in pb.sample if strings[functions[locations[s.location_id[0]].line[0].function_id].name] == "walk_tree"]
    check(len(tree) == 1 and len(tree[0].location_id) == 5 and len(set(tree[0].location_id[:3])) == 1
          and len(locations[tree[0].location_id[0]].line) == 1,
          "protoc: the recursion walk_tree <- walk_tree <- walk_tree is three calls of one location, not one location of three lines")
    unknown = by_function["demo+0x1234"]
    check(strings[mappings[unknown.mapping_id].filename] == "/usr/bin/demo" and unknown.address == 0x555555554000 + 0x1234,
          "protoc: a frame without a function is module+offset, in its module's mapping")
    program = mappings[by_function["main"].mapping_id]
    check(program.memory_start == 0x555555554000 and program.memory_start <= by_function["main"].address < program.memory_limit,
          "protoc: the program's mapping starts at its load address and holds its addresses")


def pprof_tool(tool, path, profile):
    def run(*args):
        r = subprocess.run([tool] + list(args) + [path], capture_output=True, text=True, timeout=60)
        check(r.returncode == 0, f"pprof {' '.join(args)}: exit 0", r.stderr)
        return r.stdout

    out = run("-top", "-sample_index=alloc_space", "-unit=B", "-nodefraction=0")
    total = sum(s["allocated_bytes"] for s in profile["sites"])
    check("Type: alloc_space" in out and f"Total samples = {total}B" in out,
          f"pprof -top -sample_index=alloc_space: type and total {total}B", out)
    flat = {m.group(2): int(m.group(1)) for m in re.finditer(r"^\s*(\d+)B\s.*?%\s+\S+\s+\S+%\s+(.+?)\s*$", out, re.M)}
    expected = {"grow_vector (inline)": 41943040, "cache_insert": 16384000, "log_line": 5760000,
                "json_strdup (inline)": 3200000, "walk_tree": 288000, "demo+0x1234": 40960,
                "(no allocation stack recorded)": 1280, "visit": 700}
    check(all(flat.get(k) == v for k, v in expected.items()),
          "pprof -top: each allocating function with its bytes (inlined ones marked, template arguments dropped)", flat)
    cum = re.search(r"^\s*0\s+0%\s+\S+%\s+(\d+)B\s+\S+%\s+main$", out, re.M)
    check(cum and int(cum.group(1)) == total - 1280, "pprof -top: main's cumulative bytes are all but the stackless", out)
    out = run("-top", "-sample_index=inuse_objects", "-nodefraction=0")
    check("Type: inuse_objects" in out and "Total samples = 1314" in out and re.search(r"^\s*800\s.*\scache_insert$", out, re.M),
          "pprof -top -sample_index=inuse_objects: 1314 blocks, 800 at cache_insert", out)
    out = run("-traces", "-sample_index=alloc_objects")
    traces = [block.split("\n") for block in out.split("-----------+-------------------------------------------------------")]
    frames_of = {}
    for block in traces:
        lines = [line for line in block if line.strip()]
        if lines and re.match(r"\s*\d+\s+\S", lines[0]):
            value, first = lines[0].split(None, 1)
            frames_of[first.strip()] = (int(value), [line.strip() for line in lines[1:]])
    check(frames_of.get("json_strdup (inline)") == (50000, ["parse_value", "parse_json", "handle_request", "run_server", "main",
                                                            "libc.so.6+0x29d90"]),
          "pprof -traces: json_strdup (inline) <- parse_value <- ... <- libc.so.6+0x29d90, 50000 blocks", frames_of)
    check(frames_of.get("walk_tree") == (3000, ["walk_tree", "walk_tree", "main", "libc.so.6+0x29d90"]),
          "pprof -traces: the recursion three frames deep", frames_of.get("walk_tree"))


def main():
    global ARGS
    ARGS = arguments("--cache")  # --cache: where the pprof tool is built, once
    try:
        consumers.require("protoc", "go")
    except consumers.Missing as e:
        check(False, str(e))
        finish()
    with tempfile.TemporaryDirectory() as tmp:
        exact = os.path.join(tmp, "demo.json")
        make_profile(ARGS, "demo", exact)
        with open(exact) as f:
            profile = json.load(f)
        sampled = os.path.join(tmp, "sampled.json")
        with open(sampled, "w") as f:
            json.dump(dict(profile, mode="sampled", sample_bytes=4096), f)
        pb2 = consumers.profile_pb2(os.path.join(tmp, "proto"))
        write_pprof(exact, os.path.join(tmp, "demo.pb.gz"))
        decoded(pb2, os.path.join(tmp, "demo.pb.gz"), profile, exact)
        write_pprof(sampled, os.path.join(tmp, "sampled.pb.gz"))
        pb = pb2.Profile()
        with gzip.open(os.path.join(tmp, "sampled.pb.gz")) as f:
            pb.ParseFromString(f.read())
        check(pb.period == 4096, "protoc: period sample_bytes (4096) in sampled mode", pb.period)
        tool = consumers.build_pprof(ARGS.cache)
        pprof_tool(tool, os.path.join(tmp, "demo.pb.gz"), profile)
    finish()


if __name__ == "__main__":
    main()
