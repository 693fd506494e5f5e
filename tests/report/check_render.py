#!/usr/bin/env python3
"""memf-report's flame graph and timeline as a browser shows them: headless Chromium takes a
screenshot (it must not be blank: colours, the frames' and the lines' colours present) and dumps
the DOM after the page's script ran (frame names, the controls; the search run from the URL,
from Ctrl-F and from a click on Search; a click that zooms and one that resets).

    check_render.py --report tools/memf-report --make-profile tests/report/make_profile.py
"""
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import consumers  # noqa: E402
from checks import arguments, check, finish, make_profile  # noqa: E402

HIGHLIGHT = (0xE0, 0x40, 0xFB)  # the search's colour in flame.py


def browser(*args):
    return consumers.chromium(os.path.join(TMP, "chromium"), *args)


def screenshot(url, name, size):
    shot = os.path.join(TMP, name)
    browser(f"--screenshot={shot}", f"--window-size={size}", url)
    check(os.path.exists(shot), f"chromium: a screenshot of {url.rsplit('/', 1)[-1]}")
    return consumers.png_pixels(shot) if os.path.exists(shot) else (1, 1, [[(255, 255, 255)]])


def with_script(svg_path, name, script):
    """A copy of the flame graph with a script run after its own (the test's harness)."""
    with open(svg_path, encoding="utf-8") as f:
        text = f.read()
    path = os.path.join(TMP, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text.replace("</svg>", f"<script><![CDATA[{script}]]></script></svg>"))
    return "file://" + path


def frame_group(dom, name):
    """The <g> of the frame named name in a dumped DOM (its attributes and content)."""
    m = re.search(r'<g class="f"[^>]*data-name="' + re.escape(name) + r'"[^>]*>.*?</g>', dom, re.S)
    return m.group(0) if m else ""


def rect_width(group):
    m = re.search(r'<rect[^>]*\swidth="([0-9.]+)"', group)
    return float(m.group(1)) if m else -1


def flame():
    r = subprocess.run([sys.executable, ARGS.report, "flame", "-o", "flame.svg", "demo.json"], cwd=TMP,
                       capture_output=True, text=True)
    check(r.returncode == 0, "memf-report flame -o flame.svg", r.stderr)
    svg = os.path.join(TMP, "flame.svg")
    image = screenshot("file://" + svg, "flame.png", "1200,260")
    colours, share = consumers.png_colours(image)
    check(len(colours) >= 20 and share > 0.5, f"flame screenshot: not blank ({len(colours)} colours, "
          f"{100 * share:.0f}% not white)")
    check(consumers.pixels_near(image, (0xC8, 0xC8, 0xC8), 2) > 10000, "flame screenshot: the root's grey bar drawn")
    check(consumers.pixels_near(image, HIGHLIGHT, 8) == 0, "flame screenshot: nothing highlighted before a search")

    dom = browser("--dump-dom", "file://" + svg).stdout
    for name in ("all", "main", "handle_request", "json_strdup", "parse_value", "grow_vector", "libc.so.6+0x29d90",
                 "demo+0x1234"):
        check(frame_group(dom, name) != "", f"flame DOM: frame {name}")
    check('id="search"' in dom and 'id="reset"' in dom and 'id="matched"' in dom, "flame DOM: Search, Reset zoom, the match line")
    check("<title>cache_insert (cache.c:70, /usr/bin/demo): 15.6 MiB (24.23%)</title>" in dom, "flame DOM: a tooltip")

    # The search from the URL: the three frames of the parse path turn magenta, the share shows.
    url = "file://" + svg + "#search=" + "%5E(parse%7Cjson)"
    dom = browser("--dump-dom", url).stdout
    lit = sorted(re.findall(r'data-name="([^"]+)"[^>]*>(?:(?!</g>).)*?fill="#e040fb"', dom, re.S))
    check(lit == ["json_strdup", "parse_json", "parse_value"], "search '^(parse|json)': the three frames highlighted", lit)
    check("Matched: 4.7% of the total (3 frames)" in dom, "search: the matched share (3.1 of 64.5 MiB) shown")
    image = screenshot(url, "searched.png", "1200,260")
    check(consumers.pixels_near(image, HIGHLIGHT, 8) > 300, "search: magenta on the screenshot")

    # Ctrl-F and the Search button ask with prompt(); the harness answers it.
    script = ("window.prompt = function () { return 'log_line|cache'; };"
              "document.dispatchEvent(new KeyboardEvent('keydown', {key: 'f', ctrlKey: true}));")
    dom = browser("--dump-dom", with_script(svg, "ctrlf.svg", script)).stdout
    check("Matched: 32.7% of the total (2 frames)" in dom and 'fill="#e040fb"' in frame_group(dom, "log_line"),
          "Ctrl-F: the search asked for and done (log_line and cache_insert, 32.7%)", re.findall(r"Matched[^<]*", dom))
    script = ("window.prompt = function () { return 'walk_tree'; };"
              "document.getElementById('search').dispatchEvent(new MouseEvent('click', {bubbles: true}));")
    dom = browser("--dump-dom", with_script(svg, "button.svg", script)).stdout
    check("Matched: 0.4% of the total (3 frames)" in dom, "Search button: the recursion's three frames matched once "
          "(0.4%)", re.findall(r"Matched[^<]*", dom))
    script = ("window.prompt = function () { return '(' };"
              "document.getElementById('search').dispatchEvent(new MouseEvent('click', {bubbles: true}));")
    dom = browser("--dump-dom", with_script(svg, "badre.svg", script)).stdout
    check("<svg" in dom and 'fill="#e040fb"' not in dom, "Search: a bad regular expression matches nothing, breaks nothing")

    # A click on handle_request zooms: it fills the width, what it called spreads, its callers
    # stay below full width, the rest is hidden; a click on the root resets.
    click = "function click(n) { document.querySelector('g[data-name=\"' + n + '\"]').dispatchEvent(new MouseEvent('click', {bubbles: true})); }"
    dom = browser("--dump-dom", with_script(svg, "zoom.svg", click + "click('handle_request');")).stdout
    widths = {n: rect_width(frame_group(dom, n)) for n in ("handle_request", "run_server", "main", "cache_insert")}
    hidden = "display: none" in frame_group(dom, "build_index") and "display: none" in frame_group(dom, "grow_vector")
    check(widths["handle_request"] == 1180 and widths["run_server"] == 1180 and widths["main"] == 1180
          and 700 < widths["cache_insert"] < 780 and hidden,
          "click: zoomed into handle_request (1180 px; cache_insert 15.6 of 24.2 MiB of it), build_index hidden", widths)
    image = screenshot(with_script(svg, "zoomshot.svg", click + "click('handle_request');"), "zoom.png", "1200,260")
    check(consumers.png_colours(image)[1] > 0.5, "click: the zoomed graph renders")
    dom = browser("--dump-dom", with_script(svg, "reset.svg", click + "click('handle_request'); click('all');")).stdout
    check(abs(rect_width(frame_group(dom, "grow_vector")) - 731.95) < 0.1 and "display: none" not in frame_group(dom, "build_index"),
          "click on the root: back to the whole graph", rect_width(frame_group(dom, "grow_vector")))


def timeline():
    for name in ("timeline.html", "timeline.svg"):
        r = subprocess.run([sys.executable, ARGS.report, "timeline", "-o", name, "demo.json"], cwd=TMP,
                           capture_output=True, text=True)
        check(r.returncode == 0, f"memf-report timeline -o {name}", r.stderr)
        url = "file://" + os.path.join(TMP, name)
        image = screenshot(url, name + ".png", "1200,800")
        colours, share = consumers.png_colours(image)
        check(len(colours) >= 20 and share > 0.03, f"{name} screenshot: not blank ({len(colours)} colours, "
              f"{100 * share:.1f}% not white)")
        for colour, what in (((0x1A, 0x5F, 0xB4), "live bytes (blue)"), ((0xC0, 0x1C, 0x28), "RSS and the peak (red)"),
                             ((0xE6, 0x61, 0x00), "pressure marks and a category (orange)")):
            check(consumers.pixels_near(image, colour, 30) > 200, f"{name} screenshot: {what} drawn")
        dom = browser("--dump-dom", url).stdout
        check(dom.count("<polyline") == 5 and "live bytes" in dom and "resident (RSS)" in dom and "category cache" in dom,
              f"{name} DOM: five series and their legend")
        check(dom.count('class="event"') == 3 and "level high (limit 40.0 MiB)" in dom and ">peak 28.5 MiB<" in dom,
              f"{name} DOM: three event marks, the peak")
        check(">24.0 MiB<" in dom and ">1.5 s<" in dom, f"{name} DOM: axis labels in MiB and seconds")


def main():
    global ARGS, TMP
    ARGS = arguments()
    try:
        consumers.require("chromium")
    except consumers.Missing as e:
        check(False, str(e))
        finish()
    with tempfile.TemporaryDirectory() as tmp:
        TMP = tmp
        make_profile(ARGS, "demo", os.path.join(tmp, "demo.json"))
        flame()
        timeline()
    finish()


if __name__ == "__main__":
    main()
