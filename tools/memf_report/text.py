"""The text views of a heap profile: top, peak, the summary, and the diff of two profiles."""
from .profile import MEASURES, describe_stack, format_value, human_bytes, measure_key, site_key, site_stack


def rows_table(out, headings, rows):
    if not rows:
        print("  none", file=out)
        return
    cells = [[str(x) for x in row] for row in rows]
    widths = [max(len(headings[i]), *(len(r[i]) for r in cells)) for i in range(len(headings) - 1)]

    def line(values):
        return "  " + "  ".join(v.rjust(w) for v, w in zip(values, widths)) + "  " + values[-1]
    print(line(headings), file=out)
    for r in cells:
        print(line(r), file=out)


def summary_lines(profile, path):
    t = profile["totals"]
    mode = profile.get("mode", "?")
    sample = profile.get("sample_bytes", 0)
    sampling = (f", sample_bytes {sample} (one sample per {human_bytes(sample)} allocated on average)" if mode == "sampled"
                else f", sample_bytes {sample} (every allocation recorded)")
    peak = profile.get("peak", {})
    return [
        f"memf heap profile {path}: pid {profile.get('pid', '?')}, {profile.get('program', '?')} "
        f"({profile.get('reason', '?')} after {profile.get('duration', 0):.2f} s)",
        f"mode: {mode}{sampling}; site figures are {'estimates' if mode == 'sampled' else 'exact'}, totals exact",
        f"totals: allocated {human_bytes(t.get('allocated_bytes', 0))} in {t.get('allocations', 0):,} blocks, "
        f"freed {human_bytes(t.get('freed_bytes', 0))} in {t.get('frees', 0):,}, "
        f"live {human_bytes(t.get('live_bytes', 0))} in {t.get('live_blocks', 0):,}, "
        f"peak {human_bytes(t.get('peak_bytes', 0))} at {t.get('peak_time', 0):.2f} s, "
        f"temporary {t.get('temporary', 0):,}",
        f"peak snapshot: {human_bytes(peak.get('bytes', 0))} live in the sites at {peak.get('time', 0):.2f} s",
    ]


def sorted_sites(profile, measure):
    key = measure_key(measure)
    return sorted((s for s in profile["sites"] if s.get(key, 0) > 0), key=lambda s: (-s.get(key, 0), -s.get("allocations", 0)))


def site_rows(profile, sites, depth):
    return [[format_value(s.get("allocated_bytes", 0), "alloc_space"), f"{s.get('allocations', 0):,}",
             format_value(s.get("live_bytes", 0), "inuse_space"), format_value(s.get("peak_bytes", 0), "peak_space"),
             f"{s.get('temporary', 0):,}", describe_stack(site_stack(profile, s), depth)] for s in sites]


SITE_HEADINGS = ["allocated", "blocks", "live", "at peak", "temporary", "site"]
# Every figure of a site: bytes and blocks allocated, freed, live, at the peak; temporaries.
FIGURES = [("allocated", "allocated_bytes", True), ("blocks", "allocations", False),
           ("freed", "freed_bytes", True), ("blocks", "frees", False),
           ("live", "live_bytes", True), ("blocks", "live", False),
           ("at peak", "peak_bytes", True), ("blocks", "peak", False),
           ("temporary", "temporary", False)]


def counted(n):
    return f"{n} site" if n == 1 else f"{n} sites"


def shown(count, n):
    return f"all {counted(n)}" if n <= count else f"top {count} of {counted(n)}"


def top(profile, path, measure, count, depth, out):
    for line in summary_lines(profile, path):
        print(line, file=out)
    key = measure_key(measure)
    sites = sorted_sites(profile, measure)
    total = sum(s.get(key, 0) for s in sites)
    print(f"\n{shown(count, len(sites))} by {measure} ({MEASURES[measure][2]}; {format_value(total, measure)} in all):",
          file=out)
    rows = []
    for s in sites[:count]:
        share = 100.0 * s.get(key, 0) / total if total else 0
        rows.append([f"{share:.1f}%"] + [human_bytes(s.get(k, 0)) if is_bytes else f"{s.get(k, 0):,}"
                                        for _, k, is_bytes in FIGURES] +
                    [describe_stack(site_stack(profile, s), depth)])
    rows_table(out, ["share"] + [h for h, _, _ in FIGURES] + ["site"], rows)


def peak(profile, path, count, depth, out):
    for line in summary_lines(profile, path):
        print(line, file=out)
    sites = sorted_sites(profile, "peak_space")
    p = profile.get("peak", {})
    total = sum(s.get("peak_bytes", 0) for s in sites)
    print(f"\nat the peak snapshot ({human_bytes(p.get('bytes', 0))} live in the sites at {p.get('time', 0):.3f} s; "
          f"the process's peak {human_bytes(p.get('process_peak_bytes', profile['totals'].get('peak_bytes', 0)))} "
          f"at {profile['totals'].get('peak_time', 0):.3f} s): {shown(count, len(sites))}", file=out)
    rows_table(out, ["share", "at peak", "blocks", "site"],
               [[f"{100.0 * s.get('peak_bytes', 0) / total:.1f}%", human_bytes(s.get("peak_bytes", 0)),
                 f"{s.get('peak', 0):,}", describe_stack(site_stack(profile, s), depth)] for s in sites[:count]])


def show(profile, path, count, depth, out):
    for line in summary_lines(profile, path):
        print(line, file=out)
    for measure in ("alloc_space", "peak_space", "inuse_space"):
        sites = sorted_sites(profile, measure)
        print(f"\n{shown(count, len(sites))} by {measure}:", file=out)
        rows_table(out, SITE_HEADINGS, site_rows(profile, sites[:count], depth))
    cats = sorted(profile.get("categories", []), key=lambda c: -c.get("peak_bytes", 0))
    if cats:
        print("\ncategories:", file=out)
        rows_table(out, ["current", "peak", "allocations", "category"],
                   [[human_bytes(c.get("current_bytes", 0)), human_bytes(c.get("peak_bytes", 0)),
                     f"{c.get('allocations', 0):,}", c.get("name", "?")] for c in cats[:count]])


def by_site(profile, measure):
    key = measure_key(measure)
    out = {}
    for s in profile["sites"]:
        k = site_key(profile, s)
        entry = out.setdefault(k, [0, site_stack(profile, s)])
        entry[0] += s.get(key, 0)
    return out


def diff(old, new, old_path, new_path, measure, count, depth, out):
    print(f"memf heap profile diff by {measure}\n  old {old_path}: {old.get('program', '?')}, pid {old.get('pid', '?')}\n"
          f"  new {new_path}: {new.get('program', '?')}, pid {new.get('pid', '?')}", file=out)
    for field in ("allocated_bytes", "allocations", "peak_bytes", "live_bytes", "temporary"):
        a, b = old["totals"].get(field, 0), new["totals"].get(field, 0)
        print(f"  {field}: {a:,} -> {b:,} ({b - a:+,})", file=out)
    before, after = by_site(old, measure), by_site(new, measure)
    rows = []
    for k in set(before) | set(after):
        a = before.get(k, [0, None])
        b = after.get(k, [0, None])
        if b[0] != a[0]:
            rows.append((b[0] - a[0], a[0], b[0], b[1] if b[1] is not None else a[1], k not in before, k not in after))
    grew = sorted((r for r in rows if r[0] > 0), key=lambda r: -r[0])
    shrank = sorted((r for r in rows if r[0] < 0), key=lambda r: r[0])

    def table(title, items):
        print(f"\n{title} ({shown(count, len(items))}):", file=out)
        rows_table(out, ["change", "growth", "old", "new", "site"],
                   [[("+" if d > 0 else "-") + format_value(abs(d), measure), f"{100.0 * d / a:+.1f}%" if a else "new",
                     format_value(a, measure), format_value(b, measure),
                     describe_stack(stack, depth) + (" (new)" if fresh else " (gone)" if gone else "")]
                    for d, a, b, stack, fresh, gone in items[:count]])
    table("sites that grew", grew)
    table("sites that shrank", shrank)
