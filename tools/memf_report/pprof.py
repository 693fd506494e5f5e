"""A heap profile as pprof's profile.proto, gzipped: sample types alloc_objects, alloc_space,
inuse_objects, inuse_space (the order of Go's heap profiles, so `pprof -sample_index=...` reads
it the same way). Written with a small protobuf encoder of its own (field numbers from
profile.proto)."""
import gzip
import os

NO_STACK = "(no allocation stack recorded)"
SAMPLE_TYPES = [("alloc_objects", "count", "allocations"), ("alloc_space", "bytes", "allocated_bytes"),
                ("inuse_objects", "count", "live"), ("inuse_space", "bytes", "live_bytes")]


def varint(n):
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field_varint(number, value):
    return varint(number << 3) + varint(value) if value else b""


def field_bytes(number, data):
    return varint(number << 3 | 2) + varint(len(data)) + data


def field_packed(number, values):
    return field_bytes(number, b"".join(varint(v) for v in values)) if values else b""


class Strings:
    def __init__(self):
        self.table = [""]
        self.index = {"": 0}

    def __call__(self, s):
        if s not in self.index:
            self.index[s] = len(self.table)
            self.table.append(s)
        return self.index[s]


def encode(profile, start_ns=0):
    """profile.proto's bytes; start_ns is time_nanos, when the process started (0: unknown)."""
    strings = Strings()
    frames = profile["frames"]
    out = bytearray()
    for name, unit, _ in SAMPLE_TYPES:
        out += field_bytes(1, field_varint(1, strings(name)) + field_varint(2, strings(unit)))

    mappings = {}  # module -> [id, lowest start, highest limit]; the program's first (pprof's main binary)
    program = profile.get("program")
    ordered = sorted(frames, key=lambda f: (f.get("module") != program))
    for f in ordered:
        module = f.get("module") or "?"
        start = max(f.get("pc", 0) - f.get("offset", 0), 0)
        m = mappings.setdefault(module, [len(mappings) + 1, start, f.get("pc", 0) + 1])
        m[1] = min(m[1], start)
        m[2] = max(m[2], f.get("pc", 0) + 1)

    functions = {}  # (name, file) -> id
    locations = {}  # tuple of frame indices (one address: its inlined calls, then the function) -> id
    location_records = []

    def function_id(f):
        name = f.get("function") or "?"
        if name == "?":
            name = f"{os.path.basename(f.get('module') or '?')}+{f.get('offset', 0):#x}"
        key = (name, f.get("file") or "")
        if key not in functions:
            functions[key] = len(functions) + 1
        return functions[key]

    def location_id(group):
        if group not in locations:
            locations[group] = len(location_records) + 1
            outer = frames[group[-1]]  # the function the calls are inlined into: its address
            lines = b"".join(field_bytes(4, field_varint(1, function_id(frames[i])) + field_varint(2, frames[i].get("line") or 0))
                             for i in group)
            record = (field_varint(1, locations[group]) +
                      field_varint(2, mappings[outer.get("module") or "?"][0]) +
                      field_varint(3, outer.get("pc", 0)) + lines)
            location_records.append(record)
        return locations[group]

    no_stack = []  # the location of allocations without a stack, made when one is met

    for site in profile["sites"]:
        values = [site.get(key, 0) for _, _, key in SAMPLE_TYPES]
        if not any(values):
            continue
        # One location per address: a frame marked inlined is a call inlined into the frame
        # that follows it, and becomes one more line of that frame's location (innermost line
        # first, as pprof wants). Frames of a recursion keep their own locations.
        ids, group = [], []
        for i in site["stack"]:
            group.append(i)
            if not frames[i].get("inlined"):
                ids.append(location_id(tuple(group)))
                group = []
        if group:  # a stack that ends in an inlined frame (cut short): its own location
            ids.append(location_id(tuple(group)))
        if not ids:
            if not no_stack:
                functions[(NO_STACK, "")] = len(functions) + 1
                no_stack.append(len(location_records) + 1)
                locations[()] = no_stack[0]
                location_records.append(field_varint(1, no_stack[0]) +
                                        field_bytes(4, field_varint(1, functions[(NO_STACK, "")])))
            ids = no_stack
        out += field_bytes(2, field_packed(1, ids) + field_packed(2, values))

    for module, (mid, start, limit) in mappings.items():
        out += field_bytes(3, field_varint(1, mid) + field_varint(2, start) + field_varint(3, limit) +
                           field_varint(5, strings(module)) + field_varint(7, 1) + field_varint(8, 1) +
                           field_varint(9, 1) + field_varint(10, 1))
    for record in location_records:
        out += field_bytes(4, record)
    for (name, filename), fid in functions.items():
        out += field_bytes(5, field_varint(1, fid) + field_varint(2, strings(name)) + field_varint(3, strings(name)) +
                           field_varint(4, strings(filename)))
    # Sampled mode weighs each sample by its chance, so the values are estimates of all
    # allocations; the period says how far apart samples were drawn (0: every allocation).
    period = profile.get("sample_bytes", 0) if profile.get("mode") == "sampled" else 0
    comment = strings(f"memf heap profile of {profile.get('program', '?')} (pid {profile.get('pid', '?')}), "
                      f"{profile.get('mode', '?')} mode")
    duration = int(round(profile.get("duration", 0) * 1e9))
    tail = (field_varint(9, start_ns) + field_varint(10, duration) +
            field_bytes(11, field_varint(1, strings("space")) + field_varint(2, strings("bytes"))) +
            field_varint(12, period) + field_packed(13, [comment]) + field_varint(14, strings("alloc_space")))
    for s in strings.table:
        out += field_bytes(6, s.encode("utf-8", "replace"))
    out += tail
    return bytes(out)


def start_time_ns(profile, path):
    """The profile holds no wall-clock time: its file was written `duration` seconds after the
    process started (at exit or when dumped), so its modification time less the duration dates
    the start, as long as the file was not copied since."""
    try:
        written = os.stat(path).st_mtime_ns
    except OSError:
        return 0
    return max(written - int(round(profile.get("duration", 0) * 1e9)), 0)


def write(profile, path, profile_path=None):
    data = encode(profile, start_time_ns(profile, profile_path) if profile_path else 0)
    with gzip.open(path, "wb") as f:
        f.write(data)
