"""The timeline of a heap profile as a chart: live bytes, resident bytes and each category over
time, the peak marked, and the pressure monitor's and optimizer's events as vertical marks with
their text. One SVG, standalone or inside one self-contained HTML page."""
from xml.sax.saxutils import escape

from .profile import human_bytes

WIDTH, HEIGHT = 1100, 480
LEFT, RIGHT, TOP, BOTTOM = 80, 180, 40, 50
COLOURS = ["#1a5fb4", "#c01c28", "#26a269", "#e66100", "#613583", "#865e3c", "#2ec27e", "#f5c211", "#5e5c64",
           "#99c1f1", "#f66151", "#8ff0a4", "#ffbe6f", "#dc8add", "#cdab8f", "#77767b", "#000000", "#a51d2d"]


def nice_step(span, ticks):
    raw = span / max(ticks, 1)
    magnitude = 1
    while magnitude * 10 <= raw:
        magnitude *= 10
    while magnitude > raw and magnitude > 1e-9:
        magnitude /= 10
    for m in (1, 2, 5, 10):
        if magnitude * m >= raw:
            return magnitude * m
    return raw


def byte_step(span, ticks):
    raw = span / max(ticks, 1)
    step = 1
    while step * 2 <= raw:
        step *= 2
    return step * 2 if step < raw else step


def render_svg(profile, title):
    timeline = profile.get("timeline", {})
    points = timeline.get("points", [])
    categories = timeline.get("categories", [])
    events = timeline.get("events", [])
    series = [("live bytes", [(p[0], p[1]) for p in points]), ("resident (RSS)", [(p[0], p[2]) for p in points])]
    if len(categories) > 1:  # one category is the live total again
        for i, name in enumerate(categories):
            series.append((f"category {name}", [(p[0], p[3][i] if i < len(p[3]) else 0) for p in points]))
    t_max = max([p[0] for p in points] + [e.get("time", 0) for e in events] + [profile.get("duration", 0), 1e-3])
    y_max = max([v for _, s in series for _, v in s] + [1])
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def sx(t):
        return LEFT + plot_w * t / t_max

    def sy(v):
        return TOP + plot_h * (1 - v / y_max)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{WIDTH}" height="{HEIGHT}" '
           f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
           f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
           f'<text x="{LEFT}" y="22" font-size="15">{escape(title)}</text>',
           f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="#fafafa" stroke="#888"/>']
    step = byte_step(y_max, 6)
    v = 0
    while v <= y_max:
        y = sy(v)
        out.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + plot_w}" y2="{y:.1f}" stroke="#e0e0e0"/>'
                   f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{human_bytes(v)}</text>')
        v += step
    tstep = nice_step(t_max, 8)
    t = 0.0
    while t <= t_max + 1e-12:
        x = sx(t)
        out.append(f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{TOP + plot_h}" stroke="#eeeeee"/>'
                   f'<text x="{x:.1f}" y="{TOP + plot_h + 16}" text-anchor="middle">{t:g} s</text>')
        t += tstep
    out.append(f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 8}" text-anchor="middle">seconds since start</text>')
    for i, (name, values) in enumerate(series):
        colour = COLOURS[i % len(COLOURS)]
        if values:
            path = " ".join(f"{sx(t):.1f},{sy(v):.1f}" for t, v in values)
            dash = ' stroke-dasharray="5,3"' if name.startswith("resident") else ""
            out.append(f'<polyline class="series" data-name="{escape(name)}" fill="none" stroke="{colour}" '
                       f'stroke-width="1.8"{dash} points="{path}"><title>{escape(name)}</title></polyline>')
        ly = TOP + 14 + 18 * i
        out.append(f'<line x1="{LEFT + plot_w + 12}" y1="{ly - 4}" x2="{LEFT + plot_w + 32}" y2="{ly - 4}" stroke="{colour}" '
                   f'stroke-width="3"/><text x="{LEFT + plot_w + 36}" y="{ly}">{escape(name)}</text>')
    peak = profile.get("totals", {})
    if peak.get("peak_bytes"):
        x, y = sx(peak.get("peak_time", 0)), sy(min(peak["peak_bytes"], y_max))
        out.append(f'<g class="peak"><circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="none" stroke="#c01c28" stroke-width="2"/>'
                   f'<text x="{x + 8:.1f}" y="{max(y - 6, TOP + 12):.1f}" fill="#c01c28">peak {human_bytes(peak["peak_bytes"])}</text>'
                   f'<title>peak {human_bytes(peak["peak_bytes"])} at {peak.get("peak_time", 0):.3f} s</title></g>')
    for i, e in enumerate(events):
        x = sx(e.get("time", 0))
        colour = "#e66100" if e.get("kind") == "pressure" else "#613583"
        text = f'{e.get("kind", "?")} at {e.get("time", 0):.3f} s: {e.get("detail", "")}'
        out.append(f'<g class="event"><line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{TOP + plot_h}" stroke="{colour}" '
                   f'stroke-width="1.2" stroke-dasharray="3,3"/><text x="{x + 3:.1f}" y="{TOP + 12 + 12 * (i % 8)}" '
                   f'fill="{colour}" font-size="10">{escape(e.get("kind", ""))}</text><title>{escape(text)}</title></g>')
    if not points:
        out.append(f'<text x="{LEFT + 20}" y="{TOP + 30}">no timeline points in this profile</text>')
    out.append("</svg>")
    return "\n".join(out)


def render_html(profile, title):
    events = profile.get("timeline", {}).get("events", [])
    rows = "".join(f"<tr><td>{e.get('time', 0):.3f} s</td><td>{escape(e.get('kind', ''))}</td>"
                   f"<td>{escape(e.get('detail', ''))}</td></tr>" for e in events)
    table = (f"<h2>Events</h2><table><tr><th>time</th><th>kind</th><th>what</th></tr>{rows}</table>" if events
             else "<p>No pressure or optimizer events.</p>")
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{escape(title)}</title>"
            "<style>body{font-family:sans-serif;margin:20px} table{border-collapse:collapse} "
            "td,th{border:1px solid #ccc;padding:2px 8px;font-size:13px}</style></head><body>\n"
            f"<h1>{escape(title)}</h1>\n{render_svg(profile, title)}\n{table}\n</body></html>\n")
