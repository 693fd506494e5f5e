"""The charts: wall time and peak RSS relative to glibc, drawn by gnuplot."""

import json
import os
import shutil
import subprocess
import tempfile

from .common import sh


def write_chart_data(path, workloads, configs, values):
    with open(path, "w") as f:
        f.write("workload " + " ".join(configs) + "\n")
        for w in workloads:
            vals = []
            for c in configs:
                v = values.get((w, c))
                vals.append("%.5f" % v if v else "NaN")
            f.write(w + " " + " ".join(vals) + "\n")


def write_chart_script(script, gp, path, data, title, ylabel, nconfigs, note):
    terms = sh([gp, "-e", "set terminal"])
    term = "pngcairo size 1200,560 font ',10'" if "pngcairo" in terms else "png size 1200,560"
    with open(script, "w") as f:
        f.write("set terminal %s\n" % term)
        f.write("set output %s\n" % json.dumps(os.path.abspath(path)))
        f.write("set title %s\n" % json.dumps(title + (("\n" + note) if note else "")))
        f.write("set ylabel %s\n" % json.dumps(ylabel))
        f.write("set style data histograms\nset style histogram clustered gap 1\n")
        f.write("set style fill solid 0.85 border -1\nset boxwidth 0.9\n")
        f.write("set logscale y 2\nset grid ytics\nset key top left\n")
        f.write("set xtics rotate by -30 noenhanced\nset key noenhanced\n")
        f.write("set yrange [*:*]\n")
        f.write("plot for [i=2:%d] %s using i:xtic(1) title columnheader(i)\n"
                % (nconfigs + 1, json.dumps(data)))


def gnuplot_chart(path, title, ylabel, workloads, configs, values, note=None):
    """values[(workload, config)] -> number or None. Returns None or an error."""
    gp = shutil.which("gnuplot")
    if not gp:
        return "gnuplot not installed (Debian package gnuplot-nox); chart skipped"
    d = tempfile.mkdtemp(prefix="memf-chart-")
    try:
        data = os.path.join(d, "data.txt")
        write_chart_data(data, workloads, configs, values)
        script = os.path.join(d, "plot.gp")
        write_chart_script(script, gp, path, data, title, ylabel, len(configs), note)
        os.makedirs(os.path.dirname(os.path.abspath(path)) or ".", exist_ok=True)
        res = subprocess.run([gp, script], capture_output=True, text=True, timeout=60)
        if res.returncode != 0 or not os.path.exists(path):
            return "gnuplot failed: " + res.stderr.strip()[-300:]
        return None
    finally:
        shutil.rmtree(d, ignore_errors=True)


def rss_chart_path(chart):
    d, base = os.path.split(chart)
    if "time" in base:
        return os.path.join(d, base.replace("time", "rss"))
    stem, ext = os.path.splitext(base)
    return os.path.join(d, stem + "-rss" + (ext or ".png"))


def relative_to_glibc(cells, names, configs):
    """({(workload, config): time / glibc's}, {...: peak RSS / glibc's})."""
    tvals, rvals = {}, {}
    for n in names:
        g = cells.get((n, "glibc"))
        gv = g.med("wall") if g else None
        gr = g.med("maxrss_kib") if g else None
        for c in configs:
            cell = cells.get((n, c))
            if cell and gv and cell.med("wall") is not None:
                tvals[(n, c)] = cell.med("wall") / gv
            if cell and gr and cell.med("maxrss_kib") is not None:
                rvals[(n, c)] = cell.med("maxrss_kib") / gr
    return tvals, rvals


def draw_charts(chart, cells, names, configs, quick):
    """Draws the time chart at chart and the RSS chart beside it; [(title, path, error)]."""
    tvals, rvals = relative_to_glibc(cells, names, configs)
    note = "quick smoke run" if quick else None
    err = gnuplot_chart(chart, "Wall time relative to glibc (lower is better, log scale)",
                        "time / glibc time", names, configs, tvals, note)
    charts = [("Wall time relative to glibc", chart, err)]
    rss_chart = rss_chart_path(chart)
    err = gnuplot_chart(rss_chart, "Peak RSS relative to glibc (lower is better, log scale)",
                        "peak RSS / glibc peak RSS", names, configs, rvals, note)
    charts.append(("Peak RSS relative to glibc", rss_chart, err))
    return charts
