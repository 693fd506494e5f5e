"""Paths shared by the runner's modules, and two small helpers."""

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))   # tools/bench
ROOT = os.path.dirname(os.path.dirname(HERE))
LIBDIR = "/usr/lib/x86_64-linux-gnu"
PYTHON = "/usr/bin/python3"
SQLITE = "/usr/bin/sqlite3"
VALGRIND = "/usr/bin/valgrind"
GNU_TIME = "/usr/bin/time"


def log(msg):
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def sh(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
