"""Reading a heap profile (docs/profile-format.md): measures, frame names, the call tree."""
import json
import os

MEASURES = {
    # name: (site key, unit, what it is)
    "alloc_space": ("allocated_bytes", "bytes", "bytes allocated"),
    "alloc_objects": ("allocations", "count", "blocks allocated"),
    "inuse_space": ("live_bytes", "bytes", "bytes live when the profile was taken"),
    "inuse_objects": ("live", "count", "blocks live when the profile was taken"),
    "peak_space": ("peak_bytes", "bytes", "bytes live at the peak snapshot"),
    "peak_objects": ("peak", "count", "blocks live at the peak snapshot"),
    "temporary": ("temporary", "count", "temporary allocations (freed with no other allocation of the thread between)"),
    "freed_space": ("freed_bytes", "bytes", "bytes freed"),
}
DEFAULT_MEASURE = "alloc_space"


class ProfileError(Exception):
    pass


def load_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as e:
        raise ProfileError(f"cannot read {path}: {e.strerror}")
    except (ValueError, UnicodeDecodeError) as e:
        raise ProfileError(f"{path} is not JSON: {e}")


def is_profile(document):
    return isinstance(document, dict) and "memf_profile" in document


def check_profile(document, path):
    if not is_profile(document):
        if isinstance(document, dict) and document.get("memf_report") == 1:
            raise ProfileError(f"{path} is a leak report, not a heap profile (write one with MEMF_PROFILE=1)")
        raise ProfileError(f"{path} is not a memf heap profile (no \"memf_profile\")")
    if document["memf_profile"] != 1:
        raise ProfileError(f"{path} is a heap profile of format {document['memf_profile']}; this memf-report reads format 1")
    for key, kind in (("frames", list), ("sites", list), ("totals", dict)):
        if not isinstance(document.get(key), kind):
            raise ProfileError(f"{path} is not a complete heap profile (no \"{key}\" {kind.__name__})")
    frames = document["frames"]
    if not all(isinstance(f, dict) for f in frames):
        raise ProfileError(f"{path}: a frame that is not an object")
    count = len(frames)
    for n, site in enumerate(document["sites"]):
        stack = site.get("stack") if isinstance(site, dict) else None
        if not isinstance(stack, list) or not all(type(i) is int and 0 <= i < count for i in stack):
            raise ProfileError(f"{path}: site {n} has no stack or one that names frames not in \"frames\" ({count})")
    document.setdefault("timeline", {"interval": 0, "categories": [], "points": [], "events": []})
    document.setdefault("categories", [])
    document.setdefault("peak", {"bytes": 0, "time": 0})
    return document


def load_profile(path):
    return check_profile(load_json(path), path)


def measure_key(measure):
    if measure not in MEASURES:
        raise ProfileError(f"unknown measure '{measure}' (measures: {', '.join(MEASURES)})")
    return MEASURES[measure][0]


def frame_name(frame):
    """The name a frame is shown with: its function, or module+offset when that is unknown."""
    function = frame.get("function") or "?"
    if function == "?":
        return f"{os.path.basename(frame.get('module') or '?')}+{frame.get('offset', 0):#x}"
    return function


def frame_place(frame):
    if frame.get("file"):
        where = os.path.basename(frame["file"])
        return f"{where}:{frame['line']}" if frame.get("line") else where
    return os.path.basename(frame.get("module") or "?")


def frame_key(frame):
    """What makes two frames the same across profiles of different runs."""
    if (frame.get("function") or "?") == "?":
        return ("?", os.path.basename(frame.get("module") or "?"), frame.get("offset", 0))
    return (frame["function"], os.path.basename(frame.get("module") or "?"), frame.get("line") or 0)


def site_stack(profile, site):
    return [profile["frames"][i] for i in site["stack"]]


def site_key(profile, site):
    return tuple(frame_key(f) for f in site_stack(profile, site))


def describe_stack(frames, depth):
    if not frames:
        return "(no allocation stack recorded)"
    # A frame without a function is named by its module already.
    shown = [frame_name(f) if (f.get("function") or "?") == "?" else f"{frame_name(f)} ({frame_place(f)})"
             for f in frames[:depth]]
    return " <- ".join(shown) + (" <- ..." if len(frames) > depth else "")


def human_bytes(n):
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def format_value(value, measure):
    return human_bytes(value) if MEASURES[measure][1] == "bytes" else f"{value:,}"


class Node:
    __slots__ = ("name", "frame", "value", "children")

    def __init__(self, name, frame):
        self.name = name
        self.frame = frame
        self.value = 0
        self.children = {}


def call_tree(profile, measure):
    """The sites' values summed into a tree from the outermost frame (root) to the allocating one."""
    key = measure_key(measure)
    root = Node("all", None)
    frames = profile["frames"]
    for site in profile["sites"]:
        value = site.get(key, 0)
        if value <= 0:
            continue
        root.value += value
        node = root
        stack = site["stack"] or []
        if not stack:
            node = node.children.setdefault(("(no stack)",), Node("(no stack)", None))
            node.value += value
            continue
        for index in reversed(stack):
            frame = frames[index]
            name = frame_name(frame)
            child_key = (name, frame_place(frame))
            child = node.children.get(child_key)
            if child is None:
                child = node.children[child_key] = Node(name, frame)
            child.value += value
            node = child
    return root


def folded_lines(profile, measure):
    """flamegraph.pl's input: outermost;...;allocating value, one line per distinct stack."""
    key = measure_key(measure)
    sums = {}
    for site in profile["sites"]:
        value = site.get(key, 0)
        if value <= 0:
            continue
        names = [frame_name(profile["frames"][i]).replace(";", ":").replace("\n", " ") for i in reversed(site["stack"])]
        line = ";".join(names) if names else "(no stack)"
        sums[line] = sums.get(line, 0) + value
    return [f"{stack} {value}" for stack, value in sorted(sums.items())]
