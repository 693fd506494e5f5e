"""The allocators measured: glibc, the Debian peers, extra peers given with --peer,
memf; the leak checkers; and the versions table of the report."""

import datetime
import hashlib
import os
import re
import shutil

from .common import LIBDIR, PYTHON, ROOT, SQLITE, VALGRIND, sh

# name -> preloaded library (None: nothing preloaded, glibc's malloc).
PEERS = [
    ("glibc", None),
    ("mimalloc", LIBDIR + "/libmimalloc.so.2"),
    ("jemalloc", LIBDIR + "/libjemalloc.so.2"),
    ("tcmalloc", LIBDIR + "/libtcmalloc_minimal.so.4"),
]
PEER_NAMES = [p[0] for p in PEERS]
LSAN = LIBDIR + "/liblsan.so.0"
HEAPTRACK = "/usr/bin/heaptrack"

MEMF_LEAK_ENV = {"MEMF_LEAK_CHECK": "1", "MEMF_STACKS": "all", "MEMF_LEAK_EXITCODE": "0"}
LSAN_ENV = {"LSAN_OPTIONS": "exitcode=0"}

# Names an extra peer may not take: the allocators and checkers above, and the other rows
# of the versions table (compared without regard to case).
RESERVED_NAMES = PEER_NAMES + ["memf", "memf-leak", "lsan", "heaptrack", "LeakSanitizer",
                               "valgrind", "python3", "sqlite3"]
PEER_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")


# --------------------------------------------------------------------------
# Facts about a library file

def package_of(path):
    """(package, version) of the Debian package that ships path."""
    if not path or not os.path.exists(path):
        return None, None
    for candidate in (path, os.path.realpath(path)):
        out = sh(["dpkg-query", "-S", candidate])
        if out:
            pkg = out.splitlines()[0].split(": ")[0].split(",")[0].strip()
            return pkg, sh(["dpkg-query", "-W", "-f", "${Version}", pkg])
    return None, None


def file_digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def file_info(path):
    """'<sha256 prefix>, <size> bytes, modified <time> UTC', as the report gives memf."""
    st = os.stat(path)
    return "%s, %d bytes, modified %s UTC" % (
        file_digest(path)[:12], st.st_size,
        datetime.datetime.fromtimestamp(st.st_mtime, datetime.timezone.utc)
        .strftime("%Y-%m-%d %H:%M"))


def private_copy(path, directory, name=None):
    """A copy of the library in directory (named name, or as the original), so that
    rebuilding the original during a long run does not mix versions; the original itself
    when the library finds its neighbours through $ORIGIN (a copy elsewhere would not)."""
    with open(path, "rb") as f:
        uses_origin = b"$ORIGIN" in f.read()
    if uses_origin:
        return path
    os.makedirs(directory, exist_ok=True)
    copy = os.path.join(directory, name or os.path.basename(path))
    shutil.copy2(path, copy)
    return copy


def symlink_chain(path):
    """path and every file name its symbolic links lead to, the last one the real file."""
    names = [path]
    seen = set()
    while os.path.islink(names[-1]) and names[-1] not in seen and len(names) < 40:
        seen.add(names[-1])
        names.append(os.path.join(os.path.dirname(names[-1]), os.readlink(names[-1])))
    real = os.path.realpath(path)
    if real not in names:
        names.append(real)
    return names


VERSION = r"\d+(?:\.\d+)+"
NAME_VERSIONS = (re.compile(r"\.so\.(%s|\d+)\Z" % VERSION),                  # libfoo.so.1.2.3
                 re.compile(r"[-_]v?(%s)(?:\.so)?(?:\.\d+)*\Z" % VERSION))   # libfoo-1.2.so
STRING = re.compile(rb"[\x20-\x7e]{4,}")   # what strings(1) prints
# A string that is a version and nothing else (jemalloc's "5.3.0-0-g54eaed1d..."), or one
# that names the library before a version ("mimalloc 2.1.2", "tcmalloc version 2.10").
BARE_VERSION = re.compile(r"v?(\d+\.\d+\.\d+(?:[-+~][0-9A-Za-z.+~-]*)?)\Z")


def version_from_name(path):
    """The longest version number in the names of path and its symbolic links."""
    found = []
    for name in symlink_chain(path):
        base = os.path.basename(name)
        for pattern in NAME_VERSIONS:
            m = pattern.search(base)
            if m:
                found.append(m.group(1))
    return max(found, key=lambda v: (v.count("."), len(v)), default=None)


def version_from_build(path):
    """What tools/bench/build_peers.sh recorded beside the build: the git description of the ref
    it built, in NAME/VERSION, one level above the library's build directory."""
    build_dir = os.path.dirname(os.path.realpath(path))
    version_file = os.path.join(os.path.dirname(build_dir), "VERSION")
    try:
        with open(version_file) as f:
            text = f.read().strip()
    except OSError:
        return None
    return text if text and len(text) < 80 and "\n" not in text else None


def version_from_strings(path, stems):
    """A version found among the printable strings of the file (as strings(1) shows them)."""
    with open(path, "rb") as f:
        data = f.read()
    named = re.compile(r"(?i)\b(?:%s)\b[^0-9\n]{0,20}?\bv?(%s)\b"
                       % ("|".join(re.escape(s) for s in stems), VERSION))
    for m in STRING.finditer(data):
        s = m.group().decode("ascii").strip()
        bare = BARE_VERSION.match(s)
        if bare:
            return bare.group(1)
        hit = named.search(s)
        if hit:
            return hit.group(1)
    return None


def library_stems(name, path):
    """Words a library's own version string might start with: the peer's name, and the
    library's file name without 'lib' and '.so...' (libtcmalloc_minimal -> tcmalloc)."""
    stems = {name}
    for n in symlink_chain(path):
        base = os.path.basename(n).split(".so")[0]
        if base.startswith("lib"):
            base = base[3:]
        if len(base) >= 3:
            stems.add(base)
            stems.add(re.split(r"[-_]", base)[0])
    return sorted(s for s in stems if len(s) >= 3)


# --------------------------------------------------------------------------
# Extra peers (--peer NAME=PATH)

class ExtraPeer:
    """A library given with --peer, preloaded and measured like the Debian peers."""

    def __init__(self, name, path):
        self.name = name
        self.path = path        # as given, made absolute
        self.preload = path     # what is preloaded: a private copy once prepare() ran
        self.sha256 = None
        self.size = None
        self.version = None
        self.version_from = None
        self.package = None
        self.package_version = None

    def prepare(self, tmpdir):
        """Records what the file is, then copies it (see private_copy)."""
        self.sha256 = file_digest(self.path)
        self.size = os.path.getsize(self.path)
        self.package, self.package_version = package_of(self.path)
        self.version, self.version_from = self.find_version()
        self.preload = private_copy(self.path, os.path.join(tmpdir, "peers", self.name))

    def find_version(self):
        """(version, where it came from), most trusted source first; (None, None) if none."""
        from_build = version_from_build(self.path)
        if from_build:
            return from_build, "recorded by build_peers.sh"
        from_name = version_from_name(self.path)
        if not from_name or "." not in from_name:   # none, or only a major number
            from_strings = version_from_strings(os.path.realpath(self.path),
                                                library_stems(self.name, self.path))
            if from_strings:
                return from_strings, "found by `strings`"
        if from_name:
            return from_name, "from the file name"
        return None, None

    def version_text(self):
        parts = []
        if self.package_version:
            parts.append("package %s" % self.package_version)
        if self.version:
            parts.append("%s (%s)" % (self.version, self.version_from))
        if not parts:
            parts.append("version not found")
        return "%s; sha256 %s, %d bytes" % (", ".join(parts), self.sha256, self.size)

    def versions_row(self):
        return (self.name, self.path, self.package or "extra peer (`--peer`)",
                self.version_text())


def parse_peer(spec, taken):
    """ExtraPeer from 'NAME=PATH'; raises ValueError with the message to show."""
    name, sep, path = spec.partition("=")
    name = name.strip()
    if not sep or not name or not path:
        raise ValueError("--peer %r: expected NAME=/path/to/library.so" % spec)
    if not PEER_NAME.match(name):
        raise ValueError("--peer %r: the name must be a simple identifier (a letter, then "
                         "letters, digits or _)" % spec)
    clash = [t for t in taken if t.lower() == name.lower()]
    if clash and clash[0] in RESERVED_NAMES:
        raise ValueError("--peer %r: the name %s %s (the runner's own names: %s)"
                         % (spec, name, "is reserved" if clash[0] == name else
                            "differs only in case from " + clash[0], ", ".join(RESERVED_NAMES)))
    if clash:
        raise ValueError("--peer %r: a peer named %s is already given" % (spec, clash[0]))
    path = os.path.abspath(os.path.expanduser(path))
    if not os.path.exists(path):
        raise ValueError("--peer %r: %s does not exist" % (spec, path))
    if not os.path.isfile(path):
        raise ValueError("--peer %r: %s is not a file" % (spec, path))
    return ExtraPeer(name, path)


def parse_peers(specs):
    """The ExtraPeers of every --peer option; ValueError on a bad one."""
    peers = []
    for spec in specs or []:
        taken = RESERVED_NAMES + [p.name for p in peers]
        peers.append(parse_peer(spec, taken))
    return peers


# --------------------------------------------------------------------------
# The versions table

def memf_row(args):
    if getattr(args, "memf_source", None):
        rev = sh(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"]) or "?"
        dirty = sh(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"])
        return ("memf", args.memf_source,
                "this repository (git %s%s)" % (rev, ", uncommitted changes in the tree"
                                                 if dirty else ""),
                "sha256 " + args.memf_info)
    return ("memf", args.memf or "-", "-", "not measured")


def versions(args):
    """(component, path, package, version) rows."""
    rows = []
    items = [("glibc", "/lib/x86_64-linux-gnu/libc.so.6")]
    items += [(n, p) for n, p in PEERS if p]
    items += [("LeakSanitizer", LSAN), ("heaptrack", HEAPTRACK), ("valgrind", VALGRIND),
              ("python3", PYTHON), ("sqlite3", SQLITE)]
    for name, path in items:
        pkg, ver = package_of(path)
        rows.append((name, path, pkg or "?", ver or ("missing" if not os.path.exists(path) else "?")))
    rows.append(memf_row(args))
    rows += [p.versions_row() for p in getattr(args, "extra_peers", [])]
    return rows
