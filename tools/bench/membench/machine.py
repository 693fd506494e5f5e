"""Facts about the machine the benchmarks ran on."""

import os
import platform

from .common import sh


def first_line_value(path, prefix):
    """The text after ':' on the first line of path starting with prefix ('' if none)."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(prefix):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def read_text(path):
    """The file's contents stripped, or None if it cannot be read."""
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def memory_total():
    kib = first_line_value("/proc/meminfo", "MemTotal")
    return "%.1f GiB" % (int(kib.split()[0]) / 1024.0 / 1024.0) if kib else ""


def machine_facts():
    """(label, value) rows of the report's machine table."""
    facts = []
    facts.append(("CPUs (nproc)", sh(["nproc"]) or str(os.cpu_count())))
    facts.append(("CPU model", first_line_value("/proc/cpuinfo", "model name")))
    facts.append(("memory", memory_total()))
    facts.append(("kernel", platform.release()))
    debian = read_text("/etc/debian_version")
    if debian is not None:
        facts.append(("Debian", debian))
    facts.append(("transparent huge pages",
                  read_text("/sys/kernel/mm/transparent_hugepage/enabled") or ""))
    gcc = sh(["gcc", "--version"])
    facts.append(("compiler", gcc.splitlines()[0] if gcc else ""))
    return facts
