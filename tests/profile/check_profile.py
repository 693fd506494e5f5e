#!/usr/bin/env python3
"""The heap profile of a program whose allocations are known (profile_program.c), preloaded.

Exact mode must give every site's figures exactly (the peak snapshot within its 1/64 bound);
sampled mode must estimate them within the bounds its sample counts allow, with the process
totals still exact; the live dump must answer the same user and nobody else; the timeline must
have points over the run and the pressure monitor's marks.
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "report"))
from checks import check, finish  # noqa: E402  (tests/report: one line per check, the exit status)


def run(args, env_extra, cwd):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMF_")}
    env.update(env_extra)
    env["LD_PRELOAD"] = ARGS.lib
    return subprocess.run([ARGS.program] + args, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


def sites_by_function(profile):
    """{site function: site} for sites whose first frame is one of the program's site_ functions."""
    out = {}
    for site in profile["sites"]:
        names = [profile["frames"][i]["function"] for i in site["stack"]]
        first = next((n for n in names if n.startswith("site_")), None)
        if first and names and names[0] == first:
            out.setdefault(first, []).append(site)
    merged = {}
    for name, group in out.items():
        merged[name] = {k: sum(s[k] for s in group) for k in group[0] if k != "stack"}
    return merged


def near(value, expected, tolerance):
    return abs(value - expected) <= tolerance * expected


def exact_mode(tmp):
    path = os.path.join(tmp, "exact.json")
    r = run(["phases"], {"MEMF_PROFILE": "exact", "MEMF_PROFILE_FILE": path}, tmp)
    check(r.returncode == 0, f"exact: program exits 0 (got {r.returncode}; stderr {r.stderr[-300:]!r})")
    check(f"heap profile written to {path}" in r.stderr, "exact: stderr names the profile file")
    profile = json.load(open(path))
    check(profile["memf_profile"] == 1 and profile["mode"] == "exact" and profile["sample_bytes"] == 0,
          "exact: format 1, mode exact, sample_bytes 0")
    check(profile["reason"] == "exit", "exact: reason exit")
    sites = sites_by_function(profile)
    t = sites.get("site_temporary", {})
    check(t.get("allocations") == 100000 and t.get("allocated_bytes") == 6400000, f"exact: site_temporary 100000 x 64 B ({t})")
    check(t.get("frees") == 100000 and t.get("live") == 0 and t.get("peak") == 0, "exact: site_temporary all freed, none at the peak")
    check(t.get("temporary") == 100000, f"exact: site_temporary all 100000 temporary (got {t.get('temporary')})")
    k = sites.get("site_kept", {})
    check(k.get("allocations") == 2000 and k.get("allocated_bytes") == 2000000 and k.get("frees") == 2000,
          f"exact: site_kept 2000 x 1000 B, all freed ({k})")
    check(k.get("peak") == 2000 and k.get("peak_bytes") == 2000000, "exact: site_kept all 2000 live at the peak")
    check(k.get("temporary") == 0, "exact: site_kept none temporary")
    g = sites.get("site_large", {})
    check(g.get("allocations") == 50 and g.get("allocated_bytes") == 5000000 and g.get("peak") == 50,
          f"exact: site_large 50 x 100000 B, all live at the peak ({g})")
    p = sites.get("site_peak", {})
    check(p.get("allocations") == 4096 and p.get("allocated_bytes") == 4096 * 4096, f"exact: site_peak 4096 x 4096 B (calloc) ({p})")
    true_peak = 2000000 + 5000000 + 4096 * 4096
    check(p.get("peak_bytes", 0) <= 4096 * 4096 and p.get("peak_bytes", 0) >= 4096 * 4096 - true_peak / 64,
          f"exact: site_peak at the peak within 1/64 of the total ({p.get('peak_bytes')})")
    a = sites.get("site_after", {})
    check(a.get("allocations") == 1000 and a.get("live") == 1000 and a.get("live_bytes") == 100000 and a.get("peak") == 0,
          f"exact: site_after 1000 x 100 B live at exit, none at the peak ({a})")
    total_peak = sum(s["peak_bytes"] for s in profile["sites"])
    check(true_peak * (1 - 1 / 64) <= total_peak <= true_peak * 1.01 + 200000,
          f"exact: the peak snapshot holds {total_peak} B, the program's peak is {true_peak} B")
    check(profile["totals"]["peak_bytes"] >= true_peak, "exact: the process peak is at least the program's")
    frames = profile["frames"]
    kept_frame = next(f for f in frames if f["function"] == "site_kept")
    check(kept_frame["file"] and kept_frame["file"].endswith("profile_program.c") and kept_frame["line"] > 0,
          "exact: frames carry file and line")
    timeline = profile["timeline"]
    points = timeline["points"]
    check(len(points) >= 8, f"exact: the timeline has points over the run ({len(points)})")
    check(all(points[i][0] <= points[i + 1][0] for i in range(len(points) - 1)), "exact: timeline times increase")
    check(max(pt[1] for pt in points) >= true_peak * 0.9, "exact: the timeline reaches the peak")
    check(points[-1][1] < true_peak / 4, "exact: the timeline's last point is after the frees")
    check(timeline["categories"] and timeline["categories"][0] == "Unknown", "exact: the timeline's first category is Unknown")
    return profile


def sampled_mode(tmp, exact):
    path = os.path.join(tmp, "sampled.json")
    r = run(["phases"], {"MEMF_PROFILE": "sampled", "MEMF_PROFILE_SAMPLE": "2048", "MEMF_PROFILE_FILE": path}, tmp)
    check(r.returncode == 0, "sampled: program exits 0")
    profile = json.load(open(path))
    check(profile["mode"] == "sampled" and profile["sample_bytes"] == 2048, "sampled: mode and sample_bytes")
    check(profile["totals"]["allocations"] == exact["totals"]["allocations"] and
          profile["totals"]["allocated_bytes"] == exact["totals"]["allocated_bytes"],
          f"sampled: the process totals are exact ({profile['totals']['allocations']} = {exact['totals']['allocations']})")
    sites = sites_by_function(profile)
    # Expected samples: 6.4 MB / 2 KiB = 3125 (sd 1.8%); 2 MB: 977 (3.2%); 16 MiB: 8192 (1.1%).
    t, k, g, p = (sites.get(n, {}) for n in ("site_temporary", "site_kept", "site_large", "site_peak"))
    check(near(t.get("allocated_bytes", 0), 6400000, 0.10), f"sampled: site_temporary bytes within 10% ({t.get('allocated_bytes')})")
    check(near(t.get("allocations", 0), 100000, 0.10), f"sampled: site_temporary count within 10% ({t.get('allocations')})")
    check(near(t.get("temporary", 0), 100000, 0.10), f"sampled: site_temporary temporaries within 10% ({t.get('temporary')})")
    check(near(k.get("allocated_bytes", 0), 2000000, 0.12), f"sampled: site_kept bytes within 12% ({k.get('allocated_bytes')})")
    check(near(g.get("allocated_bytes", 0), 5000000, 0.01), f"sampled: site_large (always sampled at this size) ({g.get('allocated_bytes')})")
    check(near(p.get("allocated_bytes", 0), 4096 * 4096, 0.06), f"sampled: site_peak bytes within 6% ({p.get('allocated_bytes')})")
    check(near(p.get("peak_bytes", 0), 4096 * 4096, 0.08), f"sampled: site_peak at the peak within 8% ({p.get('peak_bytes')})")
    check(k.get("live", 1) == 0 and p.get("live", 1) == 0, "sampled: freed sites have nothing live")


def default_mode(tmp):
    r = run(["phases"], {"MEMF_PROFILE": "1"}, tmp)
    files = [f for f in os.listdir(tmp) if f.startswith("memf-profile.") and f.endswith(".json")]
    check(r.returncode == 0 and len(files) == 1, f"default: one memf-profile.<pid>.json in the working directory ({files})")
    if files:
        profile = json.load(open(os.path.join(tmp, files[0])))
        check(profile["mode"] == "sampled" and profile["sample_bytes"] == 524288, "default: sampled, 512 KiB")
        check(files[0] == f"memf-profile.{profile['pid']}.json", "default: the file is named after the pid")
    r = run(["phases"], {"MEMF_PROFILE": "sometimes", "MEMF_PROFILE_FILE": os.path.join(tmp, "bad.json")}, tmp)
    check("MEMF_PROFILE=sometimes is not off, sampled (1) or exact" in r.stderr, "bad MEMF_PROFILE: one warning")
    check(not os.path.exists(os.path.join(tmp, "bad.json")), "bad MEMF_PROFILE: no profile")
    r = run(["phases"], {"MEMF_PROFILE": "exact", "MEMF_PROFILE_FILE": os.path.join(tmp, "no", "such", "dir.json")}, tmp)
    check(r.returncode == 0 and "cannot write the heap profile" in r.stderr, "unwritable MEMF_PROFILE_FILE: a warning, exit 0")


def libc_frames(profile):
    return sorted((f["function"], f["file"] or "", f["line"], f["offset"]) for f in profile["frames"]
                  if "libc.so" in f["module"])


def elf_build_id(path):
    """The GNU build-id note of an ELF file, in hex (read with readelf, from binutils)."""
    out = subprocess.run(["readelf", "-n", path], capture_output=True, text=True).stdout
    return next(line.split()[-1] for line in out.splitlines() if "Build ID" in line)


def debug_cache(tmp):
    """Compressed debug files are read through a decompressed copy kept between runs: made by the
    first report in the user's cache directory, used by the next, the frames the same as without."""
    home = os.path.join(tmp, "home")
    os.mkdir(home)
    libc = next(line.split()[-1] for line in open("/proc/self/maps") if "/libc.so" in line)
    copy = os.path.join(home, ".cache", "memf", "debug", elf_build_id(libc) + ".debug")
    profiles = {}
    for name, extra in (("off", {"MEMF_DEBUG_CACHE": "off"}), ("making", {}), ("using", {})):
        path = os.path.join(tmp, f"cache-{name}.json")
        env = {"MEMF_PROFILE": "exact", "MEMF_PROFILE_FILE": path, "HOME": home, "XDG_CACHE_HOME": ""}
        env.update(extra)
        r = run(["phases"], env, tmp)
        check(r.returncode == 0, f"debug cache, {name}: exit 0 ({r.stderr[-300:]!r})")
        profiles[name] = json.load(open(path))
        if name == "off":
            check(not os.path.exists(os.path.join(home, ".cache")), "debug cache off: nothing written under HOME")
        if name == "making":
            check(os.path.isfile(copy), f"debug cache: libc's decompressed debug file is {copy}")
            copied = os.stat(copy)
        if name == "using":
            now = os.stat(copy)
            check((now.st_ino, now.st_mtime_ns) == (copied.st_ino, copied.st_mtime_ns),
                  "debug cache: the second run left the copy as the first made it (not written again)")
    named = [f for f in libc_frames(profiles["off"]) if f[1]]
    check(named, f"debug cache: libc frames have files and lines without it (libc6-dbg) ({libc_frames(profiles['off'])[:3]})")
    check(libc_frames(profiles["making"]) == libc_frames(profiles["off"]) == libc_frames(profiles["using"]),
          "debug cache: libc's frames are the same without the copy, making it and reading it")
    r = run(["phases"], {"MEMF_DEBUG_CACHE": "relative/dir", "HOME": home}, tmp)
    check("MEMF_DEBUG_CACHE=relative/dir is not off, on or an absolute directory" in r.stderr,
          "debug cache: a relative MEMF_DEBUG_CACHE gets a warning")


def ask(sock_path, request):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(sock_path)
    s.sendall(request.encode() + b"\n")
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    return data.decode()


def dump(tmp):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMF_")}
    env.update({"LD_PRELOAD": ARGS.lib, "MEMF_PROFILE": "exact", "MEMF_DUMP": "1",
                "MEMF_PROFILE_FILE": os.path.join(tmp, "wait.json")})
    proc = subprocess.Popen([ARGS.program, "wait"], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline().split()
    pid = int(line[1])
    sock_path = f"/tmp/memf-{os.geteuid()}/{pid}.sock"
    deadline = time.time() + 10
    while not os.path.exists(sock_path) and time.time() < deadline:
        time.sleep(0.05)
    check(os.path.exists(sock_path), f"dump: the socket {sock_path} exists")
    st = os.stat(os.path.dirname(sock_path))
    check(st.st_mode & 0o077 == 0 and st.st_uid == os.geteuid(), "dump: its directory is the user's, mode 0700")
    profile = json.loads(ask(sock_path, "profile"))
    check(profile["reason"] == "dump" and profile["pid"] == pid, "dump: profile answered by the running process")
    kept = sites_by_function(profile).get("site_kept", {})
    check(kept.get("live") == 2000, f"dump: site_kept's 2000 blocks live now ({kept.get('live')})")
    leaks = json.loads(ask(sock_path, "leaks"))
    check(leaks.get("memf_report") == 1, "dump: leaks answered with a leak report")
    stats = ask(sock_path, "stats")
    check("memf" in stats and len(stats) > 40, "dump: stats answered with the summary")
    bad = json.loads(ask(sock_path, "nonsense"))
    check("error" in bad, "dump: an unknown request gets an error")
    # The same through memf-report dump.
    out = os.path.join(tmp, "dumped.json")
    r = subprocess.run([sys.executable, ARGS.report, "dump", str(pid), "profile", "-o", out], capture_output=True, text=True)
    check(r.returncode == 0 and json.load(open(out))["reason"] == "dump", "memf-report dump PID profile -o FILE")
    r = subprocess.run([sys.executable, ARGS.report, "top", out], capture_output=True, text=True)
    check(r.returncode == 0 and "site_kept" in r.stdout, "memf-report top reads the dumped profile")
    r = subprocess.run([sys.executable, ARGS.report, "dump", str(pid), "stats"], capture_output=True, text=True)
    check(r.returncode == 0 and f"pid {pid}" in r.stdout, "memf-report dump PID stats prints the summary")
    r = subprocess.run([sys.executable, ARGS.report, "dump", str(os.getpid())], capture_output=True, text=True)
    check(r.returncode == 2 and "does not answer dumps" in r.stderr, "memf-report dump of a process without MEMF_DUMP: exit 2")
    if os.geteuid() == 0:
        # Another user cannot reach it: the directory is closed to others.
        probe = ("import socket,sys\ns=socket.socket(socket.AF_UNIX)\n"
                 "try:\n s.connect(sys.argv[1]); print('connected')\nexcept OSError as e: print('refused', e.errno)\n")
        r = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", sys.executable, "-c", probe,
                            sock_path], capture_output=True, text=True)
        check(r.stdout.startswith("refused"), f"dump: user nobody cannot connect ({r.stdout.strip()} {r.stderr.strip()[:100]})")
    else:
        print("skip dump from another user: needs root to switch users")
    threads = len(os.listdir(f"/proc/{pid}/task"))
    check(threads == 2, f"dump: one memf thread besides the program's ({threads} threads)")
    proc.stdin.close()
    proc.wait(timeout=30)
    check(proc.returncode == 0, "dump: the program exits 0")
    check(not os.path.exists(sock_path), "dump: the socket is removed at exit")
    # Without MEMF_PROFILE or MEMF_DUMP there is no thread and no socket.
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMF_")}
    env["LD_PRELOAD"] = ARGS.lib
    proc = subprocess.Popen([ARGS.program, "wait"], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    pid = int(proc.stdout.readline().split()[1])
    threads = len(os.listdir(f"/proc/{pid}/task"))
    check(threads == 1 and not os.path.exists(f"/tmp/memf-{os.geteuid()}/{pid}.sock"),
          f"off: no memf thread, no socket ({threads} threads)")
    proc.stdin.close()
    proc.wait(timeout=30)


def pressure_marks(tmp):
    path = os.path.join(tmp, "pressure.json")
    r = run(["pressure"], {"MEMF_PROFILE": "1", "MEMF_LIMIT": "32M", "MEMF_PRESSURE": "1", "MEMF_PROFILE_FILE": path}, tmp)
    check(r.returncode == 0, "pressure: program exits 0")
    events = json.load(open(path))["timeline"]["events"]
    kinds = [e["kind"] for e in events]
    check("pressure" in kinds, f"pressure: the timeline marks level changes ({events[:3]})")
    check(any("level critical" in e["detail"] or "level moderate" in e["detail"] for e in events),
          "pressure: a mark names the level")


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True)
    ap.add_argument("--program", required=True)
    ap.add_argument("--report", required=True, help="tools/memf-report")
    ARGS = ap.parse_args()
    ARGS.report = os.path.abspath(ARGS.report)
    ARGS.lib, ARGS.program = os.path.abspath(ARGS.lib), os.path.abspath(ARGS.program)
    with tempfile.TemporaryDirectory() as tmp:
        exact = exact_mode(tmp)
        sampled_mode(tmp, exact)
    with tempfile.TemporaryDirectory() as tmp:
        default_mode(tmp)
    with tempfile.TemporaryDirectory() as tmp:
        debug_cache(tmp)
    with tempfile.TemporaryDirectory() as tmp:
        dump(tmp)
        pressure_marks(tmp)
    finish()


if __name__ == "__main__":
    main()
