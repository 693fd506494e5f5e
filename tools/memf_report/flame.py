"""A flame graph of a heap profile as one self-contained SVG: the root (all sites) at the bottom,
each frame above its caller, widths proportional to the measure. Tooltips name the function,
its source line and module, the value and its share; a click zooms into a frame (click the
root to reset); "Search" (or Ctrl-F) highlights frames whose name matches and shows the share
they cover. No external script or font."""
import hashlib
from xml.sax.saxutils import escape

from .profile import MEASURES, call_tree, format_value, frame_place

WIDTH = 1200
ROW = 17
PAD_TOP = 36
PAD_BOTTOM = 24
MIN_WIDTH = 0.1  # frames narrower than this (px) are not drawn

SCRIPT = """
var svg = document.documentElement, nodes = [], matched = document.getElementById('matched');
var W = %(width)d, X0 = 10;
function all() { if (!nodes.length) nodes = Array.prototype.slice.call(document.querySelectorAll('g.f')); return nodes; }
function attr(g, n) { return parseFloat(g.getAttribute(n)); }
function place(g, x, w) {
  var r = g.querySelector('rect'), t = g.querySelector('text');
  r.setAttribute('x', x); r.setAttribute('width', Math.max(w, 0));
  t.setAttribute('x', x + 3);
  var name = g.getAttribute('data-name'), room = Math.floor((w - 6) / 7);
  t.textContent = room >= name.length ? name : (room > 2 ? name.substring(0, room - 2) + '..' : '');
  g.style.display = w < 0.1 ? 'none' : '';
}
function zoom(target) {
  // The frame fills the width, what it called spreads above it; its callers stay below, dimmed
  // (click one to zoom out to it); everything else is hidden.
  var tx = attr(target, 'data-x'), tw = attr(target, 'data-w'), depth = attr(target, 'data-d');
  var scale = (W - 2 * X0) / tw, e = 1e-6;
  all().forEach(function (g) {
    var x = attr(g, 'data-x'), w = attr(g, 'data-w'), d = attr(g, 'data-d');
    if (d < depth && x <= tx + e && x + w >= tx + tw - e) { place(g, X0, W - 2 * X0); g.style.opacity = 0.6; }
    else if (d >= depth && x >= tx - e && x + w <= tx + tw + e) { place(g, X0 + (x - tx) * scale, w * scale); g.style.opacity = 1; }
    else g.style.display = 'none';
  });
}
function reset() { all().forEach(function (g) { place(g, attr(g, 'data-x'), attr(g, 'data-w')); g.style.opacity = 1; }); }
function search(term) {
  if (term === null) return;
  var re; try { re = new RegExp(term); } catch (e) { re = null; }
  var root = document.getElementById('root');
  if (!root) return;
  var covered = [], total = attr(root, 'data-w');
  all().forEach(function (g) {
    var r = g.querySelector('rect');
    var hit = term !== '' && re && re.test(g.getAttribute('data-name'));
    r.setAttribute('fill', hit ? '#e040fb' : g.getAttribute('data-fill'));
    if (hit) covered.push([attr(g, 'data-x'), attr(g, 'data-w')]);
  });
  covered.sort(function (a, b) { return a[0] - b[0]; });
  var sum = 0, end = -1;
  covered.forEach(function (c) { var s = Math.max(c[0], end), e = c[0] + c[1]; if (e > s) sum += e - s; end = Math.max(end, e); });
  matched.textContent = term ? 'Matched: ' + (100 * sum / total).toFixed(1) + '%% of the total (' + covered.length + ' frames)' : '';
}
document.getElementById('search').addEventListener('click', function () { search(prompt('Search frames (regular expression)', '')); });
document.getElementById('reset').addEventListener('click', function () { reset(); search(''); });
all().forEach(function (g) { g.addEventListener('click', function (e) { if (g.id === 'root') reset(); else zoom(g); e.stopPropagation(); }); });
// file.svg#search=REGEXP opens with that search done.
if (location.hash.indexOf('#search=') === 0) search(decodeURIComponent(location.hash.substring(8)));
document.addEventListener('keydown', function (e) { if ((e.ctrlKey || e.metaKey) && e.key === 'f') { e.preventDefault(); search(prompt('Search frames (regular expression)', '')); } });
"""


def colour(name):
    """A warm colour from the name, so that a function keeps its colour across graphs."""
    h = hashlib.md5(name.encode("utf-8", "replace")).digest()
    return f"rgb({205 + h[0] % 50},{80 + h[1] % 130},{30 + h[2] % 50})"


def render(profile, measure, title):
    root = call_tree(profile, measure)
    total = root.value
    unit = MEASURES[measure][2]
    layers = []  # (depth, x, w, node)

    def walk(node, depth, x, scale):
        w = node.value * scale
        if w < MIN_WIDTH:
            return
        layers.append((depth, x, w, node))
        cx = x
        for child in sorted(node.children.values(), key=lambda c: c.name):
            walk(child, depth + 1, cx, scale)
            cx += child.value * scale

    if total > 0:
        walk(root, 0, 10.0, (WIDTH - 20) / total)
    depth_max = max((d for d, _, _, _ in layers), default=0)
    height = PAD_TOP + (depth_max + 1) * ROW + PAD_BOTTOM
    out = [f'<?xml version="1.0" standalone="no"?>\n'
           f'<svg version="1.1" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" '
           f'xmlns="http://www.w3.org/2000/svg">\n'
           '<style>text { font-family: monospace; font-size: 12px; fill: #000; } g.f:hover rect { stroke: #000; stroke-width: 0.5; } '
           'g.f { cursor: pointer; } .button { fill: #1a5fb4; cursor: pointer; font-size: 13px; }</style>\n'
           f'<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="#fdf6e3"/>\n'
           f'<text x="{WIDTH / 2}" y="20" text-anchor="middle" style="font-size:15px">{escape(title)}</text>\n'
           f'<text id="reset" class="button" x="10" y="20">Reset zoom</text>\n'
           f'<text id="search" class="button" x="{WIDTH - 70}" y="20">Search</text>\n'
           f'<text id="matched" x="{WIDTH - 400}" y="{height - 6}"></text>\n'
           f'<text x="10" y="{height - 6}">{escape(unit)}: {escape(format_value(total, measure))}</text>\n']
    for depth, x, w, node in layers:
        y = height - PAD_BOTTOM - (depth + 1) * ROW
        if node.frame is None:
            name, tip = node.name, f"{node.name}: {format_value(node.value, measure)} (100%)"
        else:
            name = node.name
            module = node.frame.get("module") or "?"
            share = 100.0 * node.value / total
            tip = f"{name} ({frame_place(node.frame)}, {module}): {format_value(node.value, measure)} ({share:.2f}%)"
        fill = "#c8c8c8" if depth == 0 else colour(name)
        room = int((w - 6) / 7)
        label = name if room >= len(name) else (name[:room - 2] + ".." if room > 2 else "")
        ident = ' id="root"' if depth == 0 else ""
        out.append(f'<g class="f"{ident} data-name="{escape(name, {chr(34): "&quot;"})}" data-x="{x:.3f}" data-w="{w:.3f}" '
                   f'data-d="{depth}" data-fill="{fill}"><title>{escape(tip)}</title>'
                   f'<rect x="{x:.3f}" y="{y}" width="{w:.3f}" height="{ROW - 1}" fill="{fill}" rx="2"/>'
                   f'<text x="{x + 3:.3f}" y="{y + ROW - 5}">{escape(label)}</text></g>\n')
    if not layers:
        out.append(f'<text x="{WIDTH / 2}" y="{PAD_TOP + ROW}" text-anchor="middle">no {escape(MEASURES[measure][2])} '
                   'in this profile</text>\n')
    out.append("<script><![CDATA[" + SCRIPT % {"width": WIDTH} + "]]></script>\n</svg>\n")
    return "".join(out)
