"""Cells (all runs of one workload under one configuration), medians, ratios, geometric
means, and the number formats of the report."""

import math
import statistics


def geomean(xs):
    xs = [x for x in xs if x is not None and x > 0]
    if not xs:
        return None
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


class Cell:
    """All runs of one (workload, config)."""

    def __init__(self, runs):
        self.runs = runs
        self.ok_runs = [r for r in runs if r.ok]
        self.failed = [r for r in runs if not r.ok]

    @property
    def failed_any(self):
        return bool(self.failed) or not self.runs

    def med(self, attr):
        if self.failed_any:
            return None
        return statistics.median(getattr(r, attr) for r in self.ok_runs)

    def cpu(self):
        """Median user+system time of the successful runs."""
        return statistics.median(r.user + r.sys for r in self.ok_runs)

    def spread(self, attr="wall"):
        vals = [getattr(r, attr) for r in self.ok_runs]
        if len(vals) < 2 or self.failed_any:
            return None
        return min(vals), max(vals)

    def failure_text(self):
        statuses = sorted(set(r.status for r in self.failed))
        return "FAILED %d/%d (%s)" % (len(self.failed), len(self.runs), ", ".join(statuses))


def cells_for(runs, prefix=""):
    by = {}
    for r in runs:
        if prefix:
            if not r.workload.startswith(prefix):
                continue
            name = r.workload[len(prefix):]
        else:
            if ":" in r.workload:
                continue
            name = r.workload
        by.setdefault((name, r.config), []).append(r)
    return {k: Cell(v) for k, v in by.items()}


def med(cells, name, config, attr="wall"):
    """The cell's median, or None when it did not run or a run failed."""
    cell = cells.get((name, config))
    return cell.med(attr) if cell is not None else None


def ratio(a, b):
    """a / b, or None without both figures."""
    return a / b if a is not None and b else None


# --------------------------------------------------------------------------
# Formats

def fmt_time(x):
    if x is None:
        return "–"
    return "%.3f" % x if x < 10 else "%.2f" % x


def fmt_ratio(x):
    return "–" if x is None else "%.2f×" % x


def fmt_mib(kib):
    return "–" if kib is None else "%.1f" % (kib / 1024.0)


def cell_text(cell, attr, fmt):
    if cell is None:
        return "not run"
    if cell.failed_any:
        return cell.failure_text()
    return fmt(cell.med(attr))


def unusable_text(cell):
    """The text for a cell without figures ('not run' or FAILED), None if it has them."""
    if cell is None:
        return "not run"
    if cell.failed_any:
        return cell.failure_text()
    return None


def count_note(have, of):
    """' (3 of 5)' when some figures are missing, '' otherwise."""
    return "" if have == of else " (%d of %d)" % (have, of)


def gm_text(values):
    """Geometric mean of the figures there are, noting how many were missing."""
    have = [v for v in values if v is not None]
    return fmt_ratio(geomean(have)) + count_note(len(have), len(values))
