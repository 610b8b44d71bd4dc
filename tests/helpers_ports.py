"""Loopback ports for servers a test starts in another process (`azt3knet sandbox`, `api serve`,
dagster-webserver), or where a test needs nothing to listen.

Such a port is free when it is chosen, but the child binds it only once it is up, a second or more later. A port
from the kernel's ephemeral range (what binding to port 0 returns) could meanwhile go to any other socket on the
machine: another xdist worker's server or an outgoing connection. These ports come from below that range, which
the kernel never hands out by itself, in a block of its own for each worker, and are checked free when chosen.
"""

from __future__ import annotations

import itertools
import os
import socket
from pathlib import Path

BLOCK = 500  # ports per worker: more than a worker's tests hold at once, with room for TIME_WAIT leftovers
_turn = itertools.count()


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def _worker_index() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on, from this worker's block just below the ephemeral range."""
    top = _ephemeral_start() - _worker_index() * BLOCK
    if top - BLOCK < 1024:
        raise RuntimeError(f"no room below the ephemeral port range for worker block ending at {top}")
    for _ in range(BLOCK):
        port = top - 1 - next(_turn) % BLOCK
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue  # in use, or in TIME_WAIT after an earlier test
            return port
    raise RuntimeError(f"all {BLOCK} ports of this worker's block below {top} are in use")
