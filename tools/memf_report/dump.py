"""memf-report dump PID: asks a running process under memf (started with MEMF_DUMP=1 or
memf-run --dump) for a report, through the socket its service thread listens on
(lib/leaks/report_server.hpp): /tmp/memf-<uid>/<pid>.sock, reachable only by its user."""
import os
import socket

WHAT = ("profile", "leaks", "stats")


class DumpError(Exception):
    pass


def process_uid(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("Uid:"):
                    return int(line.split()[2])  # effective
    except FileNotFoundError:
        raise DumpError(f"no process {pid}")
    except PermissionError:
        raise DumpError(f"cannot read /proc/{pid}/status")
    raise DumpError(f"cannot tell the user of process {pid}")


def socket_path(pid):
    return f"/tmp/memf-{process_uid(pid)}/{pid}.sock"


def ask(pid, what, timeout=60.0):
    if what not in WHAT:
        raise DumpError(f"cannot dump '{what}' (one of: {', '.join(WHAT)})")
    path = socket_path(pid)
    if not os.path.exists(path):
        raise DumpError(f"process {pid} does not answer dumps: no {path} (start it with MEMF_DUMP=1 or memf-run --dump)")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
        s.sendall(what.encode() + b"\n")
        chunks = []
        while True:
            chunk = s.recv(1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
    except PermissionError:
        raise DumpError(f"{path}: permission denied (only the process's user can ask it)")
    except ConnectionRefusedError:
        raise DumpError(f"{path}: nobody listening (the process may have ended)")
    except socket.timeout:
        raise DumpError(f"process {pid} did not answer within {timeout:.0f} s")
    finally:
        s.close()
    data = b"".join(chunks)
    if not data:
        raise DumpError(f"process {pid} closed the connection without an answer")
    return data.decode("utf-8", "replace")
